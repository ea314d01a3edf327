"""A built wheel is all an operator needs: installed in a clean virtual environment, `govern` finds its policies,
notices, migrations, templates and static files, and the auditor's verifier it ships is audit/verify.py byte for byte
and verifies an export that govern made.

The build is offline (`--no-build-isolation --no-index`, this venv's setuptools) and the clean venv borrows this
venv's dependencies through a path entry, never its editable govern, so the test needs no network."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "node_modules", "tests", "bench")

pytestmark = pytest.mark.slow


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """(the clean venv's bin folder, an environment with a fresh GOVERN_HOME, a working folder outside the checkout)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp / "dist"), str(source)], cwd=tmp)
    wheel = next((tmp / "dist").glob("govern-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    purelib = Path(_run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp).stdout.strip())
    # Dependencies come from this venv, appended after the clean venv's own site-packages; a path entry does not run
    # this venv's .pth files, so its editable govern stays out.
    borrowed = [p for p in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()} if Path(p).is_dir()]
    (purelib / "borrowed_dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index", "-q", str(wheel)], cwd=tmp)
    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVERN_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(GOVERN_HOME=str(work / "home"), GOVERN_LOG_LEVEL="WARNING", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return venv / "bin", env, work


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    bin_dir, env, work = installed
    found = _run([str(bin_dir / "python"), "-c", "import govern, govern.config as c; print(govern.__file__); print(c.PROJECT_ROOT)"], cwd=work, env=env).stdout.split()
    assert not Path(found[0]).is_relative_to(ROOT) and Path(found[0]).is_relative_to(bin_dir.parent)
    assert found[1].endswith("govern/_shipped")


def test_the_wheel_ships_policies_notices_templates_static_files_and_migrations(installed):
    bin_dir, env, work = installed
    package = Path(_run([str(bin_dir / "python"), "-c", "import govern; print(govern.__file__)"], cwd=work, env=env).stdout.strip()).parent
    for tracked in _tracked(("policies", "migrations", "audit")):
        assert (package / "_shipped" / tracked).read_bytes() == (ROOT / tracked).read_bytes(), tracked
    for tracked in _tracked(("govern/console/templates", "govern/console/static", "govern/console/translations", "govern/breach/templates")):
        assert (package.parent / tracked).read_bytes() == (ROOT / tracked).read_bytes(), tracked


def test_govern_init_and_a_command_run_from_the_wheel_and_its_verifier_checks_an_export(installed):
    bin_dir, env, work = installed
    init = _run([str(bin_dir / "govern"), "init"], cwd=work, env=env)
    assert (work / "home" / "govern.db").is_file(), init.stdout + init.stderr
    created = json.loads(_run([str(bin_dir / "govern"), "principals", "create", "--name", "crm-orders", "--role", "sales_service", "--json"], cwd=work, env=env).stdout)
    assert created["api_key"]
    listed = _run([str(bin_dir / "govern"), "principals", "list"], cwd=work, env=env).stdout
    assert "crm-orders" in listed
    _run([str(bin_dir / "govern"), "audit", "export", "--out", str(work / "export")], cwd=work, env=env)
    package = Path(_run([str(bin_dir / "python"), "-c", "import govern; print(govern.__file__)"], cwd=work, env=env).stdout.strip()).parent
    shipped = package / "_shipped" / "audit" / "verify.py"
    assert shipped.read_bytes() == (ROOT / "audit" / "verify.py").read_bytes()
    loaded = _run([str(bin_dir / "python"), "-c", "from govern.audit import verifier; print(verifier.SOURCE); print(verifier.leaf_hash.__code__.co_filename)"], cwd=work, env=env).stdout.split()
    assert loaded == [str(shipped), str(shipped)]  # govern checks its own log with the very file it hands auditors
    verified = _run([str(bin_dir / "python"), str(shipped), str(work / "export"), "--checkpoint", str(work / "home" / "checkpoints")], cwd=work, env=env)
    assert verified.stdout.startswith("OK: "), verified.stdout


def _tracked(folders: tuple[str, ...]) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--", *folders], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert out, folders
    return out
