"""What an authority's report and the register say: the approximate number of people and of records, including counts
staff assessed from outside govern (GDPR Art. 33(3)(a)); the cause as its own item (PIPL Art. 57 ¶1(1), 原因); no line
that contradicts another, singular and plural right; and the remedy actually taken, in words (GDPR Art. 33(5))."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from tests.breach.conftest import TEXTS, iso
from tests.breach.test_letters import _notification, _scoped_incident


def _open(dpo) -> str:
    r = dpo.post("/api/v1/incidents", json={"title": "Supplier leak", "detected_at": iso(datetime.now(timezone.utc))})
    assert r.status_code == 201, r.json
    return r.json["id"]


def _report(dpo, iid, key, **body) -> dict[str, str]:
    n = _notification(dpo, iid, key)
    made = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json=body)
    assert made.status_code == 201, made.json
    texts = {}
    for letter_id in made.json["ids"]:
        r = dpo.get(f"/api/v1/incidents/{iid}/letters/{letter_id}")
        texts[r.headers["Content-Language"]] = r.text
    return texts


def _section(text: str, heading: str) -> str:
    """The body under a '## heading' up to the next heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, heading
    return match.group(1).strip()


def test_counts_staff_assessed_outside_govern_are_printed_with_the_right_number(dpo):
    iid = _open(dpo)
    r = dpo.post(f"/api/v1/incidents/{iid}/assessment", json={
        "risk": "risk", "notify": "yes", "rationale": "a supplier's copy leaked", "people": {"EU": 1}, "records": 1, "categories": ["contact"], "texts": TEXTS,
    })
    assert r.status_code == 201, r.json
    texts = _report(dpo, iid, "gdpr_authority")
    en, zh = _section(texts["en"], "People and records concerned"), _section(texts["zh"], "涉及的人数和记录数")
    assert "about 1 person in this jurisdiction; 1 in the whole incident" in en and "people" not in en
    assert "about 1 record of personal data (as assessed)" in en
    assert "约 1 人（本法域）；本事件共 1 人（评估数）" in zh and "涉及个人信息记录约 1 条（评估数）" in zh
    # More than one: the plural, and the assessed records are printed as given (never dropped for the scope's count).
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={
        "risk": "risk", "notify": "yes", "rationale": "recount", "people": {"EU": 1200}, "records": 4500, "categories": ["contact"], "texts": TEXTS,
    })
    texts = _report(dpo, iid, "gdpr_authority")
    en = _section(texts["en"], "People and records concerned")
    assert "about 1200 people in this jurisdiction; 1200 in the whole incident (as assessed)" in en
    assert "about 4500 records of personal data (as assessed)" in en
    assert "涉及个人信息记录约 4500 条（评估数）" in texts["zh"]


def test_without_a_records_count_the_report_says_it_is_under_investigation(dpo):
    iid = _open(dpo)
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "risk", "notify": "yes", "rationale": "r", "people": {"EU": 3}, "categories": ["contact"], "texts": TEXTS})
    texts = _report(dpo, iid, "gdpr_authority")
    assert "the number of records concerned is under investigation" in texts["en"]
    assert "涉及的记录数正在调查中" in texts["zh"]


def test_the_report_never_lists_sensitive_data_beside_zero_people_with_it(client_as, dpo, make_subject):
    iid, _ = _scoped_incident(client_as, dpo, make_subject, [{"jurisdiction": "EU", "fields": {"name": "Anna Schmidt", "email": "anna@example.de"}}])
    # Staff know that a sensitive file left too (outside govern's scope): the list names it, and no line says 0.
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "risk", "notify": "yes", "rationale": "r", "sensitive": True, "texts": TEXTS})
    texts = _report(dpo, iid, "gdpr_authority")
    for lang, heading, word in (("en", "Personal information involved", "sensitive personal information"), ("zh", "涉及的个人信息种类", "敏感个人信息")):
        assert word in _section(texts[lang], heading)
    assert "0 of them with sensitive" not in texts["en"] and "其中 0 人涉及敏感个人信息" not in texts["zh"]
    assert "sensitive personal information is involved; how many people it concerns is being assessed" in texts["en"]
    assert "涉及敏感个人信息，涉及人数正在评估" in texts["zh"]
    # Nothing sensitive: the list does not name it, and the count says none.
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "risk", "notify": "yes", "rationale": "r", "sensitive": False, "texts": TEXTS})
    texts = _report(dpo, iid, "gdpr_authority")
    assert "sensitive" not in _section(texts["en"], "Personal information involved") and "敏感" not in _section(texts["zh"], "涉及的个人信息种类")
    assert "no sensitive personal information is involved" in texts["en"] and "不涉及敏感个人信息" in texts["zh"]
    assert "about 1 record of personal data" in texts["en"] or "records of personal data" in texts["en"]
    assert "none of them known to be a minor" in texts["en"] and "1 of them of unknown age" in texts["en"]


