"""The compliance audit pack (PIPL Art. 54; GDPR Art. 5(2), 30(4)): one signed zip an external auditor takes away.

It holds, for a period [from, to): the records of processing and the impact assessments in force during it (every
version), the request log, the breach register, the drills, the retention purge runs, the access review, the
handler's duties and what was recorded as done, and the audit log's export with its signed checkpoints and the offline
verifier (audit/verify.py) — each made by its own domain's service, as the API and the commands make them. A
manifest lists every file with its hash (SHA-256, or SM3 under the commercial_cn suite, named by `digest_algorithm`)
and is signed with the audit signing key (the key that signs checkpoints, published in keys.json); a summary in
Chinese and in English says what is inside and how to check it."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
import zipfile
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from govern.audit import checkpoints, export, signing
from govern.audit import service as audit
from govern.audit.tags import ProcessingAction
from govern.audit.verifier import SOURCE as VERIFIER_SOURCE
from govern.audit.verifier import canonical
from govern.breach import board
from govern.config import Settings
from govern.crypto.suites import Suite
from govern.db import Database
from govern.errors import validation_failed
from govern.identity import review
from govern.identity.actor import Actor
from govern.policy import Policy
from govern.processing import duties
from govern.processing import service as records
from govern.retention import service as retention
from govern.subject_requests import service as requests
from govern.timeutil import as_utc, utcnow

PACK_FORMAT = "govern-compliance-pack/1"
MANIFEST = "manifest.json"


@dataclass
class PackResult:
    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, (date, uuid.UUID)):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _write(root: Path, name: str, content: Any) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content, ensure_ascii=False, indent=2, default=_default) + "\n", encoding="utf-8")


def _within(value: datetime | None, start: datetime, end: datetime) -> bool:
    return value is not None and start <= as_utc(value) < end


def _request_log(session, policy: Policy, actor: Actor, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every request received in the period, whatever its state (CCPA regs §7101; GDPR Art. 12)."""
    rows = []
    for state in requests.STATES:
        for item in requests.queue(session=session, policy=policy, actor=actor, state=state, limit=1_000_000):
            r = item.request
            if not _within(r.received_at, start, end):
                continue
            rows.append({
                "id": r.id, "type": r.type, "jurisdiction": r.jurisdiction, "channel": r.channel, "state": r.state,
                "received_at": r.received_at, "acknowledged_at": r.acknowledged_at, "due_at": item.due_at, "extended": r.extended,
                "verified_at": r.verified_at, "verification_method": r.verification_method, "closed_at": r.closed_at,
                "refusal_reason": r.refusal_reason, "legal_basis": r.legal_basis, "overdue": item.overdue, "filed_by": r.filed_by,
            })
    return sorted(rows, key=lambda row: as_utc(row["received_at"]))


