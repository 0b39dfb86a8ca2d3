"""The dynamics' fingerprint: same-seed rollouts of every preset, 40 steps, hashed.

Committed before the step pipeline was restructured ("One step pipeline, one registry per
extension point"), so a refactor that changes any observation, reward, verdict, model or block
fails here. A deliberate change of dynamics regenerates the file:
``BCFL_WRITE_FINGERPRINT=1 pytest tests/test_fingerprint.py`` (and bumps the env version).
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


def fingerprint(env_id: str, overrides: dict[str, Any], seed: int = 3) -> dict[str, Any]:
    env = gym.make(
        env_id, max_rounds=STEPS, target_accuracy=0.999, chain__key_source="seed", **overrides
    )
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards, verdicts = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    observations.update(np.ascontiguousarray(obs).tobytes())
    steps = 0
    for _ in range(STEPS):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
        observations.update(np.ascontiguousarray(obs).tobytes())
        rewards.update(repr(float(reward)).encode())
        verdict = {k: info[k] for k in ("selected", "accepted", "rejected", "dropped", "in_flight")}
        verdicts.update(json.dumps(verdict, sort_keys=True, default=str).encode())
        if terminated or truncated:
            break
    base = env.unwrapped
    params = base.world.fl.global_params.detach().numpy()
    result = {
        "steps": steps,
        "observations": observations.hexdigest(),
        "rewards": rewards.hexdigest(),
        "verdicts": verdicts.hexdigest(),
        "global_model": hashlib.sha256(params.tobytes()).hexdigest(),
        "accuracy": repr(float(info["accuracy"])),
        "sim_time_s": repr(float(info["sim_time_s"])),
        "ledger_head": base.ledger.head_hash,
        "block_height": int(info["block_height"]),
    }
    env.close()
    return result


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_seed_rollouts_match_the_committed_fingerprint(case: str) -> None:
    env_id, overrides = CASES[case]
    found = fingerprint(env_id, overrides)
    stored = json.loads(FINGERPRINTS.read_text()) if FINGERPRINTS.exists() else {}
    if os.environ.get("BCFL_WRITE_FINGERPRINT") == "1":
        stored[case] = found
        FINGERPRINTS.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    assert found == stored[case]
