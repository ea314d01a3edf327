"""Regenerates tests/proof/authorisation_matrix.yaml from the app's URL map × every role of policies/roles.yaml (and
anonymous), for review. The test (test_authorisation_matrix.py) holds the live app to the FILE, not to this script:
a new route without an entry, a dropped route, or a changed answer fails until the file is regenerated and the
difference reviewed.

    .venv/bin/python -m tests.proof.make_matrix          # rewrite the file
    .venv/bin/python -m tests.proof.make_matrix --check  # exit 1 if the file differs from the current routes/roles

Answer classes (what the guard in govern/identity/guard.py answers before any handler runs):
  allow   the request passes the guard: anything but 401 and 403 permission_denied/route_not_authorised
          (a 400, 404 or a purpose refusal from the handler is still `allow`)
  deny    403 permission_denied: authenticated, but no role of the principal grants the route's permission
  unauth  401: no credential (anonymous)
  public  the route is declared @public: nobody is asked for a credential
  closed  403 route_not_authorised: the route declares no access rule, so the guard refuses everyone
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import yaml

MATRIX = Path(__file__).with_name("authorisation_matrix.yaml")
ANONYMOUS = "anonymous"
IGNORED_METHODS = {"HEAD", "OPTIONS"}

HEADER = """\
# The authorisation matrix: for every route (method + rule of the URL map) the answer class each role gets.
# Reviewed like code. tests/proof/test_authorisation_matrix.py makes a real request per cell as a principal of that
# role (API key; staff roles use a signed-in console session on /console routes) and compares the answer with this
# file. Regenerate after a deliberate change with `.venv/bin/python -m tests.proof.make_matrix` and review the diff.
# Classes: allow | deny (403 permission_denied) | unauth (401) | public (@public) | closed (403 route_not_authorised).
"""


def routes(app) -> dict[str, dict]:
    """'METHOD /rule' → endpoint and the access it declares (a Permission string, "public", or None)."""
    from govern.identity.guard import declared_access

    out = {}
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            access = declared_access(app, rule.endpoint)
            out[f"{method} {rule.rule}"] = {"endpoint": rule.endpoint, "declares": None if access is None else str(access)}
    return dict(sorted(out.items(), key=lambda kv: (kv[0].split(" ", 1)[1], kv[0])))


def expected_answer(policy, role: str, declares: str | None) -> str:
    if declares is None:
        return "closed"
    if declares == "public":
        return "public"
    if role == ANONYMOUS:
        return "unauth"
    return "allow" if declares in {str(p) for p in policy.roles[role].permissions} else "deny"


def roles_of(policy) -> list[str]:
    return [*sorted(policy.roles), ANONYMOUS]


def build(app, policy) -> dict:
    roles = roles_of(policy)
    return {
        "roles": roles,
        "routes": {
            key: {**info, "expect": {role: expected_answer(policy, role, info["declares"]) for role in roles}}
            for key, info in routes(app).items()
        },
    }


def render(matrix: dict) -> str:
    lines = [HEADER, f"roles: [{', '.join(matrix['roles'])}]", "routes:"]
    for key, entry in matrix["routes"].items():
        lines.append(f"  {key}:")
        lines.append(f"    endpoint: {entry['endpoint']}")
        lines.append(f"    declares: {entry['declares'] if entry['declares'] is not None else 'null  # no rule: refused'}")
        lines.append("    expect: {" + ", ".join(f"{role}: {answer}" for role, answer in entry["expect"].items()) + "}")
    return "\n".join(lines) + "\n"


def load() -> dict:
    return yaml.safe_load(MATRIX.read_text(encoding="utf-8"))


def scratch_app():
    """The app as `govern serve` builds it, on a scratch SQLite database (the URL map does not depend on the data)."""
    from govern.app import create_app
    from govern.cli_support import initialise
    from govern.config import PROJECT_ROOT, Settings
    from govern.runtime import build_runtime

    home = Path(tempfile.mkdtemp(prefix="govern-matrix-"))
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'govern.db'}", policies_dir=PROJECT_ROOT / "policies", log_level="WARNING")
    initialise(settings)
    runtime = build_runtime(settings)
    return create_app(runtime=runtime), runtime


def main(argv: list[str]) -> int:
    app, runtime = scratch_app()
    text = render(build(app, runtime.policy))
    if "--check" in argv:
        same = MATRIX.exists() and MATRIX.read_text(encoding="utf-8") == text
        print("authorisation_matrix.yaml is current" if same else "authorisation_matrix.yaml differs from the routes and roles: regenerate and review")
        return 0 if same else 1
    MATRIX.write_text(text, encoding="utf-8")
    print(f"wrote {MATRIX} ({len(build(app, runtime.policy)['routes'])} routes × {len(roles_of(runtime.policy))} roles)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
