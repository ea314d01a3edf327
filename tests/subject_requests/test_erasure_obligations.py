"""The erasure certificate says which obligation of the subject's own jurisdiction keeps what is kept (law, article,
until when): a German subject's invoice is kept on HGB §257 / AO §147, never on a PRC statute (issue 16 item 7)."""

from datetime import date, datetime, timedelta, timezone

from govern.subject_requests import flows
from govern.subjects import service as subjects
from tests.subject_requests.conftest import CRM

NOW = datetime.now(timezone.utc)


def test_the_certificate_cites_the_member_states_obligation_and_its_last_day(make_subject, file_request, act, verify_by_session, runtime):
    sid = make_subject(fields={"name": "Erika Muster", "email": "erika@example.de"}, jurisdiction="EU", member_state="DE")
    with runtime.database.unit_of_work() as session:
        for rtype, age in (("invoice", 400), ("purchase", 200)):
            subjects.add_record(session=session, policy=runtime.policy, envelope=runtime.envelope, actor=CRM, subject_id=sid, type=rtype,
                                occurred_at=NOW - timedelta(days=age), payload={"amount": age})
    rid = file_request(sid, "erasure")
    verify_by_session(rid)
    cert = act(flows.complete, request_id=rid, ledgers=runtime.ledgers).response["certificate"]
    [kept] = cert["kept"]
    year = (NOW - timedelta(days=400)).year
    assert (kept["what"], kept["reason"], kept["until"]) == ("record:invoice", "de_accounting_vouchers", date(year + 8, 12, 31).isoformat())
    assert kept["legal_basis"].startswith("DE-HGB-257 [EU (DE)]: HGB §257") and "AO §147" in kept["legal_basis"]
    # The purchase is not kept: the E-Commerce Law of the PRC obliges nothing for an EU subject.
    assert cert["destroyed"]["records"] == {"purchase": 1}
