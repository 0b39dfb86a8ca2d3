"""Every notebook runs end to end with SMOKE=1 (small budgets), so none of them rots."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_four_notebooks_are_shipped_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_train_selector.ipynb", "03_adversaries.ipynb", "04_chain_audit.ipynb",
    ]  # fmt: skip
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    # a cell that raises fails the test (nbclient raises CellExecutionError)
    NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
