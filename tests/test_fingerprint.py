"""The dynamics' fingerprint: same-seed rollouts of every preset, 40 steps, summarised.

Committed before the step pipeline was restructured ("One step pipeline, one registry per
extension point"), so a refactor that changes any observation, reward, verdict, model or block
fails here. A deliberate change of dynamics regenerates the file:
``BCFL_WRITE_FINGERPRINT=1 pytest tests/test_fingerprint.py`` (and bumps the env version).

What is discrete (steps, every step's selection and verdicts, the block height) must match
exactly. What is float is compared within a tolerance far below any change of dynamics and far
above the last bits: PyTorch does not promise the same float32 bits on different CPUs (an AMD
EPYC's MKL and an Intel Xeon's differ in summation order, about 1e-7 in the model), and those
bits reach the rewards, the observations and every hash over the model, ledger heads included.
Observations and the model are kept as 16 fixed random +-1 projections, so a change of any one
element by more than the tolerance shows.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import bcfl_env  # noqa: F401  (registers the ids)

FINGERPRINTS = Path(__file__).parent / "data" / "fingerprint.json"
STEPS = 40
PROJECTIONS = 16
# observations lie in [0, 1]; across CPUs they differ by about 1e-6, rewards by 1e-9, model
# weights by 1e-6 (measured with ATen's AVX-512 against its default kernels, and MKL's
# reproducible mode, on an Intel Xeon)
TOLERANCE = {
    "observations": 1e-4,
    "rewards": 1e-6,
    "global_model": 1e-4,
    "accuracy": 1e-6,
    "sim_time_s": 1e-6,
}
EXACT = ("steps", "verdicts", "block_height")
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "iov": ("bcfl/IoV-v1", {}),
    "iiot": ("bcfl/IIoT-v1", {}),
    "ioht": ("bcfl/IoHT-v1", {}),
    # the DAG's hooks are part of the step pipeline; attacks and faults exercise every verdict
    "iov-dag-attacked": (
        "bcfl/IoV-v1",
        {"chain__dag": True, "malicious_fraction": 0.25, "faulty_fraction": 0.25},
    ),
}


def _projected(values: np.ndarray) -> list[float]:
    """16 sums of the values with fixed random signs: any one value's change shows in each."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    signs = np.random.default_rng(20261207).choice([-1.0, 1.0], size=(PROJECTIONS, flat.size))
    return [float(x) for x in signs @ flat]


def fingerprint(env_id: str, overrides: dict[str, Any], seed: int = 3) -> dict[str, Any]:
    env = gym.make(
        env_id, max_rounds=STEPS, target_accuracy=0.999, chain__key_source="seed", **overrides
    )
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards, verdicts = [np.array(obs)], [], hashlib.sha256()
    for _ in range(STEPS):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        observations.append(np.array(obs))
        rewards.append(float(reward))
        verdict = {k: info[k] for k in ("selected", "accepted", "rejected", "dropped", "in_flight")}
        verdicts.update(json.dumps(verdict, sort_keys=True, default=str).encode())
        if terminated or truncated:
            break
    params = env.unwrapped.world.fl.global_params.detach().numpy()
    result = {
        "steps": len(rewards),
        "verdicts": verdicts.hexdigest(),
        "block_height": int(info["block_height"]),
        "observations": _projected(np.stack(observations)),
        "rewards": rewards,
        "global_model": _projected(params),
        "accuracy": float(info["accuracy"]),
        "sim_time_s": float(info["sim_time_s"]),
    }
    env.close()
    return result


def differences(found: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """What differs beyond the tolerance, one line a field."""
    if set(found) != set(stored):
        return [f"fields {sorted(found)} != {sorted(stored)}"]
    wrong = [
        f"{key}: {found[key]!r} != {stored[key]!r}" for key in EXACT if found[key] != stored[key]
    ]
    for key, tolerance in TOLERANCE.items():
        a, b = np.asarray(found[key], dtype=np.float64), np.asarray(stored[key], dtype=np.float64)
        if a.shape != b.shape:
            wrong.append(f"{key}: shape {a.shape} != {b.shape}")
        elif not np.all(np.abs(a - b) <= tolerance):
            wrong.append(f"{key}: differs by up to {np.max(np.abs(a - b)):.3g} > {tolerance}")
    return wrong


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_seed_rollouts_match_the_committed_fingerprint(case: str) -> None:
    env_id, overrides = CASES[case]
    found = fingerprint(env_id, overrides)
    stored = json.loads(FINGERPRINTS.read_text()) if FINGERPRINTS.exists() else {}
    if os.environ.get("BCFL_WRITE_FINGERPRINT") == "1":
        stored[case] = found
        FINGERPRINTS.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    assert differences(found, stored[case]) == []


def test_the_comparison_sees_a_change_of_one_value_and_forgives_the_last_bits() -> None:
    stored = json.loads(FINGERPRINTS.read_text())["iov"]
    rounding = {
        key: (np.asarray(value) * (1 + 1e-9)).tolist() if key in TOLERANCE else value
        for key, value in stored.items()
    }
    assert differences(rounding, stored) == []
    one_weight = np.zeros(2410)
    one_weight[1234] = 1e-3
    nudged = dict(stored, global_model=(np.add(stored["global_model"], _projected(one_weight))))
    assert [line.split(":")[0] for line in differences(nudged, stored)] == ["global_model"]
    assert differences(dict(stored, block_height=stored["block_height"] - 1), stored)
    assert differences(dict(stored, rewards=stored["rewards"][:-1]), stored)
