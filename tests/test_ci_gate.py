"""CI gates lint and types as well as tests: ``.ci/run`` on a copy of the tree with one bad
line fails before any test runs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tree_with(tmp_path: Path, probe: str) -> Path:
    tree = tmp_path / "clone"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("bcfl_env", "agents", "training", ".ci"):  # what make check reads
        shutil.copytree(ROOT / name, tree / name, ignore=ignore)
    for name in ("Makefile", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    if (ROOT / ".mypy_cache").is_dir():  # a warm cache: the probe, not the cold start, is timed
        shutil.copytree(ROOT / ".mypy_cache", tree / ".mypy_cache")
    # The project's tools, never its install: a venv folder whose bin/ is the real one and whose
    # stamps say installed, so make runs no pip here (an install from this copy would repoint
    # the real venv's editable package at it).
    venv = tree / ".venv"
    venv.mkdir()
    (venv / "bin").symlink_to(ROOT / ".venv" / "bin")
    stamp = subprocess.run(
        "cat pyproject.toml Makefile | cksum | cut -d' ' -f1",
        shell=True, cwd=tree, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    for name in (f".installed-{stamp}", f".installed-test-{stamp}"):
        (venv / name).touch()
    (tree / "bcfl_env" / "ci_probe.py").write_text(probe)
    return tree


def _ci(tree: Path) -> subprocess.CompletedProcess[str]:
    # as CI runs it: not inside another make (whose MAKEFLAGS would change make's output)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST") and k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    }
    return subprocess.run(
        ["bash", ".ci/run"], cwd=tree, capture_output=True, text=True, timeout=600, env=env
    )


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "ruff").exists(), reason="needs make's venv")
@pytest.mark.parametrize(
    ("probe", "finding"),
    [
        ('"""Probe."""\n\nimport os\n', "F401"),  # lint: an unused import
        ('"""Probe."""\n\nx: int = "a"\n', "Incompatible types in assignment"),  # types only
    ],
)
def test_ci_fails_on_a_lint_or_type_error_before_the_tests(tmp_path, probe, finding):
    result = _ci(_tree_with(tmp_path, probe))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert finding in output
    # make test never started (make echoes its recipe) and nothing was installed
    assert "-m pytest" not in output and "pip install" not in output
