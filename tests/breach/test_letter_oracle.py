"""A letter is no offline oracle for the name in it. A role that sees names masked (security: it manages notifications)
reads a subject's letter with the name masked, and nothing it is shown — the listing's digest, the read's ETag, the
console's pages — is a bare SHA-256 of the letter: trying candidate names against them confirms none. Digests are an
HMAC under govern's key, bound to the letter; a letter made before they were keyed is shown only to who sees names
in full, and gets its keyed digest when it is next opened."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from govern.breach.models import Letter
from govern.identity.actor import Actor
from tests.breach.conftest import TEXTS, iso

NAME = "张三丰"
MASKED = "张**"  # as policies/catalog.yaml masks a name
CANDIDATES = ["张三", "张三丰", "张三峰", "张山丰", "章三丰", "张三风"]


def _letters(client_as, dpo, make_subject):
    """One CN subject named NAME, read by a leaked key, scoped, assessed, its PIPL letter generated -> (incident, notification, letter id)."""
    crm = client_as("sales_service")
    sid = make_subject(fields={"name": NAME, "mobile": "13812345678"})
    start = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    iid = dpo.post("/api/v1/incidents", json={"title": "Leaked key", "detected_at": iso(datetime.now(timezone.utc)), "source": {"principals": [crm.name], "from": iso(start)}}).json["id"]
    assert dpo.post(f"/api/v1/incidents/{iid}/scope", json={}).status_code == 201
    assert dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "contact data read", "texts": TEXTS}).status_code == 201
    n = next(x for x in dpo.get(f"/api/v1/incidents/{iid}").json["notifications"] if x["key"] == "pipl_subjects")
    assert dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={}).status_code == 201
    letter = dpo.get(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters").json["letters"][0]
    return iid, n["id"], letter["id"], sid


def test_a_masked_name_reader_gets_the_letter_masked_and_no_digest_confirms_a_candidate_name(client_as, dpo, make_subject, audit_events):
    iid, nid, lid, sid = _letters(client_as, dpo, make_subject)
    security = client_as("security")
    full = dpo.get(f"/api/v1/incidents/{iid}/letters/{lid}")
    assert f"尊敬的{NAME}" in full.text
    seen = security.get(f"/api/v1/incidents/{iid}/letters/{lid}")
    assert seen.status_code == 200 and NAME not in seen.text and f"尊敬的{MASKED}" in seen.text
    # Apart from where the name stood, the masked reader gets the same letter.
    assert seen.text.replace(MASKED, NAME) == full.text
    listing = security.get(f"/api/v1/incidents/{iid}/notifications/{nid}/letters")
    exposed = listing.get_data(as_text=True) + seen.headers["ETag"] + seen.text
    # The attacker knows the template and now the rest of the letter: every candidate gives a full text to hash.
    for candidate in CANDIDATES:
        guess = seen.text.replace(MASKED, candidate)
        for digest in (hashlib.sha256(guess.encode()).hexdigest(), hashlib.sha256(guess.encode()).hexdigest()[:16]):
            assert digest not in exposed, candidate
    # Digests are keyed and bound to the letter: 64 hex characters that are none of the above, and the ETag a reader
    # gets is of the text it got (the masked reader's differs from the one who sees the name in full).
    digest = listing.json["letters"][0]["digest"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and full.headers["ETag"] == f'"{digest}"' and seen.headers["ETag"] != full.headers["ETag"]
    reads = {e.actor_name: e for e in audit_events(action="breach:letter:read")}
    assert reads[security.name].field_names == "name" and reads[security.name].subject_id == sid


def test_a_reader_whose_roles_hide_names_reads_the_letter_with_the_name_withheld(runtime, client_as, dpo, make_subject):
    from govern.breach import letters

    iid, _, lid, _ = _letters(client_as, dpo, make_subject)
    hidden = Actor(name="ops-on-call", kind="staff", roles=("admin",))  # admin: visibility hidden
    with runtime.database.unit_of_work() as session:
        _, text = letters.read_letter(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=hidden, incident_id=uuid.UUID(iid), letter_id=uuid.UUID(lid))
    assert NAME not in text and MASKED not in text and "尊敬的（姓名不予显示）" in text


def test_a_letter_made_before_keyed_digests_is_shown_only_to_who_sees_names_in_full_and_keyed_when_opened(runtime, client_as, dpo, make_subject):
    iid, nid, lid, _ = _letters(client_as, dpo, make_subject)
    with runtime.database.unit_of_work() as session:  # as migration 0015 leaves a letter made before it
        session.execute(update(Letter).where(Letter.id == uuid.UUID(lid)).values(digest=None, sealed_name=None))
    security = client_as("security")
    refused = security.get(f"/api/v1/incidents/{iid}/letters/{lid}")
    assert refused.status_code == 403 and refused.json["reason"] == "field_not_visible" and NAME not in refused.get_data(as_text=True)
    assert security.get(f"/api/v1/incidents/{iid}/notifications/{nid}/letters").json["letters"][0]["digest"] is None
    full = dpo.get(f"/api/v1/incidents/{iid}/letters/{lid}")
    assert full.status_code == 200 and NAME in full.text
    assert dpo.get(f"/api/v1/incidents/{iid}/notifications/{nid}/letters").json["letters"][0]["digest"] == full.headers["ETag"].strip('"')


def test_an_authority_letter_carries_a_keyed_digest_too(client_as, dpo, make_subject):
    iid, _, _, _ = _letters(client_as, dpo, make_subject)
    n = next(x for x in dpo.get(f"/api/v1/incidents/{iid}").json["notifications"] if x["key"] == "pipl_authority")
    made = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={"languages": ["zh"]})
    assert made.status_code == 201, made.json
    read = dpo.get(f"/api/v1/incidents/{iid}/letters/{made.json['ids'][0]}")
    assert read.headers["ETag"].strip('"') != hashlib.sha256(read.text.encode()).hexdigest()
