"""The incident page names the hash its frozen list of affected subjects was taken under (issue 21): SHA-256, or SM3
for a list frozen under the commercial_cn suite — in Chinese and in English."""

from __future__ import annotations

from sqlalchemy import select, update

from govern.breach import flows
from govern.breach.models import AffectedSnapshot, AffectedSubject
from govern.crypto import suites
from tests.console.test_incidents import _open


def test_the_list_digest_label_names_the_snapshots_algorithm_in_both_languages(runtime, console_as, client_as, make_subject):
    sid = make_subject()
    reader = client_as("sales_service")
    assert reader.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment").status_code == 200
    dpo = console_as("dpo")
    iid = _open(dpo, reader.name)
    assert dpo.post(f"/console/incidents/{iid}/scope", {}).status_code == 302
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert "名单摘要（SHA-256）" in page and "SM3" not in page  # the suite in force (international)

    # The same list as a commercial_cn process freezes it: SM3, named by its prefix.
    with runtime.database.unit_of_work() as session:
        snapshot = session.scalar(select(AffectedSnapshot).where(AffectedSnapshot.incident_id == iid))
        rows = session.scalars(select(AffectedSubject).where(AffectedSubject.snapshot_id == snapshot.id)).all()
        sm3 = flows.digest([[str(r.subject_id), r.jurisdiction, list(r.fields)] for r in rows], suites.suite(suites.COMMERCIAL_CN))
        session.execute(update(AffectedSnapshot).where(AffectedSnapshot.id == snapshot.id).values(digest=sm3))
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert "名单摘要（SM3）" in page and f"<code>{sm3}</code>" in page and "SHA-256" not in page
    dpo.post("/console/preferences", {"language": "en"})
    page = dpo.get(f"/console/incidents/{iid}").get_data(as_text=True)
    assert "List digest (SM3)" in page and "SHA-256" not in page

