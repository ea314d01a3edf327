"""A Python client generated from the OpenAPI document (openapi-python-client, as a user would) walks the main flows
against a live govern over HTTP: create a subject, read it for a purpose (and again with its ETag: 304), grant a
consent, file a request, list requests a page at a time. The client is generated into a temporary folder on every
run, never committed: the document is the contract, not a copy of it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture(scope="module")
def generated_client(app, tmp_path_factory):
    """The package `govern_client`, generated from this app's own document."""
    if not GENERATOR.exists():
        pytest.fail("openapi-python-client is not installed: pip install -e '.[test]'")
    where = tmp_path_factory.mktemp("client")
    document = where / "openapi.json"
    document.write_text(json.dumps(app.test_client().get("/api/v1/openapi.json").json, ensure_ascii=False))
    config = where / "config.json"
    config.write_text(json.dumps({"post_hooks": [], "project_name_override": "govern_client", "package_name_override": "govern_client"}))
    done = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--meta", "none", "--output-path", str(where / "govern_client"), "--config", str(config)],
        cwd=where, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Unable to" not in done.stdout + done.stderr, done.stdout + done.stderr  # an operation the generator skipped
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("govern_client")
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n == "govern_client" or n.startswith("govern_client.")]:
            del sys.modules[name]


@pytest.fixture
def live_url(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_a_generated_client_creates_reads_grants_and_files_against_a_live_server(generated_client, live_url, make_principal):
    from govern_client import AuthenticatedClient
    from govern_client.api.consent import consent_record_consent
    from govern_client.api.requests import requests_file_request, requests_get_request
    from govern_client.api.subjects import subjects_create_subject, subjects_read_subject
    from govern_client.models import ConsentCreate, RequestCreate, SubjectCreate

    _, key = make_principal("sales_service")
    client = AuthenticatedClient(base_url=live_url, token=key, raise_on_unexpected_status=True)

    body = SubjectCreate.from_dict({"jurisdiction": "CN", "external_ref": "crm-client-1", "fields": {"name": "张三", "mobile": "13812345678"}})
    created = subjects_create_subject.sync_detailed(client=client, body=body, idempotency_key=f"client-{uuid.uuid4()}")
    assert created.status_code == 201, created.content
    subject_id = created.parsed.id

    read = subjects_read_subject.sync_detailed(subject_id, client=client, x_purpose="order_fulfilment")
    assert read.status_code == 200 and read.parsed.fields["name"] == "张三"
    again = subjects_read_subject.sync_detailed(subject_id, client=client, x_purpose="order_fulfilment", if_none_match=read.headers["etag"])
    assert again.status_code == 304 and again.content == b""

    refused = subjects_read_subject.sync_detailed(subject_id, client=client, x_purpose="no_such_purpose")
    assert refused.status_code == 403 and refused.parsed.code  # a typed Problem, from the document's problem+json

    grant = ConsentCreate.from_dict({"action": "grant", "purpose": "marketing", "notice_version": "2026-01", "channel": "web", "evidence": "form-10"})
    granted = consent_record_consent.sync_detailed(subject_id, client=client, body=grant)
    assert granted.status_code == 201, granted.content

    filed = requests_file_request.sync_detailed(client=client, body=RequestCreate.from_dict({"subject_id": str(subject_id), "type": "access", "channel": "app"}))
    assert filed.status_code == 201, filed.content
    shown = requests_get_request.sync_detailed(filed.parsed.id, client=client)
    assert shown.status_code == 200 and str(shown.parsed.state) in ("received", "identity_pending", "in_progress")
