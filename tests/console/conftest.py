"""Console fixtures: staff accounts, a signed-in Flask test client, and (for the browser tests) the app served by a
real WSGI server on 127.0.0.1 against the same test database."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import STAFF_PASSWORD as PASSWORD  # make_staff is in tests/conftest.py

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@dataclass
class ConsoleClient:
    client: Any
    name: str
    csrf: str

    def get(self, url, **kw):
        return self.client.get(url, headers={"Accept": "text/html", **kw.pop("headers", {})}, **kw)

    def post(self, url, data=None, csrf: bool = True, **kw):
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.csrf)
        return self.client.post(url, data=form, headers={"Accept": "text/html", **kw.pop("headers", {})}, **kw)


def erasure_preview_kept(c: ConsoleClient, request_id) -> dict[str, str]:
    """The "what will be kept" section of an erasure's preview page, as the signed-in user reads it in zh and in en."""
    kept = {}
    for lang in ("zh", "en"):
        c.post("/console/preferences", {"language": lang})
        preview = c.get(f"/console/requests/{request_id}/erasure").get_data(as_text=True)
        kept[lang] = preview.split('id="preview-kept"')[1].split("</section>")[0]
    return kept


# What a kept item's reason shows beside its words: data-code="<rule or obligation>">(<its label>)
KEPT_BECAUSE = r'<span class="muted" data-code="([a-z_:]+)">\((.+?)\)</span>'


def sign_in(client, name: str, password: str = PASSWORD):
    page = client.get("/console/sign-in", headers={"Accept": "text/html"})
    return client.post("/console/sign-in", data={"csrf_token": csrf_of(page.get_data(as_text=True)), "name": name, "password": password},
                       headers={"Accept": "text/html"})


@pytest.fixture
def console_as(app, make_staff):
    """console_as("privacy_staff") → a test client signed in to the console as a new staff member of that role."""

    def make(*roles: str) -> ConsoleClient:
        principal = make_staff(*roles)
        client = app.test_client()
        r = sign_in(client, principal.name)
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        home = client.get("/console/", headers={"Accept": "text/html"})
        return ConsoleClient(client, principal.name, csrf_of(home.get_data(as_text=True)))

    return make


# --- a real server for the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def live_server(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="console-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    import os
    import shutil

    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must run the browser tests (.ci/run installs the Debian package chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI=true makes this a failure")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("the playwright package is missing: pip install -e '.[test]'")
        pytest.skip("the playwright package is missing (pip install -e '.[test]')")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1366, "height": 768}, accept_downloads=True,
                                  locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    context.close()
