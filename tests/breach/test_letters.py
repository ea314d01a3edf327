"""Letters are generated from the templates in policies/notices/letters/: the authority's report holds categories and
counts, never a person; each subject's letter, in the subject's language, holds the items its law requires and that
subject's own data only."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.breach.conftest import TEXTS, iso


def _scoped_incident(client_as, dpo, make_subject, subjects_spec):
    crm = client_as("sales_service")
    ids = [make_subject(**spec) for spec in subjects_spec]
    start = datetime.now(timezone.utc) - timedelta(seconds=1)
    for sid in ids:
        assert crm.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    r = dpo.post("/api/v1/incidents", json={"title": "Leaked key", "detected_at": iso(datetime.now(timezone.utc)), "source": {"principals": [crm.name], "from": iso(start)}})
    iid = r.json["id"]
    assert dpo.post(f"/api/v1/incidents/{iid}/scope", json={}).status_code == 201
    return iid, ids


def _notification(dpo, iid, key):
    return next(n for n in dpo.get(f"/api/v1/incidents/{iid}").json["notifications"] if n["key"] == key)


def test_each_subject_letter_holds_the_required_items_and_only_its_recipient_s_data(client_as, dpo, make_subject, audit_events):
    zh_fields = {"name": "张三", "mobile": "13812345678", "email": "zhang.san@example.cn"}
    en_fields = {"name": "Li Wei", "mobile": "13987654321", "email": "li.wei@example.com"}
    iid, (zhang, li) = _scoped_incident(client_as, dpo, make_subject, [{"fields": zh_fields}, {"fields": en_fields, "language": "en"}])
    r = dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "contact data read by an attacker", "texts": TEXTS})
    assert r.status_code == 201
    n = _notification(dpo, iid, "pipl_subjects")
    assert n["status"] == "required"
    made = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={})
    assert made.status_code == 201, made.json
    assert made.json["letters"] == 2 and made.json["by_language"] == {"en": 1, "zh": 1}
    listed = dpo.get(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters").json["letters"]
    texts = {row["subject_id"]: dpo.get(f"/api/v1/incidents/{iid}/letters/{row['id']}").text for row in listed}
    zh, en = texts[str(zhang)], texts[str(li)]
    # PIPL Art. 57 items, in the subject's language.
    for heading in ("发生了什么", "涉及您的哪些个人信息", "可能造成的危害", "我们已采取的补救措施", "您可以采取的减轻危害的措施", "联系方式"):
        assert heading in zh
    for heading in ("Notice of Data Breach", "What Happened", "What Information Was Involved", "What We Are Doing", "What You Can Do", "For More Information"):
        assert heading in en
    assert TEXTS["measures"]["zh"] in zh and TEXTS["measures"]["en"] in en
    assert "privacy@example.cn" in zh and "privacy@example.cn" in en  # the handler's contact (controller.yaml)
    assert "尊敬的张三" in zh and "Dear Li Wei" in en
    assert "手机号码" in zh or "手机" in zh
    # Nothing of the other subject: no name, no value, no id.
    for value in (*en_fields.values(), str(li)):
        assert value not in zh
    for value in (*zh_fields.values(), str(zhang)):
        assert value not in en
    # Nor of the recipient beyond the name: field values are never written into a letter.
    assert "13812345678" not in zh and "13987654321" not in en
    # The name was decrypted for each letter: that is in the log, one event per letter, per subject.
    events = audit_events(action="breach:letter:create")
    assert {(e.subject_id, e.field_names) for e in events if e.subject_id} == {(zhang, "name"), (li, "name")}
    reads = audit_events(action="breach:letter:read")
    assert {e.subject_id for e in reads} == {zhang, li}


def test_the_authority_report_has_the_items_and_no_person_in_it(client_as, dpo, make_subject):
    iid, ids = _scoped_incident(client_as, dpo, make_subject, [{}, {"jurisdiction": "EU", "fields": {"name": "Anna Schmidt", "email": "anna@example.de"}}])
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "risk", "notify": "yes", "rationale": "contact data", "texts": TEXTS})
    n = _notification(dpo, iid, "gdpr_authority")
    made = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={}).json
    assert made["languages"] == ["en", "zh"]
    for letter_id in made["ids"]:
        text = dpo.get(f"/api/v1/incidents/{iid}/letters/{letter_id}").text
        assert "Anna" not in text and "anna@example.de" not in text and "张三" not in text
        assert not any(str(sid) in text for sid in ids)
        assert ("about 1 person in this jurisdiction; 2 in the whole incident" in text) or ("约 1 人（本法域）；本事件共 2 人" in text)
        assert ("contact details" in text) or ("联系方式" in text)
        assert TEXTS["consequences"]["en"] in text or TEXTS["consequences"]["zh"] in text


def test_a_letter_without_a_required_item_is_refused(client_as, dpo, make_subject):
    iid, _ = _scoped_incident(client_as, dpo, make_subject, [{}])
    texts = {k: v for k, v in TEXTS.items() if k != "what_you_can_do"}
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "r", "texts": texts})
    n = _notification(dpo, iid, "pipl_subjects")
    r = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={})
    assert r.status_code == 409 and r.json["code"] == "letter_items_missing" and r.json["missing"] == ["what_you_can_do"]


def test_sending_is_recorded_and_notified_needs_every_required_notification(client_as, dpo, make_subject):
    iid, _ = _scoped_incident(client_as, dpo, make_subject, [{}])
    dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "assessing"})
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "r", "texts": TEXTS})
    dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "other", "note": "key revoked at the gateway"})
    for to in ("contained", "notifying"):
        assert dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": to}).status_code == 200
    r = dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "notified"})
    assert r.status_code == 409 and set(r.json["outstanding"]) == {"pipl_authority", "pipl_subjects"}
    for key in ("pipl_authority", "pipl_subjects"):
        n = _notification(dpo, iid, key)
        assert dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/sent", json={"channel": "email"}).json["code"] == "no_letters"
        assert dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={}).status_code == 201
        r = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/sent", json={"channel": "email", "reference": "batch-1"})
        assert r.status_code == 200 and r.json["sent_at"] and r.json["channel"] == "email"
    assert dpo.post(f"/api/v1/incidents/{iid}/transition", json={"to": "notified"}).status_code == 200
    register = dpo.get("/api/v1/incidents/register").json
    [entry] = register["register"]
    assert entry["effects"]["people"] == 1 and {n["key"] for n in entry["notifications"] if n["sent_at"]} == {"pipl_authority", "pipl_subjects"}
    assert entry["remedy"]["containment"][0]["action"] == "other"
    assert "33(5)" in register["source"]["EU"]
