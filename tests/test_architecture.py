"""The layers of docs/architecture.md hold in the code: the import-linter contract passes, no import cycle
exists among govern's modules, and the picture in docs/architecture.md is the one the code draws."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent

def _graph():
    return grimp.build_graph("govern", cache_dir=None, exclude_type_checking_imports=True)


def _cycles(graph) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    adjacent = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in adjacent:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for j in range(i, len(adjacent[node])):
                nxt = adjacent[node][j]
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return found


def test_the_import_graph_keeps_the_layers_contract():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_no_import_cycle_among_govern_modules():
    """No module of govern imports, directly or through others, one that imports it back (lazy imports counted): the
    last cycles went with issue 15 — breach's board, letters and service, and the command group with the requests
    commands (`initialise` lives in govern/cli_support.py)."""
    cycles = [sorted(c) for c in _cycles(_graph())]
    assert cycles == [], f"import cycles the layers forbid: {cycles}"


def test_the_read_rule_services_import_each_other_in_one_direction_only():
    """The seven modules that used to import each other (hiding it inside functions) form no cycle now, lazy imports
    counted: access asks consent and subjects' facts; consent, sharing, identity and audit never ask access."""
    graph = _graph()
    for lower, upper in (
        ("govern.consent.service", "govern.access.service"), ("govern.subjects.facts", "govern.access.service"),
        ("govern.subjects.erasure", "govern.access.service"), ("govern.identity.service", "govern.access.service"),
        ("govern.audit.service", "govern.access.service"), ("govern.consent.service", "govern.sharing.service"),
        ("govern.audit.service", "govern.consent.service"), ("govern.audit.service", "govern.identity.service"),
    ):
        assert graph.find_shortest_chain(importer=lower, imported=upper) is None, (lower, upper)


def _drawing():
    spec = importlib.util.spec_from_file_location("architecture_graph", ROOT / "docs" / "architecture_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_picture_in_docs_architecture_is_current():
    drawing = _drawing()
    assert drawing.current() == drawing.block(), "docs/architecture.md's picture is stale: run .venv/bin/python docs/architecture_graph.py --write"


_IGNORED = """[importlinter:contract:layers]
ignore_imports =
    # HTTP routes are the API layer, above every domain.
    govern.*.api -> govern.access.service
    # TODO(issue 15 item 3): crypto-shredding deletes consent's objections too: a flow above subjects and consent.
    govern.subjects.erasure -> govern.consent.objections

[importlinter:contract:entry-points]
"""


def test_an_arrow_against_the_layers_is_labelled_todo_or_allowed_by_the_comment_on_its_ignore_line():
    drawing = _drawing()
    listed = drawing.exceptions(_IGNORED)
    route, todo = ("govern.subjects.api", "govern.access.service"), ("govern.subjects.erasure", "govern.consent.objections")
    assert drawing.kind({route}, listed) == "allowed"
    assert drawing.kind({route, todo}, listed) == "TODO"  # one import still to remove makes the arrow a TODO
    assert drawing.kind({("govern.subjects.facts", "govern.access.service")}, listed) == "not listed"


# The HTTP layer builds problem+json itself: routes, the app and its request hooks, the console's pages, the commands.
_HTTP_LAYER = ("api.py", "api_support.py", "app.py", "errors.py", "input_limits.py", "ratelimit.py", "idempotency.py", "cli.py", "cli_support.py")


def _builds_problem(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (getattr(node.func, "id", None) == "Problem" or getattr(node.func, "attr", None) == "Problem")
    ]


def test_services_raise_domain_errors_and_only_the_http_layer_builds_problems():
    """A service says what went wrong in its domain's words (`Conflict`, `SubjectErased`, ...); the status, the type and
    the problem+json body are chosen in one place (govern/errors.py), not by each service."""
    found = {}
    for path in sorted((ROOT / "govern").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if path.name in _HTTP_LAYER or path.name.startswith("cli") or rel.startswith("govern/console/"):
            continue
        if lines := _builds_problem(path):
            found[rel] = lines
    assert found == {}, f"services building Problem(...) instead of raising a domain error: {found}"
