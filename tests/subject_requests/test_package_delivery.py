"""No role gets through a request what it cannot read directly. A package is for the data subject: the service that
filed the request gets a one-time, short-lived token to hand over (kept only as a keyed hash, spent atomically,
redeemed without an API key, audited, one answer for unknown, used and expired tokens), never the package on its own
key; unless a method that does not pass through the service verified the requester, the token's package holds no
more than the service reads itself. Privacy staff download with their own credential, audited."""

import hashlib
import io
import json
import shutil
import threading
import time
import uuid
import zipfile
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from govern.config import PROJECT_ROOT
from govern.identity.actor import Actor
from govern.policies import load_policy
from govern.policy import PolicyError
from govern.subject_requests import flows, service
from govern.subject_requests.models import DownloadToken
from govern.timeutil import utcnow

DOWNLOAD = "/api/v1/requests/download"


def _unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _filed_and_verified(client, sid, type_="access"):
    rid = client.post("/api/v1/requests", json={"subject_id": str(sid), "type": type_, "channel": "app"}).json["id"]
    r = client.post(f"/api/v1/requests/{rid}/verify", json={"method": "crm_session", "reference": "sess-77"})
    assert r.status_code == 200 and r.json["verified"], r.json
    return rid, r.json["package_token"]


def _fields(content: bytes) -> dict[str, str]:
    return {f["name"]: f["value"] for f in json.loads(_unzip(content)["data.json"])["fields"]}


def test_a_service_gets_a_token_for_the_subject_and_cannot_download_the_package_with_its_own_key(client_as, app, make_subject, valid_fields):
    support = client_as("support_service")
    sid = make_subject()
    rid, token = _filed_and_verified(support, sid)
    assert token["token"] and token["download"] == DOWNLOAD and token["expires_at"]
    own = support.get(f"/api/v1/requests/{rid}/package")
    assert own.status_code == 403 and own.json["code"] == "permission_denied"
    assert own.content_type == "application/problem+json" and valid_fields["id_card_number"] not in own.get_data(as_text=True)
    # The subject redeems it without any API key.
    got = app.test_client().post(DOWNLOAD, json={"token": token["token"]})
    assert got.status_code == 200 and got.mimetype == "application/zip" and got.headers["Cache-Control"] == "no-store"
    assert got.headers["X-Content-SHA256"] == hashlib.sha256(got.data).hexdigest()


def test_after_a_crm_session_the_package_holds_no_more_than_the_filing_service_reads(client_as, app, make_subject, valid_fields):
    support = client_as("support_service")  # sees names in full, everything else masked
    sid = make_subject(fields={**valid_fields, "health": "哮喘-secret"})
    _, token = _filed_and_verified(support, sid)
    got = app.test_client().post(DOWNLOAD, json={"token": token["token"]})
    files = _unzip(got.data)
    blob = b"".join(files.values()).decode("utf-8")
    for name in ("id_card_number", "bank_card_number", "mobile", "email", "address"):
        assert valid_fields[name] not in blob, name
    assert "哮喘-secret" not in blob
    fields = _fields(got.data)
    assert fields["name"] == valid_fields["name"] and fields["mobile"] != valid_fields["mobile"] and "*" in fields["mobile"]
    limited = json.loads(files["data.json"])["limited"]
    assert limited["complete"] is False and {"mobile", "health"} <= set(limited["masked_fields"])
    # What no purpose of the service uses is withheld, by name only.
    assert {"id_card_number", "bank_card_number"} <= set(limited["withheld_fields"]) and "id_card_number" not in fields


def test_a_one_time_code_the_crm_relays_unlocks_no_more_than_a_session_does(client_as, app, make_subject, valid_fields):
    sales = client_as("sales_service")  # government id and financial masked
    sid = make_subject()
    rid = sales.post("/api/v1/requests", json={"subject_id": str(sid), "type": "portability", "channel": "app"}).json["id"]
    code = sales.post(f"/api/v1/requests/{rid}/otp").json["code"]
    verified = sales.post(f"/api/v1/requests/{rid}/verify", json={"method": "otp", "code": code})
    assert verified.json["verified"] and verified.json["state"] == "in_progress"
    got = app.test_client().post(DOWNLOAD, json={"token": verified.json["package_token"]["token"]})
    data = json.loads(_unzip(got.data)["data.json"])
    assert data["format"] == "govern-portability/1" and data["fields"]["email"] == valid_fields["email"]
    assert "id_card_number" not in data["fields"] and "bank_card_number" not in data["fields"]
    assert data["limited"]["withheld_fields"] == ["bank_card_number", "id_card_number"]


