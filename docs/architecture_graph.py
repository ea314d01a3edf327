"""Draws docs/architecture.md's picture of the layers from the code: the layers of the import-linter contract
(.importlinter) and the imports between govern's packages (grimp, as import-linter reads them).

    .venv/bin/python docs/architecture_graph.py          # print the mermaid block
    .venv/bin/python docs/architecture_graph.py --write  # put it into docs/architecture.md

tests/test_architecture.py fails when the block in docs/architecture.md is not what this prints."""

from __future__ import annotations

import argparse
import configparser
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the govern of this checkout, whatever the venv has installed

import grimp  # noqa: E402

DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- architecture-graph: begin (docs/architecture_graph.py --write) -->", "<!-- architecture-graph: end -->"


def layers(present: set[str]) -> list[list[str]]:
    """The layers of the contract, bottom first, each a list of top-level modules (an optional one, in parentheses,
    only where it exists)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    lines = [line.strip() for line in config["importlinter:contract:layers"]["layers"].splitlines() if line.strip()]
    out = []
    for line in reversed(lines):
        names = [name.strip("()") for name in re.split(r"\s*[|:]\s*", line)]
        out.append([name for name in names if name in present])
    return out


def owner(module: str) -> str:
    """The node a module is drawn in: its top-level package, except a domain's cli.py, which is part of the command line."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[2] == "cli":
        return "govern.cli"
    return ".".join(parts[:2])


def package_imports(graph) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """The imports between packages, each with the module imports that make it."""
    edges: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = owner(module), owner(imported)
            if a != b:
                edges.setdefault((a, b), set()).add((module, imported))
    return edges


def _wildcard(expression: str) -> re.Pattern:
    """An import-linter module expression as a regex: `*` one name, `**` one or more."""
    parts = {"*": r"[^.]+", "**": r"[^.]+(?:\.[^.]+)*"}
    return re.compile(r"\.".join(parts.get(part, re.escape(part)) for part in expression.split(".")))


def exceptions(text: str) -> list[tuple[re.Pattern, re.Pattern, str]]:
    """The ignore_imports lines of the layers contract in `text` (.importlinter), each with its kind: "TODO" when the
    comment above it names one (an import still to remove), else "allowed" (an exception that stays, for the reason
    its comment gives)."""
    section = text[text.index("[importlinter:contract:layers]"):]
    lines = section[section.index("ignore_imports ="):].splitlines()[1:]
    out, comment, in_comment = [], "", False
    for line in lines:
        if not line.startswith((" ", "\t")) and line.strip():
            break  # the next option or section
        entry = line.strip()
        if entry.startswith("#"):
            comment = (comment if in_comment else "") + entry
            in_comment = True
        elif "->" in entry:
            importer, imported = (part.strip() for part in entry.split("->"))
            out.append((_wildcard(importer), _wildcard(imported), "TODO" if "TODO" in comment else "allowed"))
            in_comment = False
    return out


def kind(imports: set[tuple[str, str]], listed: list[tuple[re.Pattern, re.Pattern, str]]) -> str:
    """What an arrow against the layers is: "TODO" if any of its imports is listed as one, "allowed" if every one is
    listed with a reason, "not listed" otherwise (the contract then fails)."""
    kinds = set()
    for importer, imported in imports:
        found = [k for a, b, k in listed if a.fullmatch(importer) and b.fullmatch(imported)]
        kinds.add(found[0] if found else "not listed")
    return next(k for k in ("TODO", "not listed", "allowed") if k in kinds)


def mermaid() -> str:
    graph = grimp.build_graph("govern", cache_dir=None, exclude_type_checking_imports=True)
    order = layers({owner(m) for m in graph.modules})
    rank = {module: i for i, layer in enumerate(order) for module in layer}
    names = ["kernel"] + [f"layer {i}" for i in range(1, len(order))]
    node = lambda m: m.replace("govern.", "").replace(".", "_")  # noqa: E731
    out = ["```mermaid", "flowchart TB"]
    for i, layer in enumerate(order):
        out.append(f'  subgraph L{i}["{names[i]}"]')
        out.extend(f'    {node(m)}["{m.removeprefix("govern.")}"]' for m in layer)
        out.append("  end")
    # Every arrow reads "imports": a layer may import the layers below it.
    for i in range(len(order) - 1, 0, -1):
        out.append(f"  L{i} --> L{i - 1}")
    edges, listed = package_imports(graph), exceptions((ROOT / ".importlinter").read_text())
    upward = sorted((a, b) for a, b in edges if a in rank and b in rank and rank[a] < rank[b])
    out.append("  %% dashed: an import against the layers, listed in .importlinter's ignore_imports, labelled by kind:")
    out.append("  %% allowed (an exception that stays, for the reason its comment gives) or TODO (an import still to remove)")
    out.extend(f"  {node(a)} -.->|{kind(edges[a, b], listed)}| {node(b)}" for a, b in upward)
    out.append("```")
    return "\n".join(out)


def block() -> str:
    return f"{BEGIN}\n{mermaid()}\n{END}"


def current() -> str:
    text = DOC.read_text()
    return text[text.index(BEGIN):text.index(END) + len(END)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the picture in docs/architecture.md")
    args = parser.parse_args()
    if args.write:
        DOC.write_text(DOC.read_text().replace(current(), block()))
    else:
        print(block())
    return 0


if __name__ == "__main__":
    sys.exit(main())
