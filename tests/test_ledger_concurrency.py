"""Ledger files shared between processes: a reader never sees half a save, and two writers get a
consistent file or a clear error, never a raw sqlite3 exception."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from bcfl_env.chain import Ledger, LedgerIntegrityError

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import gymnasium as gym

    import bcfl_env

    path, rounds, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    env = gym.make("bcfl/IoV-v1", max_rounds=rounds, target_accuracy=1.0,
                   chain__key_source="seed")
    env.reset(seed=seed)
    env.action_space.seed(seed)
    env.step(env.action_space.sample())
    env.unwrapped.ledger.save(path)
    Path(str(path) + ".started").touch()
    for _ in range(rounds - 1):
        env.step(env.action_space.sample())
        env.unwrapped.ledger.save(path)  # appends the new blocks, rewrites the signed head
    print("height", env.unwrapped.ledger.height)
    """
)


def _writer(path, rounds, seed=0):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(rounds), str(seed)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_loading_while_another_process_saves_never_reports_a_false_tamper(tmp_path):
    path = tmp_path / "ledger.sqlite"
    writer = _writer(path, 40)
    deadline = time.monotonic() + 300
    while not (tmp_path / "ledger.sqlite.started").exists():
        assert writer.poll() is None, writer.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    loads, heights, false_alarms = 0, set(), []
    while writer.poll() is None:
        try:
            ledger = Ledger.load(path, verify=True)
            heights.add(ledger.height)
        except LedgerIntegrityError as exc:
            false_alarms.append(str(exc))
        loads += 1
    assert writer.returncode == 0, writer.stderr.read()
    assert false_alarms == [], f"{len(false_alarms)} of {loads} loads: {false_alarms[:3]}"
    assert loads >= 10 and len(heights) >= 3  # the reader really saw the ledger grow


def test_two_processes_saving_the_same_file_get_a_consistent_ledger_or_a_clear_error(tmp_path):
    path = tmp_path / "ledger.sqlite"
    same = [_writer(path, 25, seed=0) for _ in range(2)]  # the same history, written twice
    for w in same:
        w.wait(timeout=600)
    errors = [w.stderr.read() for w in same]
    assert all("sqlite3." not in e and "Traceback" not in e for e in errors), errors
    assert [w.returncode for w in same] == [0, 0]
    assert Ledger.load(path, verify=True).height >= 25
    other = tmp_path / "other.sqlite"
    rivals = [_writer(other, 25, seed=s) for s in (0, 1)]  # two different histories
    for w in rivals:
        w.wait(timeout=600)
    errors = [w.stderr.read() for w in rivals]
    assert sorted(w.returncode for w in rivals) == [0, 1], errors
    loser = next(e for w, e in zip(rivals, errors, strict=True) if w.returncode)
    assert "sqlite3." not in loser and ("another CA" in loser or "different history" in loser)
    Ledger.load(other, verify=True)


@pytest.mark.parametrize("cut", [0, 1])
def test_a_save_killed_before_its_commit_leaves_the_previous_file(tmp_path, cut):
    import gymnasium as gym

    env = gym.make("bcfl/IoV-v1", max_rounds=6, chain__key_source="seed")
    env.reset(seed=0)
    for _ in range(3):
        env.step(env.action_space.sample())
    path = tmp_path / "ledger.sqlite"
    if cut:
        env.unwrapped.ledger.save(path)
    before = path.read_bytes() if cut else None
    for _ in range(3):
        env.step(env.action_space.sample())
    from bcfl_env.chain import storage

    original = storage._insert_block
    calls = []

    def dies_on_the_second_block(con, height, block, models):  # a kill -9 mid-save
        calls.append(height)
        if len(calls) == 2:
            raise KeyboardInterrupt
        original(con, height, block, models)

    storage._insert_block = dies_on_the_second_block
    try:
        with pytest.raises(KeyboardInterrupt):
            env.unwrapped.ledger.save(path)
    finally:
        storage._insert_block = original
    if cut:
        reloaded = Ledger.load(path, verify=True)
        assert reloaded.height == 3 and path.read_bytes() == before
    else:
        assert not path.exists()  # a first save that did not finish leaves no file at all
