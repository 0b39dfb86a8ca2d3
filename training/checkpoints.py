"""Checkpoints that resume a run exactly.

A checkpoint is the SB3 model zip plus ``<name>.state.json`` and ``<name>.state.npz``: the
algorithm's last observation and episode starts, the global torch, numpy and Python RNG states SB3
draws from, the action space's generator, and a snapshot of every environment
(``BCFLEnv.snapshot``: world seed, the episode's actions, the env's generator; the world is rebuilt
by replay). Off-policy algorithms also save their replay buffer (``<name>.replay.npz``). Nothing
is pickled: JSON and ``numpy.savez`` arrays read back with ``allow_pickle=False``, so a shared run
folder cannot run code on the machine that resumes it. Files are written to a temporary name and
renamed, so a crash never leaves a torn checkpoint. Checkpoints are written at the start of a
rollout, after the previous update, so a resumed run continues from the very state the
uninterrupted one had.
"""

from __future__ import annotations

import json
import os
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

__all__ = [
    "ResumableCheckpoint",
    "checkpoint_candidates",
    "latest_checkpoint",
    "prune_checkpoints",
    "restore_checkpoint",
    "save_checkpoint",
]

STATE_VERSION = 2


def _atomic_write(path: Path, write: Any) -> None:
    """Write through ``write(tmp_path)`` then rename: readers see the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # (numpy types a key as allow_pickle)

    _atomic_write(path, write)


def _checkpoint_steps(path: Path) -> int:
    return int(path.name.split("_")[1])


def save_checkpoint(model: BaseAlgorithm, prefix: Path) -> Path:
    """Write ``prefix.zip``, ``prefix.state.json`` and ``prefix.state.npz`` (and
    ``prefix.replay.npz`` off-policy)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    env = model.get_env()
    assert env is not None
    if isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        buffer = model.replay_buffer
        arrays = {k: v for k, v in vars(buffer).items() if isinstance(v, np.ndarray)}
        arrays["_pos_full"] = np.array([buffer.pos, int(buffer.full)])
        _save_npz(prefix.with_suffix(".replay.npz"), arrays)
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 - SB3's global RNG
    version, py_state, gauss_next = random.getstate()
    arrays = {"last_obs": np.asarray(model._last_obs), "torch_rng": torch.get_rng_state().numpy()}
    arrays["numpy_rng_keys"] = np.asarray(keys)
    starts = getattr(model, "_last_episode_starts", None)
    if starts is not None:
        arrays["last_episode_starts"] = np.asarray(starts)
    _save_npz(prefix.with_suffix(".state.npz"), arrays)
    state = {
        "version": STATE_VERSION,
        "num_timesteps": model.num_timesteps,
        "numpy_rng": [name, int(pos), int(has_gauss), float(cached)],
        "python_rng": [version, list(py_state), gauss_next],
        "action_space_rng": model.action_space.np_random.bit_generator.state,
        "envs": env.env_method("snapshot"),
    }
    text = json.dumps(state)
    _atomic_write(prefix.with_suffix(".state.json"), lambda tmp: tmp.write_text(text))
    model.save(prefix.with_suffix(".zip"))  # last: a checkpoint counts once its zip exists
    return prefix.with_suffix(".zip")


