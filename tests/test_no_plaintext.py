"""No plaintext personal data at rest or in logs: canary values go in through the API, then the raw SQLite file (or a
pg_dump of PostgreSQL) and the captured logs are scanned for them."""

import secrets
from datetime import datetime, timezone

from govern.validators import luhn_valid, resident_id_check_char
from tests.backups import dump_text
from tests.conftest import FIXTURE_BASES


def _canaries() -> dict[str, str]:
    tag = secrets.token_hex(4)
    body = f"1101051990{secrets.randbelow(12) + 1:02d}{secrets.randbelow(28) + 1:02d}{secrets.randbelow(1000):03d}"
    card_body = f"62220{secrets.randbelow(10**13):013d}"
    card = next(card_body + str(d) for d in range(10) if luhn_valid(card_body + str(d)))
    return {
        "name": f"金丝雀{tag}",
        "mobile": f"139{secrets.randbelow(10**8):08d}",
        "email": f"canary.{tag}@example.cn",
        "address": f"广州市天河区金丝雀路{tag}号",
        "id_card_number": body + resident_id_check_char(body),
        "bank_card_number": card,
        "health": f"哮喘-{tag}",
        "religion": f"religion-{tag}",
        "precise_location": "23.1291,113.2644",
    }


def test_canary_values_appear_nowhere_at_rest_or_in_logs(client_as, runtime, tmp_path, capsys):
    canaries = _canaries()
    sales = client_as("sales_service")
    created = sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "birth_date": "1990-01-01", "fields": canaries, "external_ref": "crm-canary"})
    assert created.status_code == 201, created.json
    sid = created.json["id"]
    record_secret = f"送货备注-{secrets.token_hex(4)}"
    sales.post(f"/api/v1/subjects/{sid}/records", json={"type": "purchase", "occurred_at": datetime.now(timezone.utc).isoformat(), "payload": {"note": record_secret}})
    read = sales.get(f"/api/v1/subjects/{sid}", purpose="order_fulfilment")
    assert read.json["fields"]["name"] == canaries["name"]  # the canaries really went in and come out
    sales.post("/api/v1/subjects/lookup", json={"field": "mobile", "value": canaries["mobile"]}, purpose="order_fulfilment")
    sales.patch(f"/api/v1/subjects/{sid}", json={"fields": {"email": "not valid"}}, headers={"If-Match": read.headers["ETag"]})
    sales.post("/api/v1/subjects", json={"jurisdiction": "CN", "sensitive_basis": FIXTURE_BASES["CN"], "fields": {**canaries, "mobile": "1" + canaries["mobile"]}})  # refused: value in error path
    logs = capsys.readouterr()
    stored = dump_text(runtime, tmp_path / "dump.sql")

    values = [*canaries.values(), record_secret, "+86" + canaries["mobile"]]
    values.remove("23.1291,113.2644")  # numeric; checked through the canary name instead
    for value in values:
        for haystack, where in ((stored, "database"), ((logs.out + logs.err).encode(), "logs")):
            assert value.encode() not in haystack, f"{value!r} found in {where}"
