"""The worlds split over worker processes (``bcfl train --workers``): the same worlds as one
process's native vector env, with every action checked before any world moves.

"The same" is exact for everything discrete (selections, verdicts, block heights, autoresets,
committees) and within float rounding for floats: a row of the batched SGD may be summed in
another order when its batch holds 3 worlds instead of 5 (MKL on an AMD EPYC does; on an Intel
Xeon the worlds match bit for bit), and those last bits reach every hash over the model, so
ledger heads are compared only where the floats are bit for bit.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import data_equivalence

from bcfl_env.envs.sb3_vec import make_sb3_vec_env
from bcfl_env.envs.sb3_workers import SB3WorkerVecEnv

# seeded keys, so ledger heads compare; an episode ends at step 4, so autoresets compare too
KWARGS = {"chain.key_source": "seed", "max_rounds": 4}


def _actions(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.uniform(-1, 1, size=(count, 20)).astype(np.float32)


def _step(vec, actions):
    vec.step_async(actions)
    return vec.step_wait()


# hashes over float32 model bytes: equal exactly when the floats are
HASHED = frozenset({"chain_head"})


def same_worlds(a: Any, b: Any, bit_for_bit: bool = False, where: str = "") -> list[str]:
    """Where a and b differ: discrete values exactly, floats within rounding (1e-5 relative)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(a)} != {sorted(b)}"]
        wrong = []
        for key in a:
            if key in HASHED and not bit_for_bit:
                wrong += [] if type(a[key]) is type(b[key]) else [f"{where}.{key}: type"]
            else:
                wrong += same_worlds(a[key], b[key], bit_for_bit, f"{where}.{key}")
        return wrong
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if type(a) is not type(b) or len(a) != len(b):
            return [f"{where}: {type(a).__name__}[{len(a)}] != {type(b).__name__}[{len(b)}]"]
        return [
            w
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for w in same_worlds(x, y, bit_for_bit, f"{where}[{i}]")
        ]
    if isinstance(a, (np.ndarray, float, np.floating)):
        x, y = np.asarray(a), np.asarray(b)
        if type(a) is not type(b) or x.dtype != y.dtype or x.shape != y.shape:
            return [
                f"{where}: {type(a).__name__} {x.dtype}{x.shape} != {type(b).__name__} {y.dtype}{y.shape}"
            ]
        if x.dtype.kind == "f" and not bit_for_bit:
            close = np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True)
        else:
            close = data_equivalence(a, b)
        return [] if close else [f"{where}: {a!r} != {b!r}"]
    return [] if data_equivalence(a, b) else [f"{where}: {a!r} != {b!r}"]


def test_worlds_on_two_workers_are_the_worlds_of_one_process():
    one = make_sb3_vec_env("bcfl/IoV-v1", 5, seed=7, **KWARGS)
    split = SB3WorkerVecEnv("bcfl/IoV-v1", 5, 2, KWARGS)
    split.seed(7)
    try:
        assert isinstance(split, SB3WorkerVecEnv) and split._shares == [3, 2]
        assert np.array_equal(one.reset(), split.reset())
        assert same_worlds(one.reset_infos, split.reset_infos, bit_for_bit=True) == []
        rng = np.random.default_rng(0)
        heads = set()
        for _ in range(9):
            actions = _actions(rng, 5)
            expected, got = _step(one, actions), _step(split, actions)
            assert same_worlds(expected, got) == []
            heads.update(info["chain_head"] for info in got[3])
        assert got[2].dtype == np.bool_ and got[1].dtype == np.float32
        assert same_worlds(one.reset_infos, split.reset_infos) == []
        assert len(heads) > 5  # the chains moved
        assert same_worlds(got[3][0], got[3][1])  # and the comparison tells worlds apart

        # a bad action in either worker's share names its world over all five; no world moves
        for world in (4, 1):
            bad = _actions(rng, 5)
            bad[world, 3] = 5.0
            with pytest.raises(ValueError, match=rf"actions\[{world}\]: action values must lie"):
                split.step_async(bad)
        with pytest.raises(ValueError, match="one action per world"):
            split.step_async(_actions(rng, 4))
        actions = _actions(rng, 5)
        last = _step(split, actions)
        assert same_worlds(_step(one, actions), last) == []

        # per-world calls reach the right worker and come back in the order asked
        assert data_equivalence(
            split.env_method("snapshot", indices=[4, 0]), one.env_method("snapshot", indices=[4, 0])
        )
        split.set_attr("note", "x", indices=[3])
        assert split.get_attr("note", indices=[3]) == ["x"]
        with pytest.raises(AttributeError, match="note"):
            split.get_attr("note", indices=[2])
        snapshot = split.env_method("snapshot", indices=[2])[0]
        split.step_async(_actions(rng, 5))
        split.step_wait()
        restored = split.env_method("restore", snapshot, indices=[2])[0]
        assert np.array_equal(restored, last[0][2])
        assert data_equivalence(split.env_method("snapshot", indices=[2])[0], snapshot)
    finally:
        one.close()
        split.close()
    assert not any(p.is_alive() for p in split.processes)


