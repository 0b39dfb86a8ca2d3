"""Load shared model files without running code from them.

An SB3 model zip holds its weights (``*.pth``, which SB3 reads with ``torch.load(weights_only=
True)``) and a JSON ``data`` entry in which some values are cloudpickled: unpickling one runs
whatever code its author put there. The safe path supplies every pickled value from what this
side already trusts (the env's spaces, the policy class named in the run's hyperparameters, the
schedules rebuilt from them), so SB3 unpickles nothing; a pickled entry it does not know is
refused. Hyperparameter strings such as ``dict(embed_dim=64)`` are parsed as literals, never
evaluated.
"""

from __future__ import annotations

import ast
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

__all__ = ["UnreadableModelError", "parse_policy_kwargs", "safe_custom_objects", "serialized_keys"]


class UnreadableModelError(ValueError):
    """The file is not an SB3 model zip at all (corrupt, truncated, another format)."""


def parse_policy_kwargs(text: str) -> dict[str, Any]:
    """``dict(a=1, b='x')`` or ``{'a': 1}`` with literal values only (rl-zoo's notation).

    Raises:
        ValueError: anything but a literal dict.
    """
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"policy_kwargs={text!r} is not a dict: {exc.msg}") from None
    try:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "dict"
        ):
            if node.args or any(k.arg is None for k in node.keywords):
                raise ValueError("positional arguments")
            return {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        value = ast.literal_eval(node)
    except ValueError as exc:
        raise ValueError(
            f"policy_kwargs={text!r} must be dict(key=literal, ...) or a dict literal: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"policy_kwargs={text!r} is not a dict")
    return value


def serialized_keys(path: Path) -> list[str]:
    """The entries of a model zip's ``data`` that SB3 would unpickle."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnreadableModelError(f"{path} is not a readable SB3 model file: {exc}") from None
    if not isinstance(data, dict):
        raise UnreadableModelError(f"{path} is not a readable SB3 model file: bad data entry")
    return [k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v]


def safe_custom_objects(
    path: Path,
    env: gym.Env[Any, Any] | Any,
    policy_class: Any,
    hyperparams: dict[str, Any],
    schedule: Callable[[Any], Any],
    fresh: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """A value for every pickled entry of ``path``, from trusted sources (``env``: anything with
    the observation and action spaces the model acts in, a vector env included).

    Raises:
        ValueError: the file pickles an entry this loader cannot supply.
    """
    from stable_baselines3.common.utils import FloatSchedule, LinearSchedule

    learning_rate = schedule(hyperparams.get("learning_rate", 3e-4))
    trusted: dict[str, Any] = {
        "policy_class": policy_class,
        "observation_space": env.observation_space,
        "action_space": env.action_space,
        "learning_rate": learning_rate,
        "lr_schedule": FloatSchedule(learning_rate),
        "clip_range": FloatSchedule(schedule(hyperparams.get("clip_range", 0.2))),
        "clip_range_vf": None,
        # runtime buffers SB3 rebuilds (the last observation comes back from a checkpoint's
        # JSON / npz state on resume, and evaluation does not need it)
        "_last_obs": None,
        "_last_original_obs": None,
        "_last_episode_starts": None,
        "ep_info_buffer": None,
        "ep_success_buffer": None,
        "rollout_buffer_class": None,
        "rollout_buffer_kwargs": {},
        "replay_buffer_class": None,
        "replay_buffer_kwargs": {},
        "exploration_schedule": LinearSchedule(
            float(hyperparams.get("exploration_initial_eps", 1.0)),
            float(hyperparams.get("exploration_final_eps", 0.05)),
            float(hyperparams.get("exploration_fraction", 0.1)),
        ),
    }
    keys = serialized_keys(path)
    missing = [k for k in keys if k not in trusted]
    if missing and fresh is not None:
        model = fresh()
        trusted.update({k: getattr(model, k) for k in missing if hasattr(model, k)})
    unknown = sorted(set(keys) - set(trusted))
    if unknown:
        raise ValueError(
            f"{path} pickles {unknown}, which the safe loader cannot supply; load it with "
            "unsafe=True (CLI: --unsafe-load) only if you trust whoever made the file"
        )
    return {k: trusted[k] for k in keys}
