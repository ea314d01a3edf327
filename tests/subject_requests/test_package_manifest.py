"""An access package's manifest is govern's own integrity value for the files beside it (issue 21): it hashes each file
with the suite in force — SHA-256, or SM3 under commercial_cn — and names the algorithm, so whoever holds the zip
checks every file with the hash the manifest says."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from govern.crypto import suites
from govern.subject_requests import flows

FILES = {"data.json": b'{"fields": []}', "summary.zh.txt": "您的个人信息摘要".encode()}
HASHLIB_NAME = {"SHA-256": "sha256", "SM3": "sm3"}  # what a reader would use, independent of govern's Suite


def _manifest(suite_name: str) -> dict:
    with zipfile.ZipFile(io.BytesIO(flows._zip(FILES, suites.suite(suite_name)))) as z:
        return json.loads(z.read("manifest.json"))


@pytest.mark.parametrize(("suite_name", "named"), [(suites.INTERNATIONAL, "SHA-256"), (suites.COMMERCIAL_CN, "SM3")])
def test_the_manifest_hashes_each_file_under_the_suite_in_force_and_names_the_algorithm(suite_name, named):
    manifest = _manifest(suite_name)
    assert manifest["digest_algorithm"] == named
    assert manifest["files"] == {n: hashlib.new(HASHLIB_NAME[named], data).hexdigest() for n, data in FILES.items()}


def test_an_sm3_manifest_is_not_the_sha256_one_relabelled():
    assert _manifest(suites.COMMERCIAL_CN)["files"]["data.json"] != _manifest(suites.INTERNATIONAL)["files"]["data.json"]
