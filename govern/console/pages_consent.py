"""Console page for consent and sharing: consent figures per purpose and notice version (govern/consent/reports.py)
and third-party recipients with their data-security agreements, expiring ones first (govern/sharing/service.py)."""

from __future__ import annotations

from govern.api_support import current_call
from govern.consent import reports
from govern.identity.guard import requires
from govern.identity.permissions import Permission
from govern.sharing import service as sharing
from govern.timeutil import utcnow

from .views import HOME_PANELS, blp, may, page


def _figures():
    return reports.figures(**current_call().services())


def _home_panel():
    return _figures() if may(Permission.CONSOLE_CONSENT) else None


HOME_PANELS.append(("consent", _home_panel))


@blp.route("/consent", methods=["GET"])
@requires(Permission.CONSOLE_CONSENT)
def consent_overview():
    recipients = sorted(sharing.list_recipients(session=current_call().session), key=lambda r: r.agreement_expires_on)
    return page("consent.html", figures=_figures(), recipients=recipients, today=utcnow().date())
