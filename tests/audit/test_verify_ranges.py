"""The offline verifier checks a large events file in byte ranges, in several processes, and puts the ranges back
together in order: the result must be the one pass's, the Merkle roots included, and anything that does not link --
at a range's edge too -- is named as the one pass names it. Small ranges and Merkle blocks stand in for large ones."""

from __future__ import annotations

import sys

import pytest

from govern.audit import checkpoints
from govern.audit import verifier as verify
from tests.audit.conftest import kinds, read_lines, write_lines


@pytest.fixture
def small_ranges(monkeypatch):
    """Ranges of about 1 kB (two or three events each) and Merkle blocks of 4 leaves, in the verifier's own module."""
    module = sys.modules[verify.verify_export.__module__]
    monkeypatch.setattr(module, "RANGE_BYTES", 1000)
    monkeypatch.setattr(module, "BLOCK", 4)
    monkeypatch.setattr(module, "BLOCK_HEIGHT", 2)


@pytest.fixture
def long_export(record_events, checkpoint, make_export):
    """An export whose signed checkpoints fall inside Merkle blocks and on their edges."""
    for n in (13, 3, 16, 9):
        record_events(n)
        checkpoint()
    return make_export()


@pytest.mark.parametrize("workers", [1, 2])
def test_an_export_checked_in_ranges_verifies_with_every_checkpoints_root(long_export, small_ranges, audit_settings, workers):
    one_pass = verify.verify_export(long_export, [audit_settings.audit_checkpoint_dir], workers=1)
    monkeypatched_ranges = verify._ranges(long_export / "events.jsonl", (long_export / "events.jsonl").stat().st_size)
    assert len(monkeypatched_ranges) > 10

    report = verify.verify_export(long_export, [audit_settings.audit_checkpoint_dir], workers=workers)

    assert report.ok, report.render()
    signed = [cp["body"]["tree_size"] for cp in checkpoints.read_folder(audit_settings)]
    assert any(size % 4 for size in signed)  # some inside a Merkle block, not on its edge
    assert report.checkpoints_verified == len(signed)  # each one's head and Merkle root
    assert (report.events, report.first_seq, report.last_seq, report.head_hash) == (one_pass.events, 1, one_pass.events, one_pass.head_hash)


def test_the_ranges_cover_the_file_and_start_at_line_starts(long_export, small_ranges):
    path = long_export / "events.jsonl"
    data = path.read_bytes()
    ranges = verify._ranges(path, len(data))
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(data[start - 1:start] == b"\n" for start, _ in ranges[1:])


@pytest.mark.parametrize("workers", [1, 2])
def test_an_event_modified_at_a_ranges_edge_is_named_as_in_one_pass(long_export, small_ranges, audit_settings, workers):
    path = long_export / "events.jsonl"
    start = verify._ranges(path, path.stat().st_size)[3][0]
    lines = read_lines(long_export)
    at = next(i for i in range(len(lines)) if sum(map(len, lines[:i])) == start)  # the first line of the fourth range
    lines[at] = lines[at].replace(b'"purpose":"customer_service"', b'"purpose":"marketing"')
    write_lines(long_export, lines)

    report = verify.verify_export(long_export, [audit_settings.audit_checkpoint_dir], workers=workers)

    assert kinds(report)[0] == verify.MODIFIED
    assert report.findings[0].seq == at + 1


@pytest.mark.parametrize("workers", [1, 2])
def test_a_range_that_does_not_start_where_the_one_before_ended_is_named(long_export, small_ranges, audit_settings, workers):
    lines = read_lines(long_export)
    del lines[7]  # a deleted line, not renumbered: seq 8 is missing
    write_lines(long_export, lines)

    report = verify.verify_export(long_export, [audit_settings.audit_checkpoint_dir], workers=workers)

    assert kinds(report)[0] == verify.DELETED
    assert report.findings[0].seq == 8