def test_workers_on_other_kernels_step_the_same_worlds_within_rounding(monkeypatch):
    # what an AMD EPYC's MKL did to the layouts, made on any machine: the workers (spawned,
    # so they read the environment now) run ATen's scalar kernels, this process its own
    own = torch.backends.cpu.get_cpu_capability()  # fixed by the first call
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")
    one = make_sb3_vec_env("bcfl/IoV-v1", 4, seed=11, **KWARGS)
    split = SB3WorkerVecEnv("bcfl/IoV-v1", 4, 2, KWARGS, start_method="spawn")
    split.seed(11)
    try:
        assert np.array_equal(one.reset(), split.reset())
        rng, last_bits = np.random.default_rng(1), []
        for _ in range(6):
            actions = _actions(rng, 4)
            expected, got = _step(one, actions), _step(split, actions)
            assert same_worlds(expected, got) == []
            last_bits += same_worlds(expected, got, bit_for_bit=True)
    finally:
        one.close()
        split.close()
    if own != "DEFAULT":
        assert last_bits  # the kernels did differ, and only in what rounding forgives


def test_bad_worker_settings_and_bad_configs_are_named():
    for kwargs, field in (
        ({"workers": 0}, "workers"),
        ({"workers": 6}, "workers=6 exceeds num_envs=5"),
        ({"workers": 2, "torch_threads": 0}, "torch_threads"),
        ({"workers": 2, "start_method": "fork"}, "start_method='fork' is not allowed"),
    ):
        with pytest.raises(ValueError, match=field):
            SB3WorkerVecEnv("bcfl/IoV-v1", 5, **kwargs)
    # a bad config is the worker's error, raised here, and no worker is left running
    with pytest.raises(ValueError, match="max_rounds"):
        SB3WorkerVecEnv("bcfl/IoV-v1", 2, 2, {"max_rounds": -1})
    assert mp.active_children() == []


def test_train_refuses_workers_it_cannot_use(tmp_path):
    """Workers only where worlds step in lockstep, and never more workers than worlds (resuming
    on workers: test_vector_env.py::test_training_on_the_vector_env_resumes_exactly)."""
    from training.train import train

    with pytest.raises(ValueError, match="dqn steps one vehicle per agent step"):
        train("dqn", "bcfl/IoV-v1", 64, 0, 2, {}, tmp_path / "d", workers=2)
    with pytest.raises(ValueError, match="workers=3 exceeds the 2 worlds"):
        train("ppo", "bcfl/IoV-v1", 64, 0, 2, {}, tmp_path / "d", workers=3)


def test_a_worker_that_dies_is_named_with_its_worlds_not_a_broken_pipe():
    import os
    import signal

    vec = SB3WorkerVecEnv("bcfl/IoV-v1", 3, 2, KWARGS)
    try:
        vec.seed(0)
        vec.reset()
        victim = vec.processes[1]  # worlds 2-2 (shares 2 + 1)
        os.kill(victim.pid, signal.SIGKILL)  # as the out-of-memory killer would
        victim.join(timeout=10)
        with pytest.raises(RuntimeError, match=r"worker 1 \(worlds 2-2\) died .* exit code -9"):
            _step(vec, _actions(np.random.default_rng(0), 3))
        with pytest.raises(RuntimeError, match=r"worker 1 \(worlds 2-2\) died"):
            vec.get_attr("budget", [2])
    finally:
        vec.close()  # the live worker still closes; nothing raises here
    assert not any(p.is_alive() for p in vec.processes)
