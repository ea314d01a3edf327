"""Permissions as `<scope>:<resource>:<action>` strings; roles in policies/roles.yaml grant them, routes require them."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    SUBJECTS_CREATE = "subjects:profile:create"
    SUBJECTS_READ = "subjects:profile:read"
    SUBJECTS_UPDATE = "subjects:profile:update"
    SUBJECTS_LOOKUP = "subjects:profile:lookup"
    RECORDS_CREATE = "subjects:record:create"
    RECORDS_READ = "subjects:record:read"
    PRINCIPALS_READ = "principals:principal:read"
    PRINCIPALS_MANAGE = "principals:principal:manage"
    KEYS_ROTATE = "keys:master:rotate"
    AUDIT_READ = "audit:event:read"