def test_the_pipl_notice_states_the_cause_under_its_own_heading(client_as, dpo, make_subject):
    iid, _ = _scoped_incident(client_as, dpo, make_subject, [{}])
    no_cause = {k: v for k, v in TEXTS.items() if k != "cause"}
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "r", "texts": no_cause})
    for key in ("pipl_authority", "pipl_subjects"):
        n = _notification(dpo, iid, key)
        r = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={})
        assert r.status_code == 409 and r.json["code"] == "letter_items_missing" and r.json["missing"] == ["cause"], key
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "high", "notify": "yes", "rationale": "r", "texts": TEXTS})
    texts = _report(dpo, iid, "pipl_authority")
    assert _section(texts["zh"], "事件原因") == TEXTS["cause"]["zh"] and TEXTS["cause"]["zh"] not in _section(texts["zh"], "事件情况")
    assert _section(texts["en"], "Cause") == TEXTS["cause"]["en"]
    n = _notification(dpo, iid, "pipl_subjects")
    made = dpo.post(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters", json={}).json
    listed = dpo.get(f"/api/v1/incidents/{iid}/notifications/{n['id']}/letters").json["letters"]
    assert made["letters"] == 1
    letter = dpo.get(f"/api/v1/incidents/{iid}/letters/{listed[0]['id']}").text
    assert _section(letter, "事件原因") == TEXTS["cause"]["zh"]


def test_the_register_keeps_the_remedy_taken_in_words(client_as, dpo, make_subject):
    iid, _ = _scoped_incident(client_as, dpo, make_subject, [{}])
    r = dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "other", "note": "  "})
    assert r.status_code == 400 and "note" in r.json["errors"]
    assert dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "other", "note": "key revoked at the API gateway"}).status_code == 201
    reader = client_as("sales_service")
    assert dpo.post(f"/api/v1/incidents/{iid}/containment", json={"action": "disable_principal", "principal": reader.name}).status_code == 201
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={"risk": "risk", "notify": "no", "rationale": "r", "records": 7, "texts": TEXTS})
    [entry] = dpo.get("/api/v1/incidents/register").json["register"]
    other, disabled = entry["remedy"]["containment"]
    assert other["action"] == "other" and other["description"] == "key revoked at the API gateway" and other["by"] == dpo.name and other["at"]
    assert disabled["description"] == f"principal {reader.name} disabled: its API key and console sessions stopped"
    assert entry["remedy"]["measures"] == TEXTS["measures"]
    assert entry["facts"]["cause"] == TEXTS["cause"] and entry["facts"]["what_happened"] == TEXTS["what_happened"]
    assert entry["effects"]["consequences"] == TEXTS["consequences"] and entry["effects"]["assessed"]["records"] == 7
    assert entry["effects"]["records"] == 7 and entry["effects"]["people_total"] == 1


def test_the_incident_report_for_the_file_shows_the_assessed_counts_and_the_cause(dpo):
    iid = _open(dpo)
    dpo.post(f"/api/v1/incidents/{iid}/assessment", json={
        "risk": "risk", "notify": "yes", "rationale": "r", "people": {"EU": 12}, "records": 345, "categories": ["contact"], "texts": TEXTS,
    })
    en = dpo.get(f"/api/v1/incidents/{iid}/report?lang=en").text
    assert "<tr><th>Records (as assessed)</th><td>345</td></tr>" in en and "EU: 12" in en
    assert f"<tr><th>Cause</th><td>{TEXTS['cause']['en']}</td></tr>" in en
    zh = dpo.get(f"/api/v1/incidents/{iid}/report?lang=zh").text
    assert "<tr><th>记录数（评估）</th><td>345</td></tr>" in zh and f"<tr><th>事件原因</th><td>{TEXTS['cause']['zh']}</td></tr>" in zh
