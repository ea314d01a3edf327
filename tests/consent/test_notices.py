"""Privacy notices are published per purpose and language from policies/notices/, served publicly, and every
published version stays retrievable; a broken notice folder stops start-up with a message naming file and key."""

import hashlib
import shutil

import pytest

from govern.config import PROJECT_ROOT
from govern.policies import load_policy
from govern.policy import PolicyError


def test_the_current_notice_is_served_without_a_key(app):
    r = app.test_client().get("/api/v1/notices/marketing?lang=zh")
    assert r.status_code == 200, r.json
    body = r.json
    assert (body["purpose"], body["version"], body["language"], body["current"]) == ("marketing", "2026-06", "zh", True)
    raw = (PROJECT_ROOT / "policies/notices/marketing/2026-06.zh.md").read_bytes()
    assert body["text"] == raw.decode() and body["sha256"] == hashlib.sha256(raw).hexdigest()
    assert set(body) >= {"purpose", "version", "language", "text", "sha256", "published_at", "requires_reconsent"}


def test_an_earlier_version_stays_retrievable_in_each_language(app):
    r = app.test_client().get("/api/v1/notices/marketing?lang=en&version=2026-01")
    assert r.status_code == 200
    assert (r.json["version"], r.json["language"], r.json["current"]) == ("2026-01", "en", False)
    assert r.json["text"].startswith("# Marketing notice")


def test_the_privacy_policy_is_published(app):
    r = app.test_client().get("/api/v1/notices/privacy_policy?lang=en")
    assert r.status_code == 200 and "Privacy policy" in r.json["text"]
    index = app.test_client().get("/api/v1/notices").json["items"]
    assert {"privacy_policy", "marketing", "partner_marketing"} <= {n["purpose"] for n in index}


@pytest.mark.parametrize(("url", "status"), [
    ("/api/v1/notices/astrology?lang=zh", 404),
    ("/api/v1/notices/marketing?lang=zh&version=1999-01", 404),
    ("/api/v1/notices/marketing?lang=fr", 400),
])
def test_an_unknown_notice_or_language_is_a_problem(app, url, status):
    r = app.test_client().get(url)
    assert r.status_code == status and r.mimetype == "application/problem+json"


@pytest.fixture
def policy_copy(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", root)
    return root


def test_a_missing_translation_stops_start_up(policy_copy):
    (policy_copy / "notices/marketing/2026-06.en.md").unlink()
    with pytest.raises(PolicyError, match=r"notices/marketing/2026-06.en.md: file is missing"):
        load_policy(policy_copy)


def test_a_consent_purpose_without_a_notice_stops_start_up(policy_copy):
    shutil.rmtree(policy_copy / "notices/personalisation")
    with pytest.raises(PolicyError, match=r"notices/personalisation/versions.yaml: file is missing"):
        load_policy(policy_copy)


def test_an_unlisted_notice_file_stops_start_up(policy_copy):
    (policy_copy / "notices/marketing/draft.zh.md").write_text("draft", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"notices/marketing/draft.zh.md: not a version listed"):
        load_policy(policy_copy)


def test_the_privacy_policy_must_be_published(policy_copy):
    shutil.rmtree(policy_copy / "notices/privacy_policy")
    with pytest.raises(PolicyError, match="privacy policy must be published"):
        load_policy(policy_copy)


def test_a_missing_controller_stops_start_up(policy_copy):
    (policy_copy / "controller.yaml").unlink()
    with pytest.raises(PolicyError, match="controller.yaml: file is missing"):
        load_policy(policy_copy)
