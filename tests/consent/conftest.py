"""Factories for consent tests: record a grant or withdrawal through the API, publish a changed notice."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import pytest
import yaml

from govern.timeutil import utcnow


def current_version(runtime, purpose: str) -> str:
    return runtime.policy.notices.for_purpose(purpose).current(utcnow()).version


@pytest.fixture
def crm(client_as):
    """A CRM component that records consent (sales_service)."""
    return client_as("sales_service")


@pytest.fixture
def marketing(client_as):
    return client_as("marketing_service")


@pytest.fixture
def consent(runtime):
    """consent(client, sid, action="grant", purpose="marketing", **body) → the response."""

    def post(client, sid, action: str = "grant", purpose: str | None = "marketing", **body):
        payload = {"action": action, "channel": "app", **body}
        if purpose is not None and "purposes" not in body:
            payload["purpose"] = purpose
        if action == "grant":
            payload.setdefault("evidence", "form-2026-0001")
            if "notice_version" not in body:
                names = body.get("purposes") or [purpose]
                payload["notice_version"] = {n: current_version(runtime, n) for n in names if n in runtime.policy.purposes}
        return client.post(f"/api/v1/subjects/{sid}/consents", json=payload)

    return post


def years_ago(years: int, days: int = 0) -> str:
    today = date.today()
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    return (born - timedelta(days=days)).isoformat()


def add_purpose_fields(root, purpose: str, fields: tuple[str, ...]) -> None:
    """Adds fields to a purpose in the policies/ copy at `root` (its notice is not touched)."""
    path = root / "purposes.yaml"
    lines = path.read_text(encoding="utf-8").split("\n")
    start = lines.index(f"  {purpose}:")
    at = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("    fields: ["))
    listed = lines[at].split("[", 1)[1].split("]", 1)[0]
    lines[at] = f"    fields: [{listed}, {', '.join(fields)}]"
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture
def publish_notice(runtime, tmp_path, monkeypatch):
    """publish_notice("marketing", requires_reconsent=True) → the new version, in force from now on.

    Copies policies/ to a temporary folder, appends a version with its zh/en texts, loads the result the way
    start-up does and swaps it into the running app."""
    from govern.policies import load_policy

    def publish(purpose: str, *, requires_reconsent: bool, version: str = "2026-11", add_fields: tuple[str, ...] = ()) -> str:
        """`add_fields`: the purpose uses these fields too from now on (purposes.yaml), and the new version says so."""
        root = tmp_path / "policies"
        if not root.exists():
            shutil.copytree(runtime.settings.policies_dir, root)
        if add_fields:
            add_purpose_fields(root, purpose, add_fields)
        folder = root / "notices" / purpose
        index = yaml.safe_load((folder / "versions.yaml").read_text(encoding="utf-8"))
        scope = dict(index["versions"][-1]["scope"])
        scope["fields"] = sorted(set(scope["fields"]) | set(add_fields))
        index["versions"].append({
            "version": version, "published_at": (utcnow() - timedelta(minutes=1)).isoformat(),
            "requires_reconsent": requires_reconsent, "summary": {"zh": "新增处理目的", "en": "A new purpose added"},
            "scope": scope,
        })
        (folder / "versions.yaml").write_text(yaml.safe_dump(index, allow_unicode=True), encoding="utf-8")
        (folder / f"{version}.zh.md").write_text("# 营销推广告知（修订）\n\n新增：向您推送基于位置的优惠。\n", encoding="utf-8")
        (folder / f"{version}.en.md").write_text("# Marketing notice (revised)\n\nNew: location-based offers.\n", encoding="utf-8")
        monkeypatch.setattr(runtime, "policy", load_policy(root))
        return version

    return publish


@pytest.fixture
def replace_purpose(runtime, monkeypatch):
    """replace_purpose("marketing", separate_consent=True) → swaps a changed purpose into the running policy."""
    import dataclasses

    def swap(name: str, **changes):
        policy = runtime.policy
        purposes = dict(policy.purposes)
        purposes[name] = dataclasses.replace(purposes[name], **changes)
        monkeypatch.setattr(runtime, "policy", dataclasses.replace(policy, purposes=purposes))

    return swap
