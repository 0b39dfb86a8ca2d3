"""The shipped hyperparameter files train with rl-baselines3-zoo as they are (tiny budgets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("algo", "extra"),
    [
        ("ppo", ["--hyperparams", "n_steps:128", "batch_size:64"]),
        ("dqn", ["--hyperparams", "learning_starts:50"]),
    ],
)
def test_shipped_yaml_trains_with_rl_zoo3(tmp_path, algo, extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-m", "rl_zoo3.train", "--algo", algo, "--env", "bcfl/IoV-v1",
         "--gym-packages", "bcfl_env", "agents",
         "--conf-file", str(ROOT / "training" / "hyperparams" / f"{algo}.yml"),
         "-n", "256", "--env-kwargs", "max_rounds:8", "--log-folder", str(tmp_path), *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert list((tmp_path / algo).glob("bcfl-IoV-v1_*/bcfl-IoV-v1.zip"))
