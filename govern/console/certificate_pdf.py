"""An erasure certificate (requests.flows.certificate) as a PDF the requester can be handed, in Chinese or English.

fpdf2 (maintained, pure Python: no system libraries) writes it with Debian's Noto Sans CJK (fonts-noto-cjk, which
`make install-test` and the image install), embedded as a subset so the file reads the same everywhere. The PDF
states the certificate's digest with its algorithm (SHA-256, or SM3 for one made under the commercial_cn suite): the
JSON it was made from is the record; the PDF is its rendering."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from govern.errors import Problem
from govern.timeutil import as_utc

from .i18n import N_, translate
from .policy_text import kept_basis

if TYPE_CHECKING:
    from govern.policy import Policy

FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
)
SIMPLIFIED_CHINESE = 2  # the face of a Noto CJK collection: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK
# An erasure limited to some data (details.fields / record_types) leaves the subject active: its status and method are
# words too, never the code (msgids.py lists the other statuses' words).
LIMITED_ERASURE = (N_("subject_status.active"), N_("erasure_method.active"))


def font_path() -> Path:
    for path in FONT_CANDIDATES:
        if path.is_file():
            return path
    raise Problem(503, "pdf_font_missing", "No Chinese font", "Install fonts-noto-cjk to render certificates as PDF; the JSON certificate is available.")


def render(cert: dict[str, Any], digest: str, lang: str, policy: Policy, algorithm: str = "SHA-256") -> bytes:
    """The certificate `cert` (with its hash, `digest` under `algorithm`: SHA-256 or SM3) as PDF bytes, its words in `lang` (zh or en): states, the erasure method
    and how a recipient is told from the catalogs, field and record-type names by the policy catalog's labels, the legal
    basis of what is kept in its Chinese form (policies/translations/zh.yaml). The JSON keeps the codes."""
    def t(key: str, **values: Any) -> str:
        return translate(key, lang, **values)

    def word(prefix: str, code: Any) -> str:
        """A code the certificate stores (a status, how a recipient is told) in `lang`; the code itself if unknown."""
        text = t(f"{prefix}.{code}")
        return str(code) if text == f"{prefix}.{code}" else text

    def label(name: str) -> str:
        rule = policy.catalog.fields.get(name) or policy.catalog.record_types.get(name.removeprefix("record:"))
        return rule.label.get(lang, name) if rule is not None else name

    status = cert.get("subject_status")
    zone = policy.console.default_time_zone

    pdf = FPDF(format="A4")
    pdf.set_title(t("certificate_title"))
    pdf.set_creator("govern")
    pdf.add_font("cjk", fname=str(font_path()), collection_font_number=SIMPLIFIED_CHINESE)
    pdf.add_page()
    pdf.set_font("cjk", size=16)
    pdf.multi_cell(0, 10, t("certificate_title"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("cjk", size=10)

    def line(label: str, value: Any) -> None:
        pdf.multi_cell(0, 6, f"{label}: {value}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("cjk", size=12)
        pdf.multi_cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("cjk", size=10)

    line(t("request"), cert.get("request_id"))
    line(t("subject"), cert.get("subject_id"))
    line(t("type"), t(f"request_type.{cert.get('type')}"))
    line(t("jurisdiction"), cert.get("jurisdiction"))
    line(t("erased_at"), moment(cert.get("erased_at"), lang, zone))
    line(t("subject_status"), word("subject_status", status))
    heading(t("erasure_method"))
    pdf.multi_cell(0, 6, method_text(cert, lang, zone), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    destroyed = cert.get("destroyed") or {}
    heading(t("erasure_destroyed"))
    line(t("fields"), ", ".join(label(f) for f in destroyed.get("fields") or []) or t("none"))
    records = destroyed.get("records") or {}
    line(t("records"), ", ".join(f"{label(k)} × {v if v is not None else '—'}" for k, v in records.items()) or t("none"))
    heading(t("erasure_kept"))
    kept = cert.get("kept") or []
    if not kept:
        line(t("erasure_kept"), t("none"))
    for k in kept:
        pdf.multi_cell(0, 6, f"• {label(str(k.get('what')))} × {k.get('count')} — {t('kept_until')}: {k.get('until') or t('while_hold_lasts')}; "
                             f"{t('legal_basis')}: {kept_basis(k, lang, policy.retention.hold_reasons, policy.console.policy_texts)}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    heading(t("erasure_recipients"))
    recipients = cert.get("recipients") or []
    if not recipients:
        line(t("erasure_recipients"), t("none"))
    for r in recipients:
        pdf.multi_cell(0, 6, f"• {r.get('name')} ({r.get('country')}) — {t('told_by')}: {word('told_by', r.get('told_by'))}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("cjk", size=8)
    pdf.multi_cell(0, 5, f"{algorithm}: {digest}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(0, 5, t("certificate_hash_note", algorithm=algorithm), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def method_text(cert: dict[str, Any], lang: str, zone: str) -> str:
    """How the data was destroyed, in `lang`, with every fact the record's English `method` states: by the subject's
    status with the algorithm of the data key destroyed (`key_algorithm`: AES-256-GCM, or SM4-GCM for a commercial_cn
    key), or that the subject had already been erased (when, in the policy's time zone, and why), and that its rows
    are deleted in batches after the certificate (how the batches are audited)."""
    def t(key: str, **values: Any) -> str:
        return translate(key, lang, **values)

    # A certificate made before it recorded its key's algorithm reads as it always has: AES-256-GCM. Null: the key was
    # destroyed before the request, by an erasure whose tombstone predates recording the key's format.
    algorithm = cert.get("key_algorithm", "AES-256-GCM")
    earlier = cert.get("already_erased")
    if earlier is not None:
        reason = earlier.get("reason") or "unknown"
        why = t(f"erasure_reason.{reason}")
        at = moment(earlier["erased_at"], lang, zone) if earlier.get("erased_at") else t("erasure_earlier_time")
        reason = reason if why == f"erasure_reason.{reason}" else why
        if algorithm is None:
            return t("erasure_method.already_erased_key_unnamed", at=at, reason=reason)
        return t("erasure_method.already_erased", algorithm=algorithm, at=at, reason=reason)
    text = t(f"erasure_method.{cert.get('subject_status')}", algorithm=algorithm)
    after = cert.get("rows_deleted_after")
    if after is not None:
        text += t("erasure_method.rows_deleted_after", more_than=f"{after['more_than']:,}", audited_as=after["audited_as"], reference=after["reference"])
    return text


def moment(value: str | None, lang: str, zone: str) -> str:
    """An instant the certificate stores (ISO, UTC) as the console shows one: date and minute in the policy's time zone,
    then the zone — its UTC offset in Chinese (an abbreviation such as CST means nothing to a Chinese reader), its
    abbreviation in English."""
    if not value:
        return "—"
    local = as_utc(datetime.fromisoformat(value)).astimezone(ZoneInfo(zone))
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    mark = f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "") if lang == "zh" else local.tzname() or ""
    return f"{local:%Y-%m-%d %H:%M} {mark}"
