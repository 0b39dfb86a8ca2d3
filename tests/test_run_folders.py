"""Run folders: two runs started in the same second never share (or collide on) a folder."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
from pathlib import Path

from training.run_folders import new_run_folder

SECOND = dt.datetime(2026, 12, 7, 12, 24, 8)


def _make(runs: str) -> str:
    return str(new_run_folder(Path(runs), "bcfl/IoV-v1", "ppo", 0, now=SECOND))


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    # the per-scenario track trains several scenarios of one env id with one algo and seed at
    # once: two pool workers asked for the same stamped name and the second one crashed
    first = new_run_folder(tmp_path, "bcfl/IoV-v1", "ppo", 0, now=SECOND)
    second = new_run_folder(tmp_path, "bcfl/IoV-v1", "ppo", 0, now=SECOND)
    assert first.name == "bcfl-IoV-v1__ppo__0__20261207-122408"
    assert second.name == "bcfl-IoV-v1__ppo__0__20261207-122408-2"
    assert first.is_dir() and second.is_dir()


def test_processes_racing_for_one_name_each_get_a_distinct_folder(tmp_path):
    with mp.get_context("spawn").Pool(4) as pool:
        folders = pool.map(_make, [str(tmp_path)] * 8)
    assert len(set(folders)) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(f).name for f in folders)
