"""Checkpoints that resume a run exactly.

A checkpoint is the SB3 model zip plus ``<name>.state.pkl``: the algorithm's last observation and
episode starts, the global torch, numpy and Python RNG states SB3 draws from, the action space's
generator, and a snapshot of every environment (``BCFLEnv.snapshot``: world seed, the episode's
actions, the env's generator; the world is rebuilt by replay). Off-policy algorithms also save
their replay buffer. Checkpoints are written at the start of a rollout, after the previous
update, so a resumed run continues from the very state the uninterrupted one had.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

__all__ = ["ResumableCheckpoint", "latest_checkpoint", "restore_checkpoint", "save_checkpoint"]

STATE_VERSION = 1


def save_checkpoint(model: BaseAlgorithm, prefix: Path) -> Path:
    """Write ``prefix.zip`` and ``prefix.state.pkl`` (and ``prefix.replay.pkl`` off-policy)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    model.save(prefix.with_suffix(".zip"))
    env = model.get_env()
    assert env is not None
    state = {
        "version": STATE_VERSION,
        "num_timesteps": model.num_timesteps,
        "last_obs": model._last_obs,
        "last_episode_starts": getattr(model, "_last_episode_starts", None),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),  # noqa: NPY002 - SB3 draws from the legacy global RNG
        "python_rng": random.getstate(),
        "action_space_rng": model.action_space.np_random.bit_generator.state,
        "envs": env.env_method("snapshot"),
    }
    with open(prefix.with_suffix(".state.pkl"), "wb") as fh:
        pickle.dump(state, fh)
    if isinstance(model, OffPolicyAlgorithm):
        model.save_replay_buffer(prefix.with_suffix(".replay.pkl"))
    return prefix.with_suffix(".zip")


def restore_checkpoint(model: BaseAlgorithm, prefix: Path) -> None:
    """Put a freshly loaded ``model`` (with its env set) back into the saved state.

    Raises:
        ValueError: a missing, corrupt or mismatched state file.
    """
    path = prefix.with_suffix(".state.pkl")
    try:
        with open(path, "rb") as fh:
            state = pickle.load(fh)  # our own file, written by save_checkpoint
        if state.get("version") != STATE_VERSION or state["num_timesteps"] != model.num_timesteps:
            raise ValueError("state does not belong to this model")
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, AttributeError, ValueError) as exc:
        raise ValueError(f"cannot resume from {path}: {exc}") from exc
    env = model.get_env()
    assert env is not None
    if len(state["envs"]) != env.num_envs:
        raise ValueError(
            f"cannot resume from {path}: it holds {len(state['envs'])} envs, the run has {env.num_envs}"
        )
    env.env_method("reset")  # wrapper bookkeeping (Monitor, order checks); the state comes next
    observations = [
        env.env_method("restore", snap, indices=[i])[0] for i, snap in enumerate(state["envs"])
    ]
    model._last_obs = np.stack(observations)
    if not np.array_equal(model._last_obs, state["last_obs"]):
        raise ValueError(
            f"cannot resume from {path}: the replayed environment does not match the saved one"
        )
    if state["last_episode_starts"] is not None:
        model._last_episode_starts = state["last_episode_starts"]
    if isinstance(model, OffPolicyAlgorithm) and prefix.with_suffix(".replay.pkl").is_file():
        model.load_replay_buffer(prefix.with_suffix(".replay.pkl"))
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])  # noqa: NPY002 - restores what SB3 draws from
    random.setstate(state["python_rng"])
    model.action_space.np_random.bit_generator.state = state["action_space_rng"]


def latest_checkpoint(run_dir: Path) -> Path:
    """The prefix to resume from: the final model, else the newest periodic checkpoint."""
    if (run_dir / "model.state.pkl").is_file():
        return run_dir / "model"
    found = sorted(
        (run_dir / "checkpoints").glob("model_*_steps.state.pkl"),
        key=lambda p: int(p.name.split("_")[1]),
    )
    if not found:
        raise ValueError(f"{run_dir} holds no checkpoint to resume from")
    return found[-1].parent / found[-1].name.removesuffix(".state.pkl")


class ResumableCheckpoint(BaseCallback):
    """Every ``every`` steps, at the start of a rollout (after the update), write a checkpoint."""

    def __init__(self, every: int, folder: Path) -> None:
        super().__init__()
        self.every, self.folder = every, folder
        self._next = every

    def _on_training_start(self) -> None:
        self._next = (self.model.num_timesteps // self.every + 1) * self.every

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps >= self._next:
            save_checkpoint(self.model, self.folder / f"model_{self.model.num_timesteps}_steps")
            self._next = (self.model.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        return True
