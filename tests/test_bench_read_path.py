"""bench/read_path.py's options cannot rot (issue 21 item 3): the suite and provider choices, --compare-suites and
the one combination refused by design, the databases and policies each govern side gets, and the token-call counter
of the PKCS#11 provider read from /metrics under the name the provider gives it. Seconds: nothing is served or seeded."""

from __future__ import annotations

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from bench import read_path

URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test_x_bench"


def test_the_default_is_one_international_side_on_the_file_keyring(tmp_path):
    (side,) = read_path.sides_of(read_path.parse_args(["--database-url", URL]), tmp_path)
    assert (side.name, side.url) == ("international/file", URL)


def test_compare_suites_measures_three_sides_each_in_a_database_of_its_own(tmp_path):
    sides = read_path.sides_of(read_path.parse_args(["--compare-suites", "--database-url", URL]), tmp_path)
    assert [s.name for s in sides] == ["international/file", "commercial_cn/file", "international/pkcs11"]  # the reference first
    assert [s.url.rsplit("/", 1)[1] for s in sides] == ["test_x_bench", "test_x_bench_cn", "test_x_bench_pkcs11"]
    assert len({s.home for s in sides}) == 3


@pytest.mark.parametrize("argv", [["--suite", "commercial_cn", "--provider", "pkcs11"], ["--compare-suites", "--provider", "pkcs11"],
                                  ["--suite", "sm9"], ["--provider", "vault"]])
def test_refused_choices_stop_at_the_options(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        read_path.parse_args(argv)
    assert stopped.value.code == 2
    if argv[:2] == ["--suite", "commercial_cn"]:
        assert "refused by design" in capsys.readouterr().err


def test_each_side_gets_the_policies_naming_its_suite(tmp_path):
    (side,) = read_path.sides_of(read_path.parse_args(["--suite", "commercial_cn", "--database-url", URL]), tmp_path)
    side.home.mkdir()
    where = read_path._policies(side)
    assert yaml.safe_load((where / "crypto.yaml").read_text())["crypto"]["suite"] == "commercial_cn"
    assert (where / "purposes.yaml").is_file()


def test_the_bench_reads_the_token_calls_the_provider_counts():
    from govern.crypto import hsm

    registry = CollectorRegistry()
    registry.register(hsm.TOKEN_CALLS)
    try:
        before = sum(float(v) for v in read_path._TOKEN_LINE.findall(generate_latest(registry).decode()))
        hsm.TOKEN_CALLS.labels("unwrap").inc(3)
        hsm.TOKEN_CALLS.labels("find").inc()
        after = sum(float(v) for v in read_path._TOKEN_LINE.findall(generate_latest(registry).decode()))
    finally:
        registry.unregister(hsm.TOKEN_CALLS)
    assert after - before == 4