def restore_checkpoint(model: BaseAlgorithm, prefix: Path) -> None:
    """Put a freshly loaded ``model`` (with its env set) back into the saved state.

    Raises:
        ValueError: a missing, corrupt or mismatched state file (pickled arrays included).
    """
    path = prefix.with_suffix(".state.json")
    try:
        state = json.loads(path.read_text())
        with np.load(prefix.with_suffix(".state.npz"), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if state.get("version") != STATE_VERSION or state["num_timesteps"] != model.num_timesteps:
            raise ValueError("state does not belong to this model")
        envs, last_obs = list(state["envs"]), arrays["last_obs"]
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        zipfile.BadZipFile,
        EOFError,
    ) as exc:  # fmt: skip  (a torn .npz is not a zip: fall back, do not crash)
        raise ValueError(f"cannot resume from {path}: {exc!r}") from exc
    env = model.get_env()
    assert env is not None
    if len(envs) != env.num_envs:
        raise ValueError(
            f"cannot resume from {path}: it holds {len(envs)} envs, the run has {env.num_envs}"
        )
    env.env_method("reset")  # wrapper bookkeeping (Monitor, order checks); the state comes next
    observations = [env.env_method("restore", snap, indices=[i])[0] for i, snap in enumerate(envs)]
    model._last_obs = np.stack(observations)
    if not np.array_equal(model._last_obs, last_obs):
        raise ValueError(
            f"cannot resume from {path}: the replayed environment does not match the saved one"
        )
    if "last_episode_starts" in arrays:
        model._last_episode_starts = arrays["last_episode_starts"]
    replay = prefix.with_suffix(".replay.npz")
    if isinstance(model, OffPolicyAlgorithm) and replay.is_file():
        _restore_replay(model, replay)
    name, pos, has_gauss, cached = state["numpy_rng"]
    torch.set_rng_state(torch.from_numpy(arrays["torch_rng"]))
    np.random.set_state((name, arrays["numpy_rng_keys"], pos, has_gauss, cached))  # noqa: NPY002
    version, py_state, gauss_next = state["python_rng"]
    random.setstate((version, tuple(py_state), gauss_next))
    model.action_space.np_random.bit_generator.state = state["action_space_rng"]


def _restore_replay(model: OffPolicyAlgorithm, path: Path) -> None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"cannot resume from {path}: {exc}") from exc
    buffer = model.replay_buffer
    assert buffer is not None
    pos, full = (int(v) for v in arrays.pop("_pos_full"))
    for key, value in arrays.items():
        current = getattr(buffer, key, None)
        if not isinstance(current, np.ndarray) or current.shape != value.shape:
            raise ValueError(f"cannot resume from {path}: replay array {key!r} does not fit")
        setattr(buffer, key, value)
    buffer.pos, buffer.full = pos, bool(full)


def checkpoint_candidates(run_dir: Path) -> list[Path]:
    """Prefixes to resume from, newest first: the final model, then the periodic checkpoints by
    step. Only complete ones (state written, zip present) are listed; whether they read back is
    for :func:`restore_checkpoint` to say."""
    found = []
    if (run_dir / "model.state.json").is_file() and (run_dir / "model.zip").is_file():
        found.append(run_dir / "model")
    periodic = sorted(
        (run_dir / "checkpoints").glob("model_*_steps.state.json"),
        key=_checkpoint_steps,
        reverse=True,
    )
    for state in periodic:
        if state.with_name(state.name.replace(".state.json", ".zip")).is_file():
            found.append(state.parent / state.name.removesuffix(".state.json"))
    return found


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint's prefix (see :func:`checkpoint_candidates`)."""
    found = checkpoint_candidates(run_dir)
    if not found:
        raise ValueError(f"{run_dir} holds no checkpoint to resume from")
    return found[0]


def prune_checkpoints(folder: Path, keep: int) -> None:
    """Delete every periodic checkpoint but the newest ``keep`` (all files of each)."""
    zips = sorted(folder.glob("model_*_steps.zip"), key=_checkpoint_steps)
    for old in zips[: max(len(zips) - keep, 0)]:
        prefix = old.name.removesuffix(".zip")
        for part in folder.glob(f"{prefix}.*"):
            part.unlink(missing_ok=True)


class ResumableCheckpoint(BaseCallback):
    """Every ``every`` steps, at the start of a rollout (after the update), write a checkpoint
    and keep only the newest ``keep``."""

    def __init__(self, every: int, folder: Path, keep: int = 3) -> None:
        super().__init__()
        self.every, self.folder, self.keep = every, folder, keep
        self._next = every

    def _on_training_start(self) -> None:
        self._next = (self.model.num_timesteps // self.every + 1) * self.every

    def _on_rollout_start(self) -> None:
        if self.model.num_timesteps >= self._next:
            save_checkpoint(self.model, self.folder / f"model_{self.model.num_timesteps}_steps")
            self._next = (self.model.num_timesteps // self.every + 1) * self.every
            prune_checkpoints(self.folder, self.keep)

    def _on_step(self) -> bool:
        return True
