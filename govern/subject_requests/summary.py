"""The access package's human-readable summary, summary.{zh,en}.txt (PIPL Art. 45; GDPR Art. 15): what data.json
holds, said in the person's language. In Chinese it is Chinese throughout (issue 19 item 3): section titles, legal
bases, the provisions cited, sources, consent actions and channels, states, retention periods, and dates in Chinese
form in the policy's time zone (policies/console.yaml default_time_zone) — never English legal text or a raw ISO
timestamp. What stays in Latin script is data (a recipient's name, a notice version, a value) or a code (an id, a
country code, a law's abbreviation such as GDPR)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from govern.policy import Policy
from govern.timeutil import as_utc

WORDS: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "title": "个人信息副本（查阅、复制）", "ids": "请求编号 {request} · 个人信息主体编号 {subject}", "times": "以下时间均为{zone}。",
        "fields": "您的个人信息", "records": "记录", "purposes": "处理目的与处理依据", "recipients": "接收方", "consent": "同意记录",
        "disclosures": "向第三方提供记录", "retention": "保存期限", "sources": "来源", "none": "无", "basis": "依据",
        "objections": "反对处理（基于合法利益的处理）", "standing": "有效，已停止处理", "lifted": "已解除，理由",
        "scope": "您同意的范围", "notice_version": "告知版本", "covered_fields": "个人信息", "covered_records": "记录", "provided_to": "提供给",
        "provision": "接收方的处理目的、方式及个人信息种类", "granted": "有效", "withdrawn": "已撤回", "given_at": "同意时间",
        "profile": "个人资料", "collected_by": "收集方", "operator": "系统运维人员", "unknown": "未知", "count": "{n} 条",
        "via": "渠道", "kept_for": "保存 {period}，{start}", "legal_reason": "法律依据",
    },
    "en": {
        "title": "Copy of your personal data (access)", "ids": "request {request} · subject {subject}", "times": "Times are in {zone}.",
        "fields": "Your personal data", "records": "Records", "purposes": "Purposes and legal bases", "recipients": "recipients",
        "consent": "Consent history", "disclosures": "Disclosures to third parties", "retention": "Retention", "sources": "Sources", "none": "none",
        "basis": "basis", "objections": "Objections (to processing based on legitimate interest)", "standing": "standing: processing stopped",
        "lifted": "lifted, on the grounds", "scope": "What your consents cover", "notice_version": "notice version", "covered_fields": "data",
        "covered_records": "records", "provided_to": "provided to", "provision": "the recipient's purpose, method and kinds of data",
        "granted": "in force", "withdrawn": "withdrawn", "given_at": "given", "profile": "profile", "collected_by": "collected by",
        "operator": "operator", "unknown": "unknown", "count": "{n}", "via": "via", "kept_for": "kept {period}, {start}", "legal_reason": "legal basis",
    },
}

# The codes of the domains, in words (policy.LEGAL_BASES, consent ACTIONS and CHANNELS, retention counted_from).
CODES: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "basis.consent": "个人同意", "basis.contract": "订立、履行合同所必需", "basis.legal_obligation": "履行法定职责或者法定义务所必需",
        "basis.vital_interest": "保护自然人的生命健康和财产安全所必需", "basis.public_interest": "为公共利益实施新闻报道、舆论监督等行为",
        "basis.legitimate_interest": "正当利益", "basis.publicly_available": "依法在合理范围内处理已公开的个人信息",
        "action.grant": "同意", "action.withdraw": "撤回同意",
        "channel.web": "网站", "channel.app": "移动应用", "channel.wechat": "微信", "channel.phone": "电话", "channel.paper": "纸质表单",
        "channel.in_store": "门店",
        "from.collection": "自收集之日起算", "from.occurred_at": "自发生之日起算", "from.last_interaction": "自最近一次互动起算",
        "from.account_closure": "自注销账户起算", "from.end_of_year": "自发生当年年末起算",
        "unit.y": "{n} 年", "unit.m": "{n} 个月", "unit.w": "{n} 周", "unit.d": "{n} 天", "unit.wd": "{n} 个工作日", "unit.h": "{n} 小时",
    },
    "en": {
        "basis.consent": "consent", "basis.contract": "contract", "basis.legal_obligation": "legal obligation", "basis.vital_interest": "vital interests",
        "basis.public_interest": "public interest", "basis.legitimate_interest": "legitimate interest", "basis.publicly_available": "publicly available data",
        "action.grant": "granted", "action.withdraw": "withdrawn",
        "channel.web": "web", "channel.app": "app", "channel.wechat": "WeChat", "channel.phone": "phone", "channel.paper": "paper", "channel.in_store": "in store",
        "from.collection": "from collection", "from.occurred_at": "from when it happened", "from.last_interaction": "from your last interaction",
        "from.account_closure": "from account closure", "from.end_of_year": "from the end of the year it happened in",
        "unit.y": "{n} years", "unit.m": "{n} months", "unit.w": "{n} weeks", "unit.d": "{n} days", "unit.wd": "{n} working days", "unit.h": "{n} hours",
    },
}

def render(policy: Policy, lang: str, doc: dict[str, Any]) -> str:
    """summary.{lang}.txt of the access package whose data.json is `doc`."""
    s = _Say(policy, lang)
    w = s.words
    lines = [w["title"], w["ids"].format(request=doc["request_id"], subject=doc["subject"]["id"]), w["times"].format(zone=s.zone_name), "",
             f"## {w['fields']}"]
    lines += [f"- {f['label']}: {f['value']}" for f in doc["fields"]] or [f"- {w['none']}"]
    counts: dict[str, int] = {}
    for r in doc["records"]:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    lines += ["", f"## {w['records']}"] + ([f"- {s.record_type(t)}: {n}" for t, n in sorted(counts.items())] or [f"- {w['none']}"])
    lines += ["", f"## {w['purposes']}"]
    for p in doc["processing"]:
        rec = s.join(p["recipients"]) or w["none"]
        lines.append(f"- {p['label']} — {w['basis']}: {s.code('basis', p['legal_basis'])}（{s.citation(p['source'])}）；{w['recipients']}: {rec}"
                     if lang == "zh" else f"- {p['label']} — {w['basis']}: {s.code('basis', p['legal_basis'])} ({p['source']}); {w['recipients']}: {rec}")
    lines += ["", f"## {w['sources']}"] + [s.source(x) for x in doc["sources"]]
    lines += ["", f"## {w['consent']}"] + ([
        f"- {s.when(e['occurred_at'])} {s.purpose(e['purpose'])}: {s.code('action', e['action'])}（{w['via']} {s.code('channel', e['channel'])}）"
        if lang == "zh" else f"- {s.when(e['occurred_at'])} {s.purpose(e['purpose'])}: {s.code('action', e['action'])} ({w['via']} {s.code('channel', e['channel'])})"
        for e in doc["consent"]["events"]] or [f"- {w['none']}"])
    lines += ["", f"## {w['scope']}"] + (_scope_lines(s, doc["consent"].get("scope") or []) or [f"- {w['none']}"])
    lines += ["", f"## {w['disclosures']}"] + ([
        f"- {s.when(d['disclosed_at'])} → {d['recipient']['name']} ({d['recipient']['country']}): {s.fields(d['fields'])} "
        f"[{s.purpose(d['purpose'])}, {s.code('basis', d['basis'])}]" for d in doc["disclosures"]] or [f"- {w['none']}"])
    lines += ["", f"## {w['objections']}"] + ([
        f"- {s.when(o['recorded_at'])} {s.purpose(o['purpose'])}: "
        + (f"{w['lifted']}: {o['lifted_grounds']} ({s.when(o['lifted_at'])})" if o["lifted_at"] else w["standing"])
        for o in doc["objections"]
    ] or [f"- {w['none']}"])
    lines += ["", f"## {w['retention']}"] + ([s.retention(r) for r in doc["retention"]] or [f"- {w['none']}"])
    return "\n".join(lines) + "\n"


def _scope_lines(s: _Say, scope: list[dict[str, Any]]) -> list[str]:
    """Each consent as the person was told it: purpose, notice version, state, what data and records it covered, and to
    whom it let them be provided and on what terms."""
    w = s.words
    lines = []
    for c in scope:
        comma, semicolon, (open_, close) = ("，", "；", "（）") if s.lang == "zh" else (", ", "; ", ("(", ")"))
        lines.append(f"- {c['label']} — {w['notice_version']} {c['notice_version'] or '-'}{comma}{w.get(c['status'], c['status'])}"
                     f"{'' if s.lang == 'zh' else ' '}{open_}{w['given_at']} {s.when(c['given_at'])}{close}")
        lines.append(f"  {w['covered_fields']}: {s.fields(c['fields'])}{semicolon}{w['covered_records']}: "
                     f"{s.join(s.record_type(t) for t in c['record_types']) or w['none']}")
        if c["recipients"]:
            lines.append(f"  {w['provided_to']}: " + "; ".join(f"{r.get('name')} ({r.get('country')}, {r.get('contact')})" for r in c["recipients"]))
        if c["provision"]:
            p = c["provision"]
            lines.append(f"  {w['provision']}: {p.get('purpose')} / {p.get('method')} / {s.join(s.category(x) for x in p['data'])}")
    return lines


class _Say:
    """The words of one summary: labels from the policy's catalog, codes and dates in `lang`."""

    def __init__(self, policy: Policy, lang: str) -> None:
        self.policy, self.lang = policy, lang
        self.words, self.codes = WORDS[lang], CODES[lang]
        self.zone = ZoneInfo(policy.console.default_time_zone)
        offset = datetime.now(self.zone).strftime("%z")
        utc = f"UTC{offset[:3]}:{offset[3:]}"
        self.zone_name = (f"北京时间（{utc}）" if policy.console.default_time_zone in ("Asia/Shanghai", "Asia/Chongqing") else f"{utc} 时间") if lang == "zh" \
            else f"{policy.console.default_time_zone} ({utc})"

    def join(self, items) -> str:
        return ("、" if self.lang == "zh" else ", ").join(items)

    def code(self, family: str, value: str | None) -> str:
        return self.codes.get(f"{family}.{value}", value or "—")

    def when(self, value: str | datetime | None) -> str:
        """A date and time in the policy's time zone: 2026年12月5日 16:39 in Chinese, 2026-12-05 16:39 in English."""
        if value is None:
            return "—"
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        local = as_utc(moment).astimezone(self.zone)
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}" if self.lang == "zh" else local.strftime("%Y-%m-%d %H:%M")

    def purpose(self, name: str) -> str:
        p = self.policy.purposes.get(name)
        return (p.label.get(self.lang) if p is not None else None) or name

    def fields(self, names: list[str]) -> str:
        kinds = self.policy.catalog.fields
        return self.join(kinds[n].label.get(self.lang, n) if n in kinds else n for n in names) or self.words["none"]

    def record_type(self, name: str) -> str:
        kinds = self.policy.catalog.record_types
        return kinds[name].label.get(self.lang, name) if name in kinds else name

    def category(self, name: str) -> str:
        return self.policy.catalog.categories.get(name, {}).get(self.lang) or name

    def source(self, item: dict[str, Any]) -> str:
        what = item["what"]
        label = self.words["profile"] if what == "profile" else self.record_type(what.split(":", 1)[1]) if what.startswith("record:") else what
        if "collected_by" in item:
            by = item["collected_by"]
            return f"- {label}: {self.words['collected_by']} {self.words.get(by, by) if by in ('operator', 'unknown') else by}"
        return f"- {label}: {self.words['count'].format(n=item.get('count'))}"

    def retention(self, r: dict[str, Any]) -> str:
        names = self.fields(r["names"]) if r["applies_to"] == "fields" else self.join(self.record_type(n) for n in r["names"])
        kept = self.words["kept_for"].format(period=self.period(r["keep"]), start=self.code("from", r["counted_from"]))
        return f"- {names}: {kept} — {self.words['legal_reason']}: {self.reason(r)}"

    def period(self, keep: str) -> str:
        match = re.fullmatch(r"(\d+)(wd|y|m|w|d|h)", keep)
        return self.codes[f"unit.{match.group(2)}"].format(n=match.group(1)) if match else keep

    def reason(self, r: dict[str, Any]) -> str:
        """The rule's provision (retention.yaml legal_basis.text), in Chinese its form in policies/translations/zh.yaml."""
        return self.citation(r["legal_basis"])

    def citation(self, text: str) -> str:
        """A citation of the policy files (a purpose's `source`, a retention rule's legal basis) as a lawyer wrote it:
        in Chinese its form in policies/translations/zh.yaml, which start-up requires for every citation, so no
        English legal text is shown in Chinese and none is lost in a machine translation."""
        return self.policy.console.policy_texts.get(text, text) if self.lang == "zh" else text
