"""Factories for sharing tests: a registered recipient, and a separate consent that names it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest


@pytest.fixture
def privacy(client_as):
    return client_as("privacy_staff")


@pytest.fixture
def recipient_body():
    def body(**over):
        return {
            "name": "Partner Brand Ltd", "contact": "privacy@partner.example", "purpose": "partner_marketing",
            "categories": ["basic_identity", "contact"], "country": "CN", "agreement_ref": "DSA-2026-007",
            "agreement_expires_on": (date.today() + timedelta(days=365)).isoformat(), **over,
        }

    return body


@pytest.fixture
def make_recipient(privacy, recipient_body):
    def make(**over) -> str:
        r = privacy.post("/api/v1/recipients", json=recipient_body(**over))
        assert r.status_code == 201, r.json
        return r.json["id"]

    return make


@pytest.fixture
def separate_grant(client_as):
    crm = client_as("sales_service")

    def grant(sid, recipients, purpose="partner_marketing"):
        r = crm.post(f"/api/v1/subjects/{sid}/consents", json={
            "action": "grant", "purpose": purpose, "notice_version": "2026-01", "channel": "app", "evidence": "form-9",
            "separate": True, "recipients": list(recipients),
        })
        assert r.status_code == 201, r.json
        return r.json

    return grant
