"""Versioned privacy notices, read from policies/notices/ at start-up: one folder per purpose (and one for the
general privacy policy) holding `versions.yaml` and the text of each version in zh and en.

A published text never changes: a change is a new version, and a version marked `requires_reconsent` (a new
purpose, method or category of data — PIPL Art. 14 ¶2) makes earlier grants stop counting once it is published.

Each version of a purpose's notice states the scope it announced (`scope`: fields, record types, processing method
and the terms of provision to recipients). The last version must announce what purposes.yaml says of the purpose
now, or govern refuses to start: a changed purpose needs a new notice version, and a consent covers only the scope of
the version it was given under (copied onto the consent when given, so a later edit of a file cannot widen it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import Schema, ValidationError, validate
from marshmallow import fields as ma

from govern.policy import PolicyError, flatten_errors

LANGUAGES = ("zh", "en")
# What purposes.yaml says of how a purpose processes data: the flags a notice announces as its processing method.
METHOD_FLAGS = ("automated_decisions", "provides_to_third_party", "public_disclosure", "cross_border", "sale_or_share")
PRIVACY_POLICY = "privacy_policy"  # the general notice (个人信息保护政策); not a purpose of its own
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


@dataclass(frozen=True)
class NoticeVersion:
    purpose: str
    version: str
    position: int  # order within the purpose's versions, oldest first
    published_at: datetime
    requires_reconsent: bool
    summary: Mapping[str, str]
    texts: Mapping[str, str]
    sha256: Mapping[str, str]  # per language, over the exact UTF-8 bytes of the file
    scope: Mapping[str, Any] | None = None  # what this version announced (scope_of); None for the privacy policy

    def is_published(self, now: datetime) -> bool:
        return self.published_at <= now


@dataclass(frozen=True)
class NoticeSet:
    purpose: str
    versions: tuple[NoticeVersion, ...]

    def get(self, version: str) -> NoticeVersion | None:
        return next((v for v in self.versions if v.version == version), None)

    def published(self, now: datetime) -> tuple[NoticeVersion, ...]:
        return tuple(v for v in self.versions if v.is_published(now))

    def current(self, now: datetime) -> NoticeVersion | None:
        published = self.published(now)
        return published[-1] if published else None

    def reconsent_after(self, version: str, now: datetime) -> NoticeVersion | None:
        """The first published later version that requires re-consent, if a grant under `version` is stale."""
        base = self.get(version)
        if base is None:
            return None
        return next((v for v in self.versions[base.position + 1:] if v.requires_reconsent and v.is_published(now)), None)

    def stale_versions(self, now: datetime) -> frozenset[str]:
        """Versions whose grants no longer count: every version before the last published re-consent version."""
        last = max((v.position for v in self.published(now) if v.requires_reconsent), default=0)
        return frozenset(v.version for v in self.versions[:last])


@dataclass(frozen=True)
class NoticeBook:
    sets: Mapping[str, NoticeSet]

    def for_purpose(self, purpose: str) -> NoticeSet | None:
        return self.sets.get(purpose)


class _VersionSchema(Schema):
    version = ma.Str(required=True, validate=validate.Regexp(_VERSION, error="1–32 letters, digits, '.', '_' or '-'"))
    published_at = ma.AwareDateTime(required=True)
    requires_reconsent = ma.Bool(load_default=False)
    summary = ma.Dict(keys=ma.Str(validate=validate.OneOf(LANGUAGES)), values=ma.Str(), load_default=dict)
    scope = ma.Nested(lambda: _ScopeSchema(), load_default=None)


class _ScopeSchema(Schema):
    fields = ma.List(ma.Str(), required=True)
    record_types = ma.List(ma.Str(), required=True)
    method = ma.List(ma.Str(validate=validate.OneOf(METHOD_FLAGS)), load_default=list)
    provision = ma.Dict(load_default=None, allow_none=True)


class _ProvisionSchema(Schema):
    """What a separate consent to provide, disclose or transfer data must tell of the recipient's processing (PIPL
    Art. 23, 25, 39): its purpose, method and the kinds of data; for a transfer abroad also how the person exercises
    their rights against the overseas recipient. The recipient's identity and contact come from its registration."""

    purpose = ma.Dict(keys=ma.Str(validate=validate.OneOf(LANGUAGES)), values=ma.Str(validate=validate.Length(min=1)), required=True)
    method = ma.Dict(keys=ma.Str(validate=validate.OneOf(LANGUAGES)), values=ma.Str(validate=validate.Length(min=1)), required=True)
    data = ma.List(ma.Str(validate=validate.Length(min=1)), required=True, validate=validate.Length(min=1))
    rights = ma.Dict(keys=ma.Str(validate=validate.OneOf(LANGUAGES)), values=ma.Str(validate=validate.Length(min=1)), load_default=None)
    source = ma.Str(required=True, validate=validate.Length(min=1))


