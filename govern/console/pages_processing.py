"""Console pages for the handler's own duties (govern/processing/duties.py) and the compliance audit pack
(govern/processing/pack.py): the duties with their status and next due date, a form to record one as done, and the
signed pack for a period as a download. Nothing here computes a due date or builds a file itself."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from flask import redirect, request, send_file, url_for

from govern.api_support import current_call
from govern.audit import signing
from govern.errors import Problem
from govern.identity.guard import current_runtime, requires
from govern.identity.permissions import Permission
from govern.processing import duties, pack
from govern.timeutil import utcnow

from .views import after_refusal, blp, may, page


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@blp.route("/compliance", methods=["GET"])
@requires(Permission.CONSOLE_COMPLIANCE)
def compliance_overview(problem: Problem | None = None):
    result = duties.tasks(**current_call().services())
    today = utcnow().date()
    return page(
        "compliance.html", status=problem.status if problem else 200, result=result, problem=problem, done=request.args.get("done"),
        can_record=may(Permission.CONSOLE_COMPLIANCE_RECORD), can_pack=may(Permission.CONSOLE_COMPLIANCE_PACK),
        today=today.isoformat(), year_ago=(today.replace(day=1) - timedelta(days=365)).replace(day=1).isoformat(),
    )


@blp.route("/compliance/duties/<string:duty>/done", methods=["POST"])
@requires(Permission.CONSOLE_COMPLIANCE_RECORD)
def compliance_duty_done(duty: str):
    """The same record as POST /api/v1/processing/duties/<duty>/done (processing:duty:done in the audit log)."""
    ctx = current_call()
    done_on = _day(request.form.get("done_on"))
    try:
        if done_on is None:
            raise Problem(400, "validation_failed", "The request is not valid", "done_on: a date (YYYY-MM-DD)")
        duties.record_done(**ctx.services(), duty=duty, done_on=done_on,
                           reference=(request.form.get("reference") or "").strip() or None)
    except Problem as problem:
        if problem.status in (400, 404):
            return after_refusal(problem, compliance_overview)
        raise
    return redirect(url_for("console.compliance_overview", done="duty_recorded"))


@blp.route("/compliance/pack", methods=["GET"])
@requires(Permission.CONSOLE_COMPLIANCE_PACK)
def compliance_pack():
    """The signed compliance audit pack for [from, to) (dates, UTC), as `govern compliance pack` writes it; audited."""
    ctx, rt = current_call(), current_runtime()  # the runtime for what the pack job needs beyond a call: the database
    start, end = _day(request.args.get("from")), _day(request.args.get("to"))
    if start is None or end is None:
        return after_refusal(Problem(400, "validation_failed", "The request is not valid", "from, to: dates (YYYY-MM-DD)"), compliance_overview)
    begin = datetime.combine(start, time.min, tzinfo=timezone.utc)
    finish = datetime.combine(end, time.min, tzinfo=timezone.utc)
    tmp = tempfile.TemporaryDirectory(prefix="govern-pack-")
    try:
        result = pack.build(database=rt.database, settings=ctx.settings, policy=ctx.policy, actor=ctx.actor, start=begin, end=finish,
                            out=Path(tmp.name) / "pack.zip", session=ctx.session)
    except signing.SigningKeyError:
        tmp.cleanup()
        raise Problem(503, "audit_signing_key_unavailable", "Signing key unavailable", "The pack cannot be signed; ask an operator.") from None
    except Problem as problem:
        tmp.cleanup()
        if problem.status == 400:
            return after_refusal(problem, compliance_overview)
        raise
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)
    spool.write(result.path.read_bytes())
    tmp.cleanup()
    spool.seek(0)
    return send_file(spool, mimetype="application/zip", as_attachment=True, download_name=f"compliance-pack-{start:%Y%m%d}-{end:%Y%m%d}.zip")
