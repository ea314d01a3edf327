"""A long job's progress: plain lines for an operator's terminal or cron log, JSON events inside `govern serve`."""

import io
import json

from govern.jobs import Progress, ProgressLine
from govern.logging import configure_logging, get_logger


def test_progress_inside_serve_is_a_json_event_with_the_figures():
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    try:
        line = ProgressLine("replayed", "purge batches", logger=get_logger("govern.serve"))
        line(Progress(done=1, total=76, rate=187.0))
        line(Progress(done=76, total=76, rate=968.0))
        line.end()
    finally:
        # Back to stdout, as the app logs: a later test in this process (the leak scan) reads the app's log lines there.
        configure_logging("INFO")
    events = [json.loads(text) for text in out.getvalue().splitlines()]
    assert [(e["event"], e["verb"], e["done"], e["total"]) for e in events] == [
        ("progress", "replayed", 1, 76), ("progress", "replayed", 76, 76)]


def test_progress_in_a_cron_log_is_a_line_every_interval_and_always_the_last(capsys):
    line = ProgressLine("purged", "rows", log_every=3600)
    line(Progress(done=1, total=10, rate=5.0))
    line(Progress(done=5, total=10, rate=5.0))  # within the interval: not written
    line(Progress(done=10, total=10, rate=5.0))
    written = capsys.readouterr().err.splitlines()
    assert written == ["purged 1/10 rows (10.0%)  5 rows/s  ~2s left", "purged 10/10 rows (100.0%)  5 rows/s  ~0s left"]
