"""The console's blueprint with every page, the one the app registers: the frame, look-up, access review and audit log
(views.py) and each other domain's pages (pages_<domain>.py), which add their routes and home panels to views.blp
when imported.

Every domain ships with govern, so each pages module is imported by name: one that fails to import stops the app
instead of leaving its pages out. They import views, never the other way round, so no cycle joins them.
"""

from __future__ import annotations

from govern.console import (
    pages_breach,
    pages_calendar,
    pages_consent,
    pages_processing,
    pages_reports,
    pages_requests,
    pages_retention,
    pages_webhooks,
    views,
)

PAGES = (views, pages_requests, pages_retention, pages_consent, pages_breach, pages_webhooks, pages_processing, pages_reports, pages_calendar)

blp = views.blp
