"""Kept data carries a reason that fits the subject's jurisdiction (PIPL Art. 47 ¶2; GDPR Art. 17(3)(b)): an
obligation keeps an invoice only for subjects of its jurisdiction (and member state), the longest one that applies is
cited with its law and last day, and the purge plan honours the same obligations."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from click.testing import CliRunner

from govern.cli import main
from govern.retention import keeping
from govern.timeutil import utcnow
from tests.retention.conftest import rule

LEAD = {"name": "Erika Muster", "mobile": "13912345678", "email": "erika@example.de"}


def _subjects(make_subject, add_records):
    made = {
        "CN": make_subject(fields=LEAD, jurisdiction="CN"),
        "DE": make_subject(fields=LEAD, jurisdiction="EU", member_state="DE"),
        "IT": make_subject(fields=LEAD, jurisdiction="EU", member_state="IT"),
        "CA": make_subject(fields=LEAD, jurisdiction="US-CA"),
    }
    invoices = {k: add_records(sid, "invoice", [400])[0] for k, sid in made.items()}
    purchases = {k: add_records(sid, "purchase", [200])[0] for k, sid in made.items()}
    return made, invoices, purchases


def test_an_eu_subjects_invoice_is_kept_on_its_member_states_law_and_never_on_a_prc_statute(runtime, make_subject, add_records):
    made, invoices, purchases = _subjects(make_subject, add_records)
    year = (utcnow() - timedelta(days=400)).year
    now = utcnow()
    kept = {}
    with runtime.database.unit_of_work() as session:
        for k, sid in made.items():
            kept[k] = keeping.what_must_be_kept(session=session, policy=runtime.policy, subject_id=sid, now=now)[1]
    cn = kept["CN"][invoices["CN"]]
    # Two CN obligations apply (vouchers 30 years, invoice stubs 5): the longest is the one cited.
    assert (cn.reason, cn.until) == ("cn_accounting_vouchers", date(year + 30, 12, 31).isoformat())
    assert cn.legal_basis.startswith("CN-KJDA-14 [CN]: 会计档案管理办法 Art. 14")
    assert kept["CN"][purchases["CN"]].reason == "cn_ecommerce_transactions"
    de = kept["DE"][invoices["DE"]]
    assert (de.reason, de.until) == ("de_accounting_vouchers", date(year + 8, 12, 31).isoformat())
    assert de.legal_basis.startswith("DE-HGB-257 [EU (DE)]: HGB §257")
    assert purchases["DE"] not in kept["DE"]  # the E-Commerce Law is no obligation of an EU subject's purchases
    assert kept["IT"] == {}  # no Italian obligation in the policy: nothing is kept
    assert kept["CA"][invoices["CA"]].until == date(year + 4, 12, 31).isoformat()
    assert all("CN-" not in k.legal_basis for side in ("DE", "IT", "CA") for k in kept[side].values())


def test_the_purge_plan_keeps_an_invoice_while_its_jurisdictions_obligation_runs(make_subject, add_records, plan):
    made, invoices, _ = _subjects(make_subject, add_records)
    year = (utcnow() - timedelta(days=400)).year
    # The invoices' own rule (1 year) has run: only the Italian one, which no obligation keeps, is due.
    summary, _ = plan(save=False)
    own = rule(summary, "accounting_records")
    assert own["due"]["records"] == 1 and own["sample_subject_ids"] == [str(made["IT"])]
    # Eight years from the end of the year the German invoice arose in, to the microsecond; the CN one stays 30.
    eight = datetime(year + 9, 1, 1, tzinfo=timezone.utc)
    summary, _ = plan(now=eight - timedelta(microseconds=1), save=False)
    assert set(rule(summary, "accounting_records")["sample_subject_ids"]) == {str(made["IT"]), str(made["CA"])}
    summary, _ = plan(now=eight, save=False)
    assert set(rule(summary, "accounting_records")["sample_subject_ids"]) == {str(made["IT"]), str(made["CA"]), str(made["DE"])}


def test_the_obligations_are_listed_with_their_jurisdiction_and_source(runtime):
    env = {"GOVERN_HOME": str(runtime.settings.home), "GOVERN_DATABASE_URL": runtime.settings.database_url,
           "GOVERN_POLICIES": str(runtime.settings.policies_dir), "GOVERN_LOG_LEVEL": "WARNING"}
    out = CliRunner().invoke(main, ["retention", "obligations", "--json"], env=env)
    assert out.exit_code == 0, out.output
    rows = {r["obligation"]: r for r in json.loads(out.output)}
    de = rows["de_accounting_vouchers"]
    assert (de["jurisdictions"], de["member_states"], de["covers"], de["keep"], de["counted_from"]) == (["EU"], ["DE"], ["invoice"], "8y", "end_of_year")
    assert "gesetze-im-internet.de" in de["source"]
    text = CliRunner().invoke(main, ["retention", "obligations"], env=env).output
    assert "cn_accounting_vouchers" in text and "EU/DE" in text