def scope_of(purpose: Any) -> dict[str, Any]:
    """The scope of a purpose as purposes.yaml states it now, in the form a notice version records it."""
    return {
        "fields": sorted(purpose.fields),
        "record_types": sorted(purpose.record_types),
        "method": sorted(f for f in METHOD_FLAGS if getattr(purpose, f)),
        "provision": dict(purpose.provision) if purpose.provision else None,
    }


def scope_changes(announced: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """What differs between a notice version's scope and the purpose's scope now, in words (empty: the same)."""
    out = []
    for key in ("fields", "record_types", "method"):
        added = sorted(set(now[key]) - set(announced.get(key) or []))
        removed = sorted(set(announced.get(key) or []) - set(now[key]))
        if added:
            out.append(f"{key} added: {', '.join(added)}")
        if removed:
            out.append(f"{key} removed: {', '.join(removed)}")
    if (announced.get("provision") or None) != (now["provision"] or None):
        out.append("provision (recipients' purpose, method, data or rights) changed")
    return out


def provision_categories(kinds: Any, catalog: Any) -> frozenset[str]:
    """The catalog categories a provision's kinds of data stand for: a category names itself, a field or record type
    its category (catalog.yaml). Unknown kinds stand for nothing (the policy loader refuses them: `check_data_kinds`)."""
    out = set()
    for kind in kinds or ():
        if kind in catalog.categories:
            out.add(kind)
        elif kind in catalog.fields:
            out.add(catalog.fields[kind].category)
        elif kind in catalog.record_types:
            out.add(catalog.record_types[kind].category)
    return frozenset(out)


def check_data_kinds(kinds: Any, fields: Any, record_types: Any, catalog: Any, where: str, whose: str) -> None:
    """A provision's kinds of data are known to the data catalog (a category, field or record type of catalog.yaml)
    and are data the purpose processes (its fields and record types): a person cannot be asked to agree to the
    provision of data that is not defined, or that the purpose never holds."""
    unknown = [k for k in kinds if k not in catalog.categories and k not in catalog.fields and k not in catalog.record_types]
    if unknown:
        raise PolicyError(
            f"{where}.data: unknown data kind(s) {', '.join(repr(k) for k in unknown)}: name a category, field or record type "
            f"of catalog.yaml (categories: {', '.join(sorted(catalog.categories))})"
        )
    used = {catalog.fields[f].category for f in fields if f in catalog.fields} | {
        catalog.record_types[r].category for r in record_types if r in catalog.record_types
    }
    outside = [k for k in kinds if (k in catalog.fields and k not in fields) or (k in catalog.record_types and k not in record_types)
               or (k in catalog.categories and k not in used)]
    if outside:
        raise PolicyError(
            f"{where}.data: {', '.join(repr(k) for k in outside)} not among the data {whose} uses (its fields and record_types: "
            f"categories {', '.join(sorted(used)) or 'none'})"
        )


def check_provision(purpose: Any, catalog: Any = None) -> None:
    """A purpose that provides data to another handler, discloses it publicly or transfers it abroad states what the
    separate consent must tell of the recipient's processing; a transfer abroad also how rights are exercised there.
    With the catalog, its kinds of data are checked against it (`check_data_kinds`)."""
    where = f"purposes.yaml: purposes.{purpose.name}.provision"
    kinds = [k for k in ("provides_to_third_party", "public_disclosure", "cross_border") if getattr(purpose, k)]
    if not kinds:
        if purpose.provision:
            raise PolicyError(f"{where}: only for a purpose that provides, discloses or transfers data (PIPL Art. 23, 25, 39)")
        return
    if not purpose.provision:
        raise PolicyError(
            f"{where}: required ({', '.join(kinds)}): the recipient's purpose, processing method and kinds of data "
            "(and for a transfer abroad how rights are exercised) must be named to the person (PIPL Art. 23, 25, 39)"
        )
    try:
        doc = _ProvisionSchema().load(dict(purpose.provision))
    except ValidationError as exc:
        raise PolicyError(f"{where}: " + "; ".join(flatten_errors(exc.messages))) from None
    for key in ("purpose", "method") + (("rights",) if purpose.cross_border else ()):
        missing = [lang for lang in LANGUAGES if not (doc.get(key) or {}).get(lang)]
        if missing:
            why = " (PIPL Art. 39: how the person exercises their rights against the overseas recipient)" if key == "rights" else ""
            raise PolicyError(f"{where}.{key}: required in {', '.join(missing)}{why}")
    if catalog is not None:
        check_data_kinds(doc["data"], purpose.fields, purpose.record_types, catalog, where, f"'{purpose.name}'")


class _VersionsFileSchema(Schema):
    version = ma.Int(required=True, validate=validate.Equal(1))
    versions = ma.List(ma.Nested(_VersionSchema), required=True, validate=validate.Length(min=1))


def needs_notice(purpose: Any, jurisdictions: Mapping[str, Any]) -> bool:
    """A purpose that can rest on consent (or be opted out of) must be explained in a published notice."""
    return purpose.sale_or_share or any(purpose.basis_for(code) == "consent" for code in jurisdictions)


def load_notices(directory: Path, purposes: Mapping[str, Any], jurisdictions: Mapping[str, Any], catalog: Any = None) -> NoticeBook:
    """Reads every notice folder; raises PolicyError naming the file, key and problem. With the data catalog, the kinds
    of data each provision names (purposes.yaml and every notice version's scope) are checked against it."""
    if not directory.is_dir():
        raise PolicyError(f"{directory}: notices directory is missing")
    for purpose in purposes.values():
        check_provision(purpose, catalog)
    sets: dict[str, NoticeSet] = {}
    for index in sorted(directory.glob("*/versions.yaml")):
        folder = index.parent
        name = folder.name
        where = f"notices/{name}/versions.yaml"
        if name != PRIVACY_POLICY and name not in purposes:
            raise PolicyError(f"{where}: '{name}' is neither a purpose in purposes.yaml nor {PRIVACY_POLICY}")
        try:
            doc = yaml.safe_load(index.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise PolicyError(f"{where}: not valid YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise PolicyError(f"{where}: expected a mapping at the top level")
        try:
            doc = _VersionsFileSchema().load(doc)
        except ValidationError as exc:
            raise PolicyError(f"{where}: " + "; ".join(flatten_errors(exc.messages))) from None
        versions: list[NoticeVersion] = []
        for i, v in enumerate(doc["versions"]):
            key = f"{where}: versions[{i}]"
            if any(p.version == v["version"] for p in versions):
                raise PolicyError(f"{key}.version: '{v['version']}' is listed twice")
            if versions and v["published_at"] <= versions[-1].published_at:
                raise PolicyError(f"{key}.published_at: must be later than the version before it")
            if i == 0 and v["requires_reconsent"]:
                raise PolicyError(f"{key}.requires_reconsent: the first version has nothing to re-consent to")
            scope = None
            if name != PRIVACY_POLICY:
                if v["scope"] is None:
                    raise PolicyError(
                        f"{key}.scope: required: the fields, record_types, method and provision this version announced "
                        "(PIPL Art. 14 ¶2: a consent covers what its notice said)"
                    )
                scope = {
                    "fields": sorted(set(v["scope"]["fields"])), "record_types": sorted(set(v["scope"]["record_types"])),
                    "method": sorted(set(v["scope"]["method"])), "provision": v["scope"]["provision"] or None,
                }
                provided = (scope["provision"] or {}).get("data")
                if catalog is not None and provided is not None:
                    if not isinstance(provided, list) or not all(isinstance(k, str) for k in provided):
                        raise PolicyError(f"{key}.scope.provision.data: a list of data kinds")
                    check_data_kinds(provided, scope["fields"], scope["record_types"], catalog, f"{key}.scope.provision", "the version's scope")
            texts, digests = {}, {}
            for lang in LANGUAGES:
                path = folder / f"{v['version']}.{lang}.md"
                if not path.is_file():
                    raise PolicyError(f"notices/{name}/{path.name}: file is missing (every version exists in zh and en)")
                raw = path.read_bytes()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise PolicyError(f"notices/{name}/{path.name}: not UTF-8") from None
                if not text.strip():
                    raise PolicyError(f"notices/{name}/{path.name}: empty")
                texts[lang], digests[lang] = text, hashlib.sha256(raw).hexdigest()
            versions.append(NoticeVersion(
                purpose=name, version=v["version"], position=i, published_at=v["published_at"],
                requires_reconsent=v["requires_reconsent"], summary=v["summary"], texts=texts, sha256=digests,
                scope=scope,
            ))
        listed = {f"{v.version}.{lang}.md" for v in versions for lang in LANGUAGES} | {"versions.yaml"}
        strays = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in listed and not p.name.startswith("."))
        if strays:
            raise PolicyError(f"notices/{name}/{strays[0]}: not a version listed in versions.yaml (a draft belongs elsewhere)")
        if name != PRIVACY_POLICY:
            latest = versions[-1]
            assert latest.scope is not None
            changed = scope_changes(latest.scope, scope_of(purposes[name]))
            if changed:
                raise PolicyError(
                    f"{where}: purpose '{name}' changed in purposes.yaml after notice version {latest.version}: "
                    f"{'; '.join(changed)}. Publish a new notice version announcing it (its scope as purposes.yaml says "
                    "now); consents under earlier versions keep covering only what those said (PIPL Art. 14 ¶2)"
                )
        sets[name] = NoticeSet(purpose=name, versions=tuple(versions))
    if PRIVACY_POLICY not in sets:
        raise PolicyError(f"notices/{PRIVACY_POLICY}/versions.yaml: file is missing (the privacy policy must be published)")
    for name, purpose in purposes.items():
        if needs_notice(purpose, jurisdictions) and name not in sets:
            raise PolicyError(f"notices/{name}/versions.yaml: file is missing ('{name}' rests on consent and needs a notice)")
    return NoticeBook(sets=sets)
