"""Puts the files govern reads at run time but keeps beside the package in a checkout (policies/, migrations/ and the
auditor's audit/) into the built package as govern/_shipped/, where govern.config finds them in an installed wheel.
Everything else about the build is in pyproject.toml; tests/test_wheel.py installs a wheel and checks the result."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("policies", "migrations", "audit")


class BuildWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "govern" / "_shipped"
        for name in SHIPPED:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(root / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithShippedFiles})