def test_after_a_document_check_the_full_copy_goes_only_through_staff(client_as, app, make_subject, valid_fields):
    support, staff = client_as("support_service"), client_as("privacy_staff")
    sid = make_subject()
    rid = support.post("/api/v1/requests", json={"subject_id": str(sid), "type": "access", "channel": "in_store"}).json["id"]
    checked = staff.post(f"/api/v1/requests/{rid}/verify", json={"method": "document", "reference": "doc-check-9", "passed": True})
    assert checked.json["verified"]
    # A token the service collects still holds no more than the service reads: it could redeem the token itself.
    theirs = support.post(f"/api/v1/requests/{rid}/download-token")
    assert theirs.status_code == 201
    limited = app.test_client().post(DOWNLOAD, json={"token": theirs.json["token"]})
    assert valid_fields["id_card_number"] not in limited.get_data(as_text=False).decode("latin-1")
    assert json.loads(_unzip(limited.data)["data.json"])["limited"]["complete"] is False
    # Staff who checked the document hand the subject a token for the full copy.
    ours = staff.post(f"/api/v1/requests/{rid}/download-token")
    got = app.test_client().post(DOWNLOAD, json={"token": ours.json["token"]})
    assert _fields(got.data) == valid_fields and "limited" not in json.loads(_unzip(got.data)["data.json"])


def test_a_staff_token_after_a_session_the_service_asserted_is_still_limited(client_as, app, make_subject, valid_fields):
    support, staff = client_as("support_service"), client_as("privacy_staff")
    rid, _ = _filed_and_verified(support, make_subject())
    ours = staff.post(f"/api/v1/requests/{rid}/download-token")
    got = app.test_client().post(DOWNLOAD, json={"token": ours.json["token"]})
    assert json.loads(_unzip(got.data)["data.json"])["limited"]["complete"] is False


def test_a_token_is_good_for_one_download_and_every_bad_token_gets_the_same_answer(client_as, app, make_subject, runtime, audit_events):
    support = client_as("support_service")
    rid, token = _filed_and_verified(support, make_subject())
    anonymous = app.test_client()
    assert anonymous.post(DOWNLOAD, json={"token": token["token"]}).status_code == 200
    used = anonymous.post(DOWNLOAD, json={"token": token["token"]})
    unknown = anonymous.post(DOWNLOAD, json={"token": "x" * 43})
    malformed = anonymous.post(DOWNLOAD, json={"token": "../../etc"})
    # Expired: issued long enough ago that its period has run out.
    with runtime.database.unit_of_work() as session:
        old = service.issue_download_token(
            session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor.operator(), request_id=uuid.UUID(rid),
            now=utcnow() - timedelta(minutes=runtime.policy.requests.package_token_valid_minutes + 1),
        )
    expired = anonymous.post(DOWNLOAD, json={"token": old.token})
    answers = [used, unknown, malformed, expired]
    assert {r.status_code for r in answers} == {404} and {r.content_type for r in answers} == {"application/problem+json"}
    bodies = [{k: v for k, v in r.json.items() if k != "instance"} for r in answers]
    assert all(b == bodies[0] for b in bodies) and bodies[0]["code"] == "download_not_found"
    # Audited: who (anonymous, with the address), which request, which token id; the token itself nowhere.
    [redeemed] = audit_events(action="requests:download-token:redeem", outcome="allowed")
    assert redeemed.actor_name == "anonymous" and f"request:{rid}" in redeemed.resource
    refused = sorted(e.reason for e in audit_events(action="requests:download-token:redeem") if e.outcome != "allowed")
    assert refused == ["expired", "malformed", "unknown", "used"]
    with runtime.database.engine.connect() as conn:
        audit_text = " ".join(str(row) for row in conn.execute(text("SELECT * FROM audit_events")))
        tokens_text = " ".join(str(row) for row in conn.execute(text("SELECT * FROM dsr_download_tokens")))
    for secret in (token["token"], old.token):
        assert secret not in audit_text and secret not in tokens_text
        assert hashlib.sha256(secret.encode()).hexdigest() not in tokens_text  # keyed, not a bare hash


def test_a_new_token_revokes_the_unused_one_before_it(client_as, app, make_subject):
    support = client_as("support_service")
    rid, first = _filed_and_verified(support, make_subject())
    second = support.post(f"/api/v1/requests/{rid}/download-token").json
    anonymous = app.test_client()
    assert anonymous.post(DOWNLOAD, json={"token": first["token"]}).status_code == 404
    assert anonymous.post(DOWNLOAD, json={"token": second["token"]}).status_code == 200


