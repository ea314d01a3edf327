"""Operators' endpoints: liveness, readiness with named checks, metrics, and the OpenAPI document with its docs."""


def test_healthz_answers_without_credentials(app):
    assert app.test_client().get("/healthz").json == {"status": "ok"}


def test_readyz_reports_each_check(app):
    r = app.test_client().get("/readyz")
    assert r.status_code == 200, r.json
    checks = r.json["checks"]
    assert {"database", "migrations", "keyring", "policies", "audit_chain"} <= set(checks)
    # the chain is reported, not gating (tests empty the tables behind the checkpoints, so it may not verify here)
    assert all(c["ok"] for name, c in checks.items() if name != "audit_chain" and c.get("gating", True))
    assert checks["audit_chain"]["gating"] is False
    assert checks["migrations"]["current"] == checks["migrations"]["head"]


def test_readyz_fails_when_migrations_are_behind(app, runtime):
    from sqlalchemy import text

    with runtime.database.engine.begin() as conn:
        heads = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
        conn.execute(text("DELETE FROM alembic_version"))
    try:
        r = app.test_client().get("/readyz")
        assert r.status_code == 503 and r.json["checks"]["migrations"]["ok"] is False
    finally:
        with runtime.database.engine.begin() as conn:
            for head in heads:
                conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})


def test_the_openapi_document_describes_the_api(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/subjects" in spec["paths"] and "/api/v1/subjects/lookup" in spec["paths"]
    assert "SubjectCreate" in spec["components"]["schemas"]


def test_the_interactive_docs_load_their_assets_locally(app):
    client = app.test_client()
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in page
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()


def test_metrics_count_requests_by_endpoint_without_ids(app, client_as, make_subject):
    sid = make_subject()
    client_as("sales_service").get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'govern_http_requests_total{endpoint="subjects.read_subject",method="GET",status="200"}' in text
    assert str(sid) not in text


def test_every_response_carries_a_request_id(app):
    r = app.test_client().get("/healthz", headers={"X-Request-Id": "abc-12345678"})
    assert r.headers["X-Request-Id"] == "abc-12345678"
    assert len(app.test_client().get("/healthz").headers["X-Request-Id"]) == 32
