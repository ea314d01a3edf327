"""The leak scan: a realistic flow (tests/proof/flow.py) runs with canary values in every catalog field and a record,
then everything it produced is searched for them — the database (the SQLite file with its WAL, or a plain pg_dump),
every file under GOVERN_HOME and the checkpoint folder (exports, packages, checkpoints, tombstones, erasure logs, with
zip archives opened), the captured output of the process (logs), and every API answer, errors included.

A canary may appear only where a role was allowed to see it: a purpose-bound read of a field the role sees in full,
the records a role may read for that purpose, the subject's own access package, and the breach letter addressed to
the subject (its name). Nowhere else: not at rest, not in a log line, not in an error, not in a masked view, not in
another subject's package.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from govern.access.service import field_visibility
from govern.identity.actor import Actor
from govern.logging import configure_logging
from tests.backups import dump_text, read_raw
from tests.proof.flow import Flow, canary_fields, run

pytestmark = pytest.mark.proof

NOT_SCANNED = {"gender"}  # an enumeration (female/male/other/undisclosed): no value of it is unique to a subject


def _forms(value: str) -> list[bytes]:
    """The ways a value can be written: UTF-8, JSON-escaped (ensure_ascii), and the normalised forms of the blind index."""
    forms = {value, json.dumps(value)[1:-1]}
    if value.isdigit() and len(value) == 11:
        forms.add("+86" + value)  # a mobile number in E.164
    forms.add(value.upper())
    return [f.encode() for f in forms if len(f) >= 6]


def _canaries(flow: Flow) -> dict[str, tuple[str, str]]:
    """value → (subject, field) for both subjects' values and the record note."""
    out = {}
    for who, values in (("kept", flow.fields), ("erased", flow.erased_fields)):
        for name, value in values.items():
            if name not in NOT_SCANNED:
                out[value] = (who, name)
    out[flow.record_secret] = ("kept", "record")
    return out


def _blobs(data: bytes) -> list[bytes]:
    """The bytes themselves and, for a zip archive, every member."""
    out = [data]
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            out.extend(archive.read(name) for name in archive.namelist())
    return out


def _found(data: bytes, canaries: dict[str, tuple[str, str]]) -> set[str]:
    blobs = _blobs(data)
    return {value for value in canaries if any(form in blob for form in _forms(value) for blob in blobs)}


def _allowed(runtime, flow: Flow, seen) -> set[str]:
    """The canary values this answer may carry, given who asked and what for."""
    if seen.status >= 400:
        return set()
    path, kept = seen.path, flow.subject_id
    if (seen.method, path) in (("GET", f"/api/v1/subjects/{kept}"), ("POST", f"/api/v1/subjects/{kept}/disclosures")):
        # A purpose-bound read, or a disclosure (its answer carries the values to transmit to the recipient): only the
        # fields this role sees in full for that purpose.
        body = json.loads(seen.body)
        actor = Actor(name="scan", kind="service", roles=(seen.role,))
        views = field_visibility(policy=runtime.policy, actor=actor, purpose=runtime.policy.purposes[body["purpose"]])
        return {flow.fields[name] for name, view in views.items() if view == "full" and name in flow.fields}
    if seen.method == "GET" and path == f"/api/v1/subjects/{kept}/records":
        return {flow.record_secret}
    if seen.method == "GET" and path == f"/api/v1/requests/{flow.request_id}/package":
        return {*flow.fields.values(), flow.record_secret}  # privacy staff: the subject's copy of everything, to deliver
    if seen.method == "POST" and path == "/api/v1/requests/download":
        # The token the filing CRM (sales_service) handed over after a session it asserted itself: no more than that
        # service reads in full for any of its purposes (requests.yaml package.full_copy_methods).
        actor = Actor(name="scan", kind="service", roles=("sales_service",))
        return {flow.record_secret} | {
            flow.fields[name] for purpose in runtime.policy.roles["sales_service"].purposes
            for name, view in field_visibility(policy=runtime.policy, actor=actor, purpose=runtime.policy.purposes[purpose]).items()
            if view == "full" and name in flow.fields
        }
    if seen.method == "GET" and "/letters/" in path and not path.endswith("/letters"):
        return {flow.fields["name"]}  # "尊敬的<name>": the letter to the affected subject
    return set()


def _files(*roots: Path) -> list[Path]:
    seen, out = set(), []
    for root in roots:
        if root.exists():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                if path.resolve() not in seen:
                    seen.add(path.resolve())
                    out.append(path)
    return out


def test_canary_values_appear_only_where_a_role_was_allowed_to_see_them(app, runtime, tmp_path, capfd):
    # The app's own logging (stdout, the suite's level): a test run earlier in this process may have pointed it elsewhere.
    configure_logging(runtime.settings.log_level)
    flow = run(app, runtime, fields=canary_fields(), erased_fields=canary_fields())
    canaries = _canaries(flow)
    # The canaries really went in and really come out where they should (else the scan would prove nothing).
    package = next(s for s in flow.seen if s.path.endswith(f"{flow.request_id}/package"))
    assert _found(package.body, canaries) >= {v for v, (who, _) in canaries.items() if who == "kept"}

    leaks: list[str] = []
    # 1. Every API answer, errors included.
    for seen in flow.seen:
        extra = _found(seen.body, canaries) - _allowed(runtime, flow, seen)
        for value in sorted(extra):
            leaks.append(f"answer {seen.method} {seen.path} ({seen.status}) to {seen.role}: {canaries[value]}")
    # 2. The database, as a file.
    for value in sorted(_found(dump_text(runtime, tmp_path / "dump.sql"), canaries)):
        leaks.append(f"database: {canaries[value]}")
    # 3. Every file the service wrote: GOVERN_HOME (exports, packages, tombstones, erasure log) and the checkpoints.
    files = _files(runtime.settings.home, runtime.settings.audit_checkpoint_dir)
    assert files, "GOVERN_HOME holds no file: the scan would prove nothing"
    for path in files:
        for value in sorted(_found(read_raw(path), canaries)):  # the SQLite files among them are live: see read_raw
            leaks.append(f"file {path.relative_to(runtime.settings.home) if path.is_relative_to(runtime.settings.home) else path}: {canaries[value]}")
    # 4. The logs: everything the process printed (structlog JSON lines), on stdout and stderr.
    out = capfd.readouterr()
    logs = (out.out + out.err).encode()
    assert b'"request"' in logs or b"request" in logs, "no log line was captured: the scan would prove nothing"
    for value in sorted(_found(logs, canaries)):
        leaks.append(f"logs: {canaries[value]}")

    assert not leaks, f"{len(leaks)} canary value(s) where no role was allowed to see them:\n" + "\n".join(leaks)


def test_the_scan_finds_a_planted_value(app, runtime, tmp_path):
    """The scanner itself: a value written into GOVERN_HOME, into a zip, or escaped in JSON is found."""
    values = canary_fields()
    canaries = {values["name"]: ("kept", "name"), values["mobile"]: ("kept", "mobile")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps({"name": values["name"]}))  # ensure_ascii: \\u escapes
    assert _found(buffer.getvalue(), canaries) == {values["name"]}
    assert _found(f"tel:+86{values['mobile']}".encode(), canaries) == {values["mobile"]}
    assert _found(b"nothing here", canaries) == set()