def test_two_concurrent_redemptions_of_one_token_have_one_winner(client_as, make_subject, runtime):
    support = client_as("support_service")
    _, token = _filed_and_verified(support, make_subject())
    anonymous = Actor(name="anonymous", kind="anonymous")
    outcome: dict[str, str] = {}
    # The first redemption holds its transaction open while the second tries: a check-then-set would let both win.
    with runtime.database.unit_of_work() as session:
        flows.redeem(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=anonymous, token=token["token"])

        def second():
            try:
                with runtime.database.unit_of_work() as other:
                    flows.redeem(session=other, policy=runtime.policy, envelope=runtime.envelope, actor=anonymous, token=token["token"])
                outcome["second"] = "won"
            except Exception as exc:  # noqa: BLE001 - the answer is what is checked
                outcome["second"] = getattr(exc, "code", type(exc).__name__)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)  # let it reach the row (ordering only: the outcome is the same whatever the timing)
    thread.join(timeout=60)
    assert outcome == {"second": "download_not_found"}
    with runtime.database.unit_of_work() as session:
        [row] = session.scalars(select(DownloadToken)).all()
        assert row.used_at is not None


def test_privacy_staff_download_with_their_own_credential_and_it_is_audited(client_as, make_subject, file_request, verify_by_session, audit_events, valid_fields, runtime):
    sid = make_subject()
    rid = file_request(sid, "access")
    verify_by_session(rid)
    dpo = client_as("dpo")
    r = dpo.get(f"/api/v1/requests/{rid}/package")
    assert r.status_code == 200 and _fields(r.data) == valid_fields
    [event] = audit_events(action="requests:package:create")
    # The log keeps a keyed digest of the package (no guess of its content can be tried on it); the download's own
    # header is the SHA-256 of the bytes the reader holds.
    assert event.actor_name == dpo.name and event.resource.endswith(runtime.envelope.keyed_digest("request-package", str(rid), r.data))
    assert r.headers["X-Content-SHA256"] not in event.resource


def test_no_service_role_may_be_given_the_package_or_the_whole_queue(tmp_path):
    for permission in ("requests:package:download", "requests:request:manage"):
        target = tmp_path / permission.replace(":", "-")
        shutil.copytree(PROJECT_ROOT / "policies", target)
        roles = target / "roles.yaml"
        text_ = roles.read_text()
        roles.write_text(text_.replace("      - requests:request:withdraw\n", f"      - requests:request:withdraw\n      - {permission}\n", 1))
        with pytest.raises(PolicyError, match=f"roles.sales_service.permissions: {permission} may be held by staff roles only"):
            load_policy(target)


def test_disabling_the_key_a_token_was_handed_to_voids_the_token(client_as, app, make_subject, runtime, audit_events):
    from govern.identity import service as identity

    support = client_as("support_service")
    _, token = _filed_and_verified(support, make_subject())
    with runtime.database.unit_of_work() as session:
        identity.disable(session=session, actor=Actor.operator(), ref=str(support.principal_id))
    r = app.test_client().post(DOWNLOAD, json={"token": token["token"]})
    assert r.status_code == 404 and r.json["code"] == "download_not_found"
    assert [e.reason for e in audit_events(action="requests:download-token:redeem")] == ["issuer_disabled"]


def test_after_a_crm_session_the_package_leaves_out_what_the_service_may_not_list_itself(client_as, app, make_subject, runtime):
    from govern.sharing import service as sharing
    from govern.timeutil import utcnow as now_

    sales = client_as("sales_service")  # records consent and discloses, but may not list disclosures or principals
    sid = make_subject()
    with runtime.database.unit_of_work() as session:
        recipient = sharing.create_recipient(session=session, policy=runtime.policy, actor=Actor.operator(), data={
            "name": "顺丰速运", "contact": "dpo@sf.example", "purpose": "order_fulfilment", "categories": ["basic_identity", "contact"], "country": "CN",
            "agreement_ref": "DSA-2026-01", "agreement_expires_on": (now_() + timedelta(days=365)).date()})
        sharing.disclose(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=Actor(name="crm", kind="service", roles=("sales_service",)), subject_id=sid,
                         recipient_id=recipient.id, fields=["name"], purpose="order_fulfilment")
    _, token = _filed_and_verified(sales, sid)
    files = _unzip(app.test_client().post(DOWNLOAD, json={"token": token["token"]}).data)
    data = json.loads(files["data.json"])
    assert data["limited"]["withheld_sections"] == ["disclosures", "sources"]
    assert data["disclosures"] == [] and all(p["recipients"] == [] for p in data["processing"])
    assert all("collected_by" not in s for s in data["sources"]) and "顺丰速运" not in b"".join(files.values()).decode("utf-8")
    # Privacy staff's copy has them.
    staff = client_as("privacy_staff").get(f"/api/v1/requests/{data['request_id']}/package")
    assert [d["recipient"]["name"] for d in json.loads(_unzip(staff.data)["data.json"])["disclosures"]] == ["顺丰速运"]
