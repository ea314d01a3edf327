"""policies/alerts.yaml refuses to start on a recipient nobody can reach, a message missing in a language, or a
placeholder that could carry more than ids, types, counts and times, naming the key."""

from __future__ import annotations

import pytest

from govern.alerts.policy import load_alert_policy
from govern.policies import load_policy
from govern.policy import PolicyError


def _edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_policy_loads_with_every_message_in_both_languages(policies):
    alerts = load_policy(policies).alerts
    assert alerts.levels("incident") == ("clock_50", "clock_90", "expired")
    assert {lang for _, lang in alerts.messages} == {"zh", "en"} and len(alerts.messages) == 2 * 8
    assert alerts.recipients == ()  # nobody is told until the rota is listed


@pytest.mark.parametrize(("old", "new", "error"), [
    ("  recipients: []", "  recipients: [{name: dpo, language: zh, kinds: [request]}]", r"alerts\.recipients\.0: an email or a webhook"),
    ("  recipients: []", "  recipients: [{name: dpo, language: fr, email: a@example.com, kinds: [request]}]", r"recipients.*language"),
    ('      en: {subject: "[govern] Data-subject request overdue', '      xx: {subject: "[govern] Data-subject request overdue', r"language|xx"),
    ("Request {id} ({type}, {jurisdiction}) was due at {due_at}", "Request {id} for {name} was due at {due_at}",
     r"alerts\.messages\.request\.overdue\.en\.body: unknown placeholder name"),
    ("levels: [50, 90]", "levels: [90, 50]", r"alerts\.incidents\.levels"),
    ("levels: [50, 90]", "levels: [50, 75, 90]", r"alerts\.messages\.incident\.clock_75\.zh: required"),
])
def test_a_bad_alerts_policy_refuses_to_start_naming_the_key(policies, old, new, error):
    _edit(policies / "alerts.yaml", old, new)
    with pytest.raises(PolicyError, match=error):
        load_alert_policy(policies)
