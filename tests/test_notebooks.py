"""Every notebook runs end to end with SMOKE=1 (small budgets), so none of them rots; the full
runs, at the budgets and times their text states, are in the ``slow`` profile."""

import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
# the time each notebook states for its full run on 2 cores, with room for a busy machine
FULL_RUN_LIMIT_S = {
    "01_quickstart": 300,
    "02_train_selector": 1800,
    "03_adversaries": 120,
    "04_chain_audit": 300,
    "05_rsu_agents": 1200,
}


def test_five_notebooks_are_shipped_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_train_selector.ipynb", "03_adversaries.ipynb", "04_chain_audit.ipynb",
        "05_rsu_agents.ipynb",
    ]  # fmt: skip
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), path.name


def _execute(path, tmp_path, timeout):
    before = set(Path(tempfile.gettempdir()).glob("bcfl-nb-*"))
    book = nbformat.read(path, as_version=4)
    # a cell that raises fails the test (nbclient raises CellExecutionError)
    NotebookClient(
        book,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    left = set(Path(tempfile.gettempdir()).glob("bcfl-nb-*")) - before
    assert not left, f"{path.name} left temporary folders behind: {sorted(left)}"
    return book


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    _execute(path, tmp_path, 600)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_full_within_its_stated_time(path, tmp_path, monkeypatch):
    monkeypatch.delenv("SMOKE", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    start = time.monotonic()
    _execute(path, tmp_path, FULL_RUN_LIMIT_S[path.stem])
    assert time.monotonic() - start < FULL_RUN_LIMIT_S[path.stem]
