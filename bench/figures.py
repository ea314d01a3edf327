"""Runs the benchmarks and writes docs/figures.md: one page with every benchmark and load figure, the date, the
machine, the database and the command that produced it, the load average around it, and each against its bar.

    .venv/bin/python bench/figures.py                       # run every benchmark (long: the 1,000,000-row ones too)
    .venv/bin/python bench/figures.py --only load,scale_out # run these, keep the others' last results
    .venv/bin/python bench/figures.py --render-only         # rewrite the page from the saved results
    .venv/bin/python bench/figures.py --import load=out.txt # take a run made by hand (its stdout) as the result

Each run's stdout, exit status and timing are saved in bench/results/<name>.json; the page is rendered from those
files, so re-running one benchmark on a quiet machine updates its section and leaves the others alone. A
benchmark's exit status is its verdict: 0 bar met, 1 bar not met, anything else: it did not run to the end.

Figures measured by hand (a quiet-machine rerun, a comparison of two commits, an analysis) are kept in notes beside
the results, so every render keeps them (see `read_note`):

    bench/results/<name>.notes.md         added to <name>'s section, or in place of its generated body (replace: yes)
    bench/results/<name>+<slug>.notes.md  a section of its own after <name>'s, with its own row in the summary table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
PAGE = ROOT / "docs" / "figures.md"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class Bench:
    name: str
    issue: int
    what: str
    bar: str
    args: tuple[str, ...]
    database: str
    figure_lines: tuple[str, ...]  # regexes: the stdout lines that carry the figures


BENCHES = (
    Bench("read_path", 2, "audited, decrypted, masked read of an 8-field profile under gunicorn, against a plain-table Flask baseline (same database, same gunicorn, same load)",
          "govern ≥ 0.7 × the baseline's throughput", ("bench/read_path.py",), "test_bench",
          (r"^\s+side\s", r"^\s+(baseline|govern)\s+[\d.]", r"server CPU per request", r"audit events written", r"ratio govern/baseline")),
    Bench("lookup", 2, "look-up by mobile number (blind index, purpose check, audit event, commit) among 1,000,000 subjects, against a plain indexed lookup",
          "p50 ≤ 2 ms at the service layer", ("bench/lookup.py",), "test_bench_lookup",
          (r"^\s+side\s", r"^\s+(baseline|govern)\s+[\d.]", r"govern p50", r"load average now")),
    Bench("audit_append", 3, "audited appends/s at 1, 4, 8, 16 clients (with a concurrent sealer) against plain inserts of the same rows",
          "audited ≥ 0.7 × plain at 8 clients", ("bench/audit_append.py",), "test_audit_bench",
          (r"^\s*(clients|\d+)\s", r"^bar:", r"^final seal")),
    Bench("audit_verify", 3, "the offline verifier (audit/verify.py) on an export of 1,000,000 events",
          "≥ 100,000 events/s (a million in under 10 s)", ("bench/audit_verify.py",), "none (a generated export in a temporary folder)",
          (r"^generated", r"^verifier:")),
    Bench("consent_check", 4, "which of 10,000 subject ids may be used for marketing now, through the API, against a plain indexed query",
          "p50 ≤ 300 ms for 10,000 ids", ("bench/consent_check.py",), "test_bench_consent",
          (r"^\s+(api|baseline|govern|service|plain)", r"ratio", r"bar:")),
    Bench("purge_scale", 6, "retention purge of 10,000, 100,000 and 1,000,000 due records through the real code path, against a bare DELETE",
          "cost per record at 1,000,000 ≤ 1.5 × that at 10,000; ≥ 20,000 records/s at 1,000,000", ("bench/purge_scale.py",), "bench_retention",
          (r"^\s*(records|[\d,]+)\s", r"^cost per record")),
    Bench("erasure", 5, "time from completing an erasure request to the subject being unreadable (key destroyed, blind-index entries gone, "
          "tombstone, committed) for a subject with 10 and with 100,000 records, then the batched deletion of the rows left (sweep), "
          "on PostgreSQL and SQLite", "100,000 records within 2 × the time for 10", ("bench/erasure.py",),
          "bench_erasure (PostgreSQL) and a temporary SQLite file",
          (r"^\[", r"^\s+(round|\d+)\s", r"time to unreadable", r"same transaction", r"batched deletion", r"^bar:")),
    Bench("access_package", 5, "the access package (zip: JSON, CSV, summary, manifest; hash audited) of a subject with 10,000 records, "
          "through the API, against selecting and decrypting the same records, on PostgreSQL and SQLite", "under 3 s",
          ("bench/access_package.py",), "bench_access_package (PostgreSQL) and a temporary SQLite file",
          (r"^\[", r"^\s+package:", r"^\s+(round|\d+)\s", r"median of", r"^bar:")),
    Bench("audit_scale", 20, "the audit log at 10^8 events (issue's size; run here at 10^7): audited appends/s into the full partitioned table "
          "against the empty one, audited search by subject and by actor in a time window against bare SQL, DETACH + DROP of a month, "
          "the offline verifier on a month's archive", "appends ≥ 0.9 × empty; search p50 ≤ 20 ms; month drop ≤ 100 ms; verify ≥ 250,000 events/s",
          ("bench/audit_scale.py",), "bench_audit_scale",
          (r"^audit_scale:", r"^appends into", r"^ratio full", r"^generated", r"^bytes per event", r"^search\s", r"^(subject|actor),",
           r"^archive of", r"^drop ", r"^verify of", r"^bar:", r"^load average")),
    Bench("load", 9, "32 concurrent clients for 60 s against `govern serve` (gunicorn, 2 workers): 70 % purpose-bound reads, 15 % look-ups, "
          "10 % creates/updates, 5 % consent events and data-subject requests; then the audit accounting and `govern audit verify`",
          "zero errors, zero missing audit events, the log verifies", ("bench/load.py", "--json"), "test_bench_load", ()),
    Bench("scale_out", 9, "the same load against one host, then two `govern serve` hosts on one PostgreSQL; then a retention purge and a "
          "key rotation started on both hosts at once", "throughput adds up; the log written by both verifies as one; the long jobs do the work once",
          ("bench/scale_out.py", "--json"), "test_bench_load", ()),
)
BY_NAME = {b.name: b for b in BENCHES}

# Bars of the issues that no benchmark measures yet: (issue, what, bar).
NOT_BENCHMARKED: tuple[tuple[int, str, str], ...] = ()


def machine() -> dict:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
        mem = f"{kb / 1024 / 1024:.1f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    pg = "PostgreSQL (unreachable)"
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3) as conn:
            pg = "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0]
    except Exception:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "memory": mem, "node": platform.node(), "python": platform.python_version(), "postgresql": pg}


def _json_tail(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def run_one(bench: Bench, extra: list[str]) -> dict:
    cmd = [sys.executable, *bench.args, *extra]
    shown = " ".join([".venv/bin/python", *bench.args, *extra])
    print(f"== {bench.name}: {shown}", flush=True)
    before, started, t0 = os.getloadavg()[0], datetime.now(timezone.utc), time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(proc.stdout[-4000:])
    return {
        "name": bench.name, "command": shown, "date": started.isoformat(timespec="seconds"), "seconds": round(time.monotonic() - t0, 1),
        "load_average": {"start": round(before, 2), "end": round(os.getloadavg()[0], 2)}, "exit_code": proc.returncode,
        "machine": machine(), "stdout": proc.stdout[-20000:], "stderr_tail": proc.stderr[-3000:],
    }


def import_one(bench: Bench, path: Path) -> dict:
    stdout = path.read_text()
    data = _json_tail(stdout) or {}
    load = data.get("load_average") or {}
    verdict = data.get("verdict")
    return {
        "name": bench.name, "command": ".venv/bin/python " + data["command"] if data.get("command") else f"(imported from {path.name})",
        "date": data.get("date") or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds"), "seconds": None,
        "load_average": {"start": load.get("start"), "end": load.get("end")},
        "exit_code": {"PASS": 0, "FAIL": 1}.get(verdict, 0 if re.search(r"\b(PASS|MET|met)\b", stdout) else 1), "machine": machine(),
        "stdout": stdout[-20000:], "stderr_tail": "",
    }


# --- notes written by hand ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """A note's front matter (`key: value` lines between two `---` lines) and its Markdown body.

    Keys of a benchmark's own note: verdict, run, load (they stand in the summary row in place of the saved run's),
    replace (yes: the body, from the line under the heading, stands in place of the generated section, whose run
    the note supersedes). Keys of a section of its own: title (its heading), label, issue, bar, verdict, run, load
    (its summary row)."""

    fields: dict[str, str]
    body: str

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)


def read_note(path: Path) -> Note:
    text = path.read_text()
    fields: dict[str, str] = {}
    if text.startswith("---\n"):
        head, _, text = text[4:].partition("\n---\n")
        for line in head.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    return Note(fields, text.strip("\n"))


def notes_of(results_dir: Path, name: str) -> tuple[Note | None, list[Note]]:
    """A benchmark's own note and its sections of their own (in file-name order)."""
    own = results_dir / f"{name}.notes.md"
    return (read_note(own) if own.exists() else None), [read_note(f) for f in sorted(results_dir.glob(f"{name}+*.notes.md"))]


