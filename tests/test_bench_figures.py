"""docs/figures.md is what bench/figures.py renders (issue 21): a figure measured by hand lives in a note beside the
saved results and survives every re-render (`make figures`, `make bench`), instead of being written into the page and
dropped by the next one. Seconds: nothing is benchmarked."""

from __future__ import annotations

import json
import re

from bench import figures

GENERATED_AT = re.compile(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def _result(name: str, stdout: str, date: str = "2026-12-01T10:00:00+00:00") -> dict:
    return {"name": name, "command": f".venv/bin/python bench/{name}.py", "date": date, "seconds": 10.0,
            "load_average": {"start": 0.5, "end": 0.7}, "exit_code": 0, "stdout": stdout, "stderr_tail": "",
            "machine": {"cores": 2, "cpu": "a CPU", "memory": "8.0 GB RAM", "node": "n", "python": "3.12", "postgresql": "PostgreSQL 16"}}


def _render(results_dir, tmp_path) -> str:
    out = tmp_path / "figures.md"
    assert figures.main(["--render-only", "--results", str(results_dir), "--out", str(out)]) == 0
    return out.read_text()


def test_the_page_in_the_repository_is_what_a_re_render_writes():
    saved = figures.load_results(figures.RESULTS)
    notes = {b.name: figures.notes_of(figures.RESULTS, b.name) for b in figures.BENCHES}
    rendered = figures.render(saved, notes)
    assert GENERATED_AT.sub("on …", figures.PAGE.read_text()) == GENERATED_AT.sub("on …", rendered), (
        "docs/figures.md differs from what `make figures` renders: put figures measured by hand in "
        "bench/results/<name>.notes.md (see bench/README.md), then run `make figures`")


def test_a_note_written_by_hand_survives_a_new_run_of_its_benchmark(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "audit_verify.json").write_text(json.dumps(_result("audit_verify", "verifier: 1,000,000 events in 4.00s = 250,000 events/s")))
    (results / "audit_verify.notes.md").write_text("Measured again quiet by hand: 346,174 events/s.\n")
    assert "346,174" in _render(results, tmp_path)

    rerun = tmp_path / "rerun.txt"
    rerun.write_text("verifier: 1,000,000 events in 5.00s = 200,000 events/s (bar 100,000/s: met)\n")
    assert figures.main(["--import", f"audit_verify={rerun}", "--results", str(results), "--out", str(tmp_path / "figures.md")]) == 0
    page = (tmp_path / "figures.md").read_text()
    assert "200,000 events/s" in page and "346,174" in page


def test_a_note_that_supersedes_the_saved_run_stands_in_its_place_and_in_its_summary_row(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "lookup.json").write_text(json.dumps(_result("lookup", "  govern p50 3.10 ms")))
    (results / "lookup.notes.md").write_text("---\nreplace: yes\nverdict: **bar met on a quiet machine**\nrun: 2026-12-05 10:11\n"
                                             "load: 0.1 → 0.2\n---\nIssue 2. Measured quiet: govern p50 1.20 ms.\n")
    page = _render(results, tmp_path)
    assert "govern p50 1.20 ms" in page and "3.10 ms" not in page
    assert "| [lookup](#lookup) | 2 | p50 ≤ 2 ms at the service layer | **bar met on a quiet machine** | 2026-12-05 10:11 | 0.1 → 0.2 |" in page


def test_a_section_of_its_own_has_its_row_linking_to_its_heading(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "audit_verify+sm3.notes.md").write_text("---\ntitle: audit_verify in SM3 (issue 21)\nlabel: audit_verify: SM3\nissue: 21\n"
                                                       "bar: ≥ 100,000 events/s\nverdict: not met\nrun: 2026-12-05 15:06\nload: 6 → 9\n---\n59,772 events/s\n")
    page = _render(results, tmp_path)
    assert "| [audit_verify: SM3](#audit_verify-in-sm3-issue-21) | 21 | ≥ 100,000 events/s | not met | 2026-12-05 15:06 | 6 → 9 |" in page
    assert "## audit_verify in SM3 (issue 21)\n\n59,772 events/s\n" in page
    assert page.index("## audit_verify\n") < page.index("## audit_verify in SM3") < page.index("## consent_check\n")