def _runs(session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [
        {"id": run.id, "plan_id": run.plan_id, "mode": run.mode, "status": run.status, "total": run.total, "counts": run.counts,
         "rules": run.rules, "attempts": run.attempts, "started_by": run.started_by, "approved_by": run.approved_by,
         "started_at": run.started_at, "finished_at": run.finished_at, "last_error": run.last_error}
        for run in reversed(retention.list_runs(session=session, limit=1_000_000)) if _within(run.started_at, start, end)
    ]


def _summary_text(summary: dict[str, Any], language: str) -> str:
    s = summary
    if language == "zh":
        lines = [
            "# 个人信息保护合规审计资料包", "",
            f"- 期间：{s['from']} 至 {s['to']}（不含）", f"- 生成时间：{s['created_at']}，生成人：{s['created_by']}",
            f"- 个人信息处理者：{s['controller']}", f"- 本系统持有的个人信息主体数量：{s['subjects']}", "",
            "## 内容", "",
            f"- 处理活动记录：{s['activities']} 个版本（records/）；个人信息保护影响评估：{s['assessments']} 个版本",
            f"- 个人权利请求记录：{s['requests']} 件（requests/request-log.json）",
            f"- 安全事件登记簿：{s['breaches']} 起（breach/register.json）；应急演练：{s['drills']} 次（drills/）",
            f"- 保存期限到期清理运行记录：{s['retention_runs']} 次（retention/runs.json）",
            f"- 访问权限复核（access-review/）；处理者自身义务与完成记录（duties/）：{s['duties_open']} 项待办或逾期",
            f"- 审计日志导出：事件 {s['audit_events']} 条，序号 {s['audit_first_seq']}–{s['audit_last_seq']}，含签名检查点（audit-export/）",
            "", "## 如何核验", "",
            f"1. manifest.json 列出每个文件的 {s['digest_algorithm']} 哈希值（digest_algorithm）；用 manifest.json 中的公钥（key_id 对应 keys）验证其 Ed25519 签名。",
            "2. 运行 `python verifier/verify.py audit-export --checkpoint audit-checkpoints --keys audit-checkpoints/keys.json`（仅需 Python 标准库与 cryptography）核验审计日志的哈希链与签名检查点；以您自己保存的 keys.json 代替包内副本更佳。",
        ]
    else:
        lines = [
            "# Personal information protection compliance audit pack", "",
            f"- Period: {s['from']} to {s['to']} (exclusive)", f"- Created at {s['created_at']} by {s['created_by']}",
            f"- Controller (personal information handler): {s['controller']}", f"- Subjects held by govern: {s['subjects']}", "",
            "## Contents", "",
            f"- Records of processing: {s['activities']} activity versions (records/); impact assessments: {s['assessments']} versions",
            f"- Data-subject request log: {s['requests']} requests (requests/request-log.json)",
            f"- Breach register: {s['breaches']} incidents (breach/register.json); incident drills: {s['drills']} (drills/)",
            f"- Retention purge runs: {s['retention_runs']} (retention/runs.json)",
            f"- Access review (access-review/); the handler's duties and what was done (duties/): {s['duties_open']} due or overdue",
            f"- Audit log export: {s['audit_events']} events, seq {s['audit_first_seq']}–{s['audit_last_seq']}, with signed checkpoints (audit-export/)",
            "", "## How to check it", "",
            f"1. manifest.json lists every file with its {s['digest_algorithm']} hash (digest_algorithm); verify its Ed25519 signature with the public key it names (key_id in keys).",
            "2. Run `python verifier/verify.py audit-export --checkpoint audit-checkpoints --keys audit-checkpoints/keys.json` (Python standard library and cryptography only) to verify the audit log's hash chain and signed checkpoints; better, with the keys.json you pinned yourself.",
        ]
    return "\n".join(lines) + "\n"


def _file_hash(path: Path, suite: Suite) -> str:
    # Govern's own integrity value for the files beside it: the suite in force's hash (SM3 under commercial_cn), named
    # by the manifest's `digest_algorithm` and each entry's key (`sha256`, as before suites, or `sm3`).
    digest = hashlib.new(suite.hash_name)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(
    *, database: Database, settings: Settings, policy: Policy, actor: Actor, start: datetime, end: datetime, out: Path,
    session: Session | None = None,
) -> PackResult:
    """Writes the signed pack for [start, end) to `out` (a .zip); audited. The command seals and checkpoints first and
    works in its own unit of work; a request (the console) passes its session and packs what is sealed."""
    start, end = as_utc(start), as_utc(end)
    now = utcnow()
    errors: dict[str, list[str]] = {}
    if start >= end:
        errors["to"] = ["must be after from"]
    if start > now:
        errors["from"] = ["may not be in the future"]
    if errors:
        raise validation_failed(errors)
    key = signing.load(settings)  # before anything is written: a pack that cannot be signed is not made
    suite = records.suite_in_force(policy)
    if session is None:
        checkpoints.issue(database=database, settings=settings)  # the export then ends on a signed head
    with tempfile.TemporaryDirectory(prefix="govern-pack-") as tmp:
        root = Path(tmp) / "pack"
        root.mkdir()
        with (database.unit_of_work() if session is None else nullcontext(session)) as session:
            audit.append(session=session, actor=actor, action=ProcessingAction.PACK_CREATE, resource=f"pack:{start.isoformat()}..{end.isoformat()}")
            records.sync(session=session, policy=policy, actor=actor, settings=settings, now=now)
            ropa = {lang: records.records_during(session=session, actor=actor, start=start, end=end, language=lang) for lang in records.LANGUAGES}
            for lang, doc in ropa.items():
                _write(root, f"records/records-of-processing.{lang}.json", doc)
                _write(root, f"records/records-of-processing.{lang}.csv", records.as_csv(doc))
            request_log = _request_log(session, policy, actor, start, end)
            _write(root, "requests/request-log.json", request_log)
            register = [r for r in board.register(session=session, policy=policy, actor=actor, include_drills=True) if _within(r["facts"]["aware_at"], start, end)]
            breaches = [r for r in register if not r["drill"]]
            drills = [r for r in register if r["drill"]]
            _write(root, "breach/register.json", breaches)
            duty_history = duties.history(session=session, start=start.date(), end=end.date())
            _write(root, "drills/drills.json", {"incidents_marked_as_drills": drills, "recorded_as_done": [d for d in duty_history if d["duty"] == "incident_drill"]})
            runs = _runs(session, start, end)
            _write(root, "retention/runs.json", runs)
            access_review = review.build(session=session, policy=policy, actor=actor, now=min(end, now), export=True)
            _write(root, "access-review/access-review.csv", review.to_csv(access_review))
            _write(root, "access-review/reviews-recorded.json", [d for d in duty_history if d["duty"] == "access_review"])
            tasks = duties.tasks(session=session, policy=policy, actor=actor)
            _write(root, "duties/tasks.json", tasks)
            _write(root, "duties/recorded.json", duty_history)
            exported = export.write(session=session, settings=settings, out=root / "audit-export", time_from=start, time_to=end)
        # The signed checkpoints as the folder outside the database holds them, and keys.json: the verifier checks the
        # export against them (--checkpoint, --keys), as an auditor does with checkpoints collected on their own.
        (root / "audit-checkpoints").mkdir()
        for source in (settings.audit_checkpoint_dir / checkpoints.CHECKPOINT_FILE, signing.keys_path(settings)):
            if source.exists():
                shutil.copyfile(source, root / "audit-checkpoints" / source.name)
        (root / "verifier").mkdir()
        shutil.copyfile(VERIFIER_SOURCE, root / "verifier" / "verify.py")
        readme = VERIFIER_SOURCE.parent / "README.md"
        if readme.exists():
            shutil.copyfile(readme, root / "verifier" / "README.md")
        summary = {
            "from": start.isoformat(), "to": end.isoformat(), "created_at": now.isoformat(), "created_by": actor.name,
            "controller": policy.controller.name.get("en", ""), "subjects": tasks["subjects"],
            "activities": len(ropa["en"]["activities"]), "assessments": len(ropa["en"]["assessments"]), "requests": len(request_log),
            "breaches": len(breaches), "drills": len(drills), "retention_runs": len(runs),
            "duties_open": sum(1 for t in tasks["tasks"] if t["status"] in ("due", "overdue", "never_done", "not_met")),
            "audit_events": exported.events, "audit_first_seq": exported.first_seq, "audit_last_seq": exported.last_seq,
            "digest_algorithm": suite.hash_label,
        }
        _write(root, "summary.json", summary)
        _write(root, "summary.zh.md", _summary_text(summary, "zh"))
        _write(root, "summary.en.md", _summary_text(summary, "en"))
        files = sorted(p for p in root.rglob("*") if p.is_file())
        keys = signing.publish(settings, key)
        manifest: dict[str, Any] = {
            "format": PACK_FORMAT, "created_at": now.isoformat(), "period": {"from": start.isoformat(), "to": end.isoformat()},
            "created_by": actor.name, "policy_digest": policy.digest,
            "digest_algorithm": suite.hash_label,
            "files": [{"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size, suite.hash_name: _file_hash(p, suite)} for p in files],
            "key_id": key.key_id, "keys": keys,
            "signing": "Ed25519 over the canonical JSON (sorted keys, no whitespace, UTF-8) of this manifest without `signature`",
        }
        manifest["signature"] = key.sign(canonical(manifest))
        _write(root, MANIFEST, manifest)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for p in sorted(p for p in root.rglob("*") if p.is_file()):
                archive.write(p, p.relative_to(root).as_posix())
        partial.replace(out)
    return PackResult(path=out, manifest=manifest, summary=summary)