def anchor(title: str) -> str:
    """The id a Markdown renderer (GitHub's) gives a heading."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


# --- the page -------------------------------------------------------------------------------------------------------


def verdict_of(result: dict) -> str:
    verdict = {0: "**bar met**", 1: "**bar NOT met**"}.get(result["exit_code"], f"**did not finish** (exit {result['exit_code']})")
    scale = (_json_tail(result["stdout"]) or {}).get("scale_out") if result["name"] == "scale_out" else None
    if scale:
        # The exit status covers what one machine can prove (errors, audit, one chain, jobs done once); whether
        # throughput adds up needs hosts that do not share the cores: the ratio is shown for what it is.
        verdict = (f"{verdict} for errors, audit, one chain and the long jobs; throughput two hosts / one = {scale['ratio']} × "
                   "(on shared cores: see below)")
    return verdict


def _load_section(result: dict) -> list[str]:
    data = _json_tail(result["stdout"]) or {}
    out: list[str] = []
    for phase in data.get("phases", []):
        hosts = phase.get("per_host", {})
        out.append(f"*{phase['phase']}*: **{phase['throughput']} ops/s** over {phase['seconds']} s, {phase['ok']} ok, **{phase['errors']} errors**; "
                   f"p50 {phase['p50_ms']} ms, p95 {phase['p95_ms']} ms, p99 {phase['p99_ms']} ms"
                   + (f"; per host {', '.join(f'{h} {v}' for h, v in hosts.items())} ops/s" if len(hosts) > 1 else "")
                   + f"; load average after {phase.get('load_average')}")
        out.append("")
        out.append("| operation | share | ok | errors | ops/s | p50 ms | p95 ms | p99 ms |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        mix = data.get("mix", {})
        for op, r in phase["ops"].items():
            out.append(f"| {op} | {mix.get(op, '')} % | {r['ok']} | {r['errors']} | {r['per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |")
        out.append("")
    a = data.get("audit")
    if a:
        out.append(f"Audit accounting: {a['operations_ok']} successful operations had to write {a['events_expected']} events; "
                   f"{a['events_found']} found; **missing {a['missing']}**, unexpected {a['unexpected']} ({', '.join(f'{k} {v}' for k, v in a['expected_by_action'].items())}).")
        out.append("")
    i = data.get("integrity")
    if i:
        out.append(f"Audit log: {i['events']} events, {i['chained']} in the chain, checkpoint #{i['checkpoint']} over {i['tree_size']}; "
                   f"`govern audit verify`: **{'verifies' if i['verify_ok'] else 'DOES NOT VERIFY'}**.")
        out.append("")
    s = data.get("scale_out")
    if s:
        out.append(f"Scale-out: one host **{s['one_host']} ops/s**; two hosts **{s['two_hosts']} ops/s** "
                   f"({' + '.join(str(v) for v in s['per_host'].values())}) = **{s['ratio']} ×** one host.")
        out.append("")
        out.append("Read this ratio for what it is. On this machine the load generator, both hosts and PostgreSQL share the same "
                   "cores, and the two phases ran one after the other while other work came and went (the load average after each "
                   "phase is given above), so the ratio measures the machine as much as govern. Two hosts on shared cores cannot "
                   "add CPU; what the run does prove is that the hosts share nothing on the request path (no lock, no sticky "
                   "session: each host's share is served at the same rate, with zero errors, and one audit chain verifies over "
                   "both). Whether throughput adds up needs hosts with cores of their own: run `bench/scale_out.py` with the "
                   "hosts on separate machines, or at least on a machine with idle cores.")
        out.append("")
    j = data.get("jobs")
    if j:
        p, r, o = j["purge"], j["rotation"], j["rotation_other_lock_file"]
        out.append(f"- Retention purge started on both hosts at once: {p['records_due']} records due, {p['deleted']} deleted, exit codes {p['exit_codes']} "
                   f"(3 = refused: {p['refusal']!r}), {p['runs']} run, {p['run_status']}, counted {p['run_counted']} — **{'once' if p['ok'] else 'NOT once'}**.")
        out.append(f"- Key rotation started on both hosts at once: {r['keys']} data keys, versions {r['versions_before']} → {r['versions_after']}, exit codes "
                   f"{r['exit_codes']} ({r['refusal']!r}), {r['rotate_begin_events']} rotate-begin event — **{'once' if r['ok'] else 'NOT once'}**.")
        out.append(f"- A rotation from a host with its own keyring folder (so only PostgreSQL's advisory lock can stop it) while another runs: exit "
                   f"{o['second_exit']} ({o['second_said']!r}) — **{'refused' if o['ok'] else 'NOT refused'}**.")
        out.append(f"- Subjects readable on each host after the rotation: {j.get('readable_after')}.")
        out.append("")
    return out


def _section(b: Bench, r: dict | None) -> list[str]:
    """What the saved run of one benchmark says, under its heading."""
    lines = [f"Issue {b.issue}. {b.what[0].upper()}{b.what[1:]}.", "", f"Bar: {b.bar}.", ""]
    if r is None:
        return lines + [f"Not measured yet. Run `.venv/bin/python bench/figures.py --only {b.name}` (it runs `.venv/bin/python {' '.join(b.args)}`).", ""]
    la = r["load_average"]
    took = f", {r['seconds']} s" if r.get("seconds") else ""
    given = r["command"].split()
    database = b.database
    if "--database-url" in given and given.index("--database-url") + 1 < len(given):
        database = given[given.index("--database-url") + 1].rsplit("/", 1)[-1]
    script = next((k for k, a in enumerate(given) if a.endswith(".py")), len(given))
    options = [a for a in given[script + 1:] if a not in b.args[1:]]
    if b.name == "scale_out" and options[:2] == ["--hosts", "2"]:
        options = options[2:]  # what scale_out.py adds to load.py
    lines += [
        f"- Verdict: {verdict_of(r)}",
        f"- Run: {r['date']} UTC{took}; "
        f"load average {la.get('start')} at the start, {la.get('end')} at the end",
        f"- Database: `{database}`" + (" (created or wiped by the benchmark itself)" if "bench" in database else ""),
        f"- Command: `{r['command']}`",
    ]
    if options:
        lines.append(f"- Run with options other than the defaults ({' '.join(options)}): the bar is stated for the defaults")
    lines.append("")
    if b.name in ("load", "scale_out"):
        return lines + _load_section(r)
    pats = [re.compile(p) for p in b.figure_lines]
    picked = [ln.rstrip() for ln in r["stdout"].splitlines() if any(p.search(ln) for p in pats)]
    if picked:
        return lines + ["```", *picked[-30:], "```", ""]
    return lines + ["(no figure lines in its output; last lines:)", "", "```", *r["stdout"].strip().splitlines()[-10:], *r["stderr_tail"].strip().splitlines()[-5:], "```", ""]


def _row(b: Bench, r: dict | None, note: Note | None) -> str:
    if r is None and note is None:
        return f"| [{b.name}](#{b.name}) | {b.issue} | {b.bar} | not measured yet | — | — |"
    note = note or Note({}, "")
    la = r["load_average"] if r else {}
    verdict = note.get("verdict") or (verdict_of(r) if r else "see below")
    run = note.get("run") or (r["date"][:16].replace("T", " ") if r else "—")
    load = note.get("load") or (f"{la.get('start')} → {la.get('end')}" if r else "—")
    return f"| [{b.name}](#{b.name}) | {b.issue} | {b.bar} | {verdict} | {run} | {load} |"


def _extra_row(note: Note) -> str:
    cells = [note.get(k, "—") for k in ("issue", "bar", "verdict", "run", "load")]
    return f"| [{note.get('label') or note.get('title')}](#{anchor(note.get('title'))}) | {' | '.join(cells)} |"


def render(results: dict[str, dict], notes: dict[str, tuple[Note | None, list[Note]]] | None = None,
           now: datetime | None = None) -> str:
    notes = notes or {}
    now = now or datetime.now(timezone.utc)
    m = next((r["machine"] for r in results.values() if r.get("machine")), machine())
    lines = [
        "# Figures",
        "",
        f"Every benchmark and load figure of govern on one page, each against its bar from the issues. Generated by "
        f"`make bench` (`bench/figures.py`) on {now:%Y-%m-%d %H:%M} UTC from the results saved in `bench/results/`; each section "
        "says when its run was made, with which command and against which database.",
        "",
        f"**Machine:** {m['cores']} cores ({m['cpu']}), {m['memory']}, {m['postgresql']} on 127.0.0.1, Python {m['python']}. "
        "The load generator, the server processes and PostgreSQL share these cores, and the machine was shared with other work "
        "while these figures were taken: absolute figures move with the load average, which is given with every run "
        "(the 1-minute average at its start and end; 2.0 means both cores busy on average). Ratios against a baseline measured "
        "in the same run are less affected than absolute rates.",
        "",
        "| benchmark | issue | bar | verdict | run | load avg (start → end) |",
        "|---|---|---|---|---|---|",
    ]
    for b in BENCHES:
        own, extra = notes.get(b.name, (None, []))
        lines.append(_row(b, results.get(b.name), own))
        lines += [_extra_row(n) for n in extra]
    for issue, what, bar in NOT_BENCHMARKED:
        lines.append(f"| (none) | {issue} | {what}: {bar} | **no benchmark in bench/ yet** | — | — |")
    lines.append("")
    for b in BENCHES:
        own, extra = notes.get(b.name, (None, []))
        lines += [f"## {b.name}", ""]
        if own is None or own.get("replace") != "yes":
            lines += _section(b, results.get(b.name))
        if own is not None and own.body:
            lines += [own.body, ""]
        for n in extra:
            lines += [f"## {n.get('title')}", "", n.body, ""]
    lines += [
        "## Earlier figures",
        "",
        "Figures measured by hand while the benchmarks were written (quiet and busy machine, with their analysis) are in "
        "[bench.md](bench.md), [audit.md](audit.md), [consent.md](consent.md) and [retention.md](retention.md); how each benchmark "
        "works is in [bench/README.md](../bench/README.md).",
        "",
    ]
    return "\n".join(lines)


def load_results(results_dir: Path) -> dict[str, dict]:
    return {b.name: json.loads((results_dir / f"{b.name}.json").read_text()) for b in BENCHES if (results_dir / f"{b.name}.json").exists()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=None, help="comma-separated benchmark names to run (default: all)")
    p.add_argument("--render-only", action="store_true", help="run nothing; rewrite the page from bench/results/")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="NAME=FILE", help="use FILE (a run's stdout) as NAME's result")
    p.add_argument("--extra", action="append", default=[], metavar="NAME=ARGS", help="extra arguments for one benchmark, e.g. load='--duration 20'")
    p.add_argument("--out", type=Path, default=PAGE)
    p.add_argument("--results", type=Path, default=RESULTS, help="where results are saved and read (default %(default)s)")
    args = p.parse_args(argv)

    results_dir = args.results
    results_dir.mkdir(parents=True, exist_ok=True)
    extras = {k: v.split() for k, v in (e.split("=", 1) for e in args.extra)}
    failed = 0
    for spec in args.imports:
        name, path = spec.split("=", 1)
        result = import_one(BY_NAME[name], Path(path))
        (results_dir / f"{name}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if not args.render_only and not args.imports:
        names = args.only.split(",") if args.only else [b.name for b in BENCHES]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        for name in names:
            result = run_one(BY_NAME[name], extras.get(name, []))
            failed += result["exit_code"] != 0
            (results_dir / f"{name}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    results = load_results(results_dir)
    args.out.write_text(render(results, {b.name: notes_of(results_dir, b.name) for b in BENCHES}))
    print(f"wrote {args.out} ({len(results)} of {len(BENCHES)} benchmarks measured)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
