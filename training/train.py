"""Train an SB3 selector: YAML hyperparameters, run directory, manifest, checkpoints, resume."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

import bcfl_env
from agents.loading import (
    ALGOS,
    PICKING_ALGOS,
    ZOO_ONLY_KEYS,
    algorithms,
    hyperparams_entry,
    load_hyperparams,
    load_model,
    policy_class,
    schedule,
)
from agents.safe_load import parse_policy_kwargs, safe_custom_objects
from training.checkpoints import (
    ResumableCheckpoint,
    checkpoint_candidates,
    restore_checkpoint,
    save_checkpoint,
)
from training.run_folders import new_run_folder

__all__ = [
    "ALGOS",
    "ChainMetricsCallback",
    "EpisodeLog",
    "load_hyperparams",
    "load_model",
    "train",
]

EPISODE_LOG = "episodes.jsonl"  # a run's training episodes, one JSON line each (data)


class ChainMetricsCallback(BaseCallback):
    """Logs FL and chain metrics from ``info`` at every episode end and step (TensorBoard)."""

    def _on_step(self) -> bool:
        for info, done in zip(
            self.locals.get("infos", []), self.locals.get("dones", []), strict=False
        ):
            if "accuracy" not in info:
                continue
            self.logger.record_mean("fl/accuracy", info["accuracy"])
            self.logger.record_mean("chain/rejected", len(info["rejected"]))
            self.logger.record_mean("chain/consensus_s", info["consensus_s"])
            self.logger.record_mean("fl/dropped", len(info["dropped"]))
            for term, value in info.get("rewards", {}).items():
                self.logger.record_mean(f"reward/{term}", value)
            if done and not info.get("TimeLimit.truncated", False):  # reached the target
                self.logger.record_mean("fl/rounds_to_target", info["round"])
        return True


class EpisodeLog(BaseCallback):
    """Appends each finished training episode to ``path`` as a JSON line: the timestep it ended
    at, its simulated time [s], whether it reached the target, its final accuracy. The
    learning curve of a run, in the product's own unit (simulated time to target), read back
    by :func:`read_episode_log`."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _on_step(self) -> bool:
        lines = []
        for info, done in zip(
            self.locals.get("infos", []), self.locals.get("dones", []), strict=False
        ):
            if not done or "sim_time_s" not in info:
                continue
            reached = not info.get("TimeLimit.truncated", False)  # SB3's flag on every VecEnv
            lines.append(json.dumps({
                "timesteps": int(self.num_timesteps), "sim_time_s": float(info["sim_time_s"]),
                "reached": bool(reached), "accuracy": float(info["accuracy"]),
            }))  # fmt: skip
        if lines:
            with self.path.open("a") as fh:
                fh.write("\n".join(lines) + "\n")
        return True


def read_episode_log(run_dir: Path) -> list[dict[str, Any]]:
    """The episodes :class:`EpisodeLog` wrote in ``run_dir`` (none when it wrote nothing)."""
    path = run_dir / EPISODE_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make_env(env_id: str, algo: str, env_kwargs: dict[str, Any]) -> gym.Env[Any, Any]:
    env = gym.make(env_id, **env_kwargs)
    if algo in PICKING_ALGOS:
        env = bcfl_env.DiscreteSelection(env)
    return env


def make_training_env(
    env_id: str, algo: str, env_kwargs: dict[str, Any], num_envs: int, seed: int, workers: int = 1
) -> Any:
    """The SB3 ``VecEnv`` a run trains on: ``num_envs`` worlds of the native vector env stepped
    in one call (:class:`bcfl_env.envs.sb3_vec.SB3VecEnv`, with ``VecMonitor``'s episode
    statistics; ``workers`` > 1 splits them over that many processes, the same worlds bit for
    bit), or, for the one-vehicle-per-step algorithms (DQN, MaskablePPO), SB3's
    ``DummyVecEnv`` of ``DiscreteSelection`` envs: a world there takes several agent steps per
    epoch, so worlds cannot step in lockstep (and ``workers`` must be 1)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecMonitor

    from bcfl_env.envs.sb3_vec import make_sb3_vec_env
    from bcfl_env.envs.sb3_workers import SB3WorkerVecEnv

    if algo in PICKING_ALGOS:
        if workers != 1:
            raise ValueError(
                f"workers={workers}: {algo} steps one vehicle per agent step on single envs, "
                "so its worlds cannot be split over worker processes; allowed: 1"
            )
        return make_vec_env(lambda: make_env(env_id, algo, env_kwargs), n_envs=num_envs, seed=seed)
    if workers == 1:
        return VecMonitor(make_sb3_vec_env(env_id, num_envs, seed, **env_kwargs))
    split = SB3WorkerVecEnv(env_id, num_envs, workers, env_kwargs)
    split.seed(seed)
    return VecMonitor(split)


def train(
    algo: str,
    env_id: str,
    timesteps: int | None,
    seed: int,
    n_envs: int | None,
    env_kwargs: dict[str, Any],
    runs_dir: Path,
    resume: Path | None = None,
    progress: bool | None = None,
    checkpoint_every: int = 1000,
    hyperparams: dict[str, Any] | None = None,
    keep_checkpoints: int = 3,
    init_from: str | Path | None = None,
    workers: int = 1,
) -> Path:
    """Train and return the run directory ``{env}__{algo}__{seed}__{timestamp}``.

    ``workers`` > 1 steps the worlds on that many processes (the same worlds bit for bit, so
    the same run, on as many cores; the native vector env's algorithms only).

    ``hyperparams`` override entries of the shipped YAML (rl-zoo's ``--hyperparams``).
    ``progress``: SB3's progress bar (default: when stderr is a terminal). Periodic checkpoints
    beyond the newest ``keep_checkpoints`` are deleted. ``manifest.json`` records what ran:
    ``timesteps`` is the run's target (a resume with a new target updates it),
    ``trained_timesteps`` the steps trained when the last session ended, and ``sessions`` every
    start and resume.

    ``init_from`` warm-starts the policy from a trained model's weights (``"shipped"``: the
    shipped selector), e.g. to fine-tune the IoV-trained selector on a calibrated scenario: same
    algorithm and policy architecture, read with the safe loader (nothing unpickled), and
    recorded in the manifest with the file's SHA-256. Optimiser state and step count start
    afresh.
    """
    from training.progress import progress_enabled

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer of at least 1, got {workers!r}")
    if keep_checkpoints < 1 or checkpoint_every < 1:
        raise ValueError(
            f"keep_checkpoints={keep_checkpoints} and checkpoint_every={checkpoint_every}: "
            "both must be at least 1"
        )

    algos = algorithms()
    if algo not in algos:
        raise ValueError(f"algo={algo!r} is not allowed: choose one of {sorted(algos)}")
    from bcfl_env.envs.registration import CUSTOM_ENV_ID, ENV_IDS

    if env_id not in ENV_IDS and env_id != CUSTOM_ENV_ID:
        allowed = sorted([*ENV_IDS, CUSTOM_ENV_ID])
        raise ValueError(f"env {env_id!r} is not registered: choose one of {allowed}")
    if resume is not None and not (resume / "manifest.json").is_file():
        raise ValueError(f"--resume {resume}: not a run folder (no manifest.json in it)")
    if resume is not None and init_from is not None:
        raise ValueError("init_from starts a new run: it cannot be combined with resume")
    warm_start = _warm_start_path(init_from)
    hp = load_hyperparams(algo, env_id)
    hp.update(hyperparams or {})
    for key in ZOO_ONLY_KEYS:  # rl-zoo's env-building keys; bcfl train builds the env itself
        hp.pop(key, None)
    total = int(timesteps if timesteps is not None else hp.pop("n_timesteps"))
    hp.pop("n_timesteps", None)
    envs = int(n_envs or hp.pop("n_envs", 1))
    hp.pop("n_envs", None)
    if workers > envs:
        raise ValueError(f"workers={workers} exceeds the {envs} worlds: a worker needs a world")
    policy_name = hp.pop("policy", "MlpPolicy")
    policy = policy_class(policy_name)
    if "policy_kwargs" in hp and isinstance(hp["policy_kwargs"], str):
        hp["policy_kwargs"] = parse_policy_kwargs(hp["policy_kwargs"])  # literals, never eval
    raw = {"policy": policy_name, **hp}
    hp = {k: schedule(v) for k, v in hp.items()}
    if resume is not None:
        run_dir = resume
        manifest = _read_manifest(run_dir / "manifest.json")
        total = int(timesteps if timesteps is not None else manifest["timesteps"])
        env_id, algo, seed, env_kwargs = (
            manifest["env_id"],
            manifest["algo"],
            manifest["seed"],
            manifest["env_kwargs"],
        )
    else:
        run_dir = new_run_folder(runs_dir, env_id, algo, seed)
    try:
        return _run(
            algo, env_id, seed, env_kwargs, hp, policy, raw, total, envs, run_dir, resume,
            progress_enabled(progress), checkpoint_every, keep_checkpoints, warm_start, workers,
        )  # fmt: skip
    except BaseException:
        if resume is None and not any(run_dir.rglob("*.zip")):
            shutil.rmtree(run_dir, ignore_errors=True)  # no empty run folders from failed runs
        raise


def _run(
    algo: str, env_id: str, seed: int, env_kwargs: dict[str, Any], hp: dict[str, Any],
    policy: Any, raw: dict[str, Any], total: int, envs: int, run_dir: Path,
    resume: Path | None, progress_bar: bool, checkpoint_every: int, keep_checkpoints: int,
    warm_start: Path | None = None, workers: int = 1,
) -> Path:  # fmt: skip
    """Build (or restore) the model and learn; see :func:`train`."""
    algos = algorithms()
    vec = make_training_env(env_id, algo, env_kwargs, envs, seed, workers)
    cls = algos[algo]
    if resume is not None:
        model = _resume_newest_intact(run_dir, cls, vec, policy, raw, hp)
        done = model.num_timesteps
    else:
        model = cls(
            policy,
            vec,
            seed=seed,
            device="cpu",
            tensorboard_log=str(run_dir / "tb"),
            verbose=0,
            **hp,
        )
        done = 0
        manifest = _manifest(algo, env_id, seed, env_kwargs, hp, total, raw)
        if warm_start is not None:
            _load_weights(model, warm_start, algo, env_id, env_kwargs)
            manifest["init_from"] = {
                "path": str(warm_start),
                "sha256": hashlib.sha256(warm_start.read_bytes()).hexdigest(),
            }
        cfg: bcfl_env.BCFLConfig = vec.get_attr("config", indices=[0])[0]
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    callbacks = CallbackList(
        [
            ChainMetricsCallback(),
            EpisodeLog(run_dir / EPISODE_LOG),
            ResumableCheckpoint(checkpoint_every, run_dir / "checkpoints", keep_checkpoints),
        ]
    )
    model.learn(
        total_timesteps=max(total - done, 0),
        callback=callbacks,
        reset_num_timesteps=resume is None,
        progress_bar=progress_bar,
    )
    save_checkpoint(model, run_dir / "model")
    _record_session(run_dir, done, model.num_timesteps)
    vec.close()
    return run_dir


def _warm_start_path(init_from: str | Path | None) -> Path | None:
    if init_from is None:
        return None
    if str(init_from) == "shipped":
        from agents.registry import SHIPPED_SELECTOR

        return SHIPPED_SELECTOR
    path = Path(init_from)
    if not path.is_file():
        raise ValueError(f"init_from={str(init_from)!r}: no such model file (or 'shipped')")
    return path


def _load_weights(
    model: Any, path: Path, algo: str, env_id: str, env_kwargs: dict[str, Any]
) -> None:
    """Copy a trained model's policy weights into ``model`` (the safe loader reads the file)."""
    env = gym.make(env_id, **env_kwargs)
    try:
        source = getattr(load_model(path, env), "model")  # noqa: B009  (an SB3Selector's model)
    finally:
        env.close()
    if type(source) is not type(model):
        raise ValueError(
            f"init_from={str(path)!r} is a {type(source).__name__} model; this run trains {algo}"
        )
    if type(source.policy) is not type(model.policy):
        raise ValueError(
            f"init_from={str(path)!r}: its policy is {type(source.policy).__name__}, this run's "
            f"is {type(model.policy).__name__}"
        )
    try:
        model.policy.load_state_dict(source.policy.state_dict())
    except RuntimeError as exc:  # shapes differ: another architecture or feature set
        raise ValueError(
            f"init_from={str(path)!r}: its weights do not fit this policy ({exc})"
        ) from None


def _resume_newest_intact(
    run_dir: Path, cls: Any, vec: Any, policy: Any, raw: dict[str, Any], hp: dict[str, Any]
) -> Any:
    """Load the newest checkpoint that reads back whole; torn or tampered ones are skipped with a
    warning that names them (a crash mid-write, a truncated copy)."""
    problems = []
    for prefix in checkpoint_candidates(run_dir):
        zip_path = prefix.with_suffix(".zip")
        try:
            try:
                trusted = safe_custom_objects(
                    zip_path, vec, policy, raw, schedule,
                    lambda: cls(policy, vec, device="cpu", **hp),
                )  # fmt: skip
                model = cls.load(zip_path, env=vec, device="cpu", custom_objects=trusted)
            except Exception as exc:  # SB3 and zipfile raise many types for a corrupt zip
                raise ValueError(f"cannot resume from {zip_path}: {exc}") from exc
            restore_checkpoint(model, prefix)
        except ValueError as exc:
            problems.append(str(exc))
            warnings.warn(f"skipping checkpoint {prefix.name}: {exc}", stacklevel=3)
            continue
        return model
    if not problems:
        raise ValueError(f"{run_dir} holds no checkpoint to resume from")
    raise ValueError(f"cannot resume: no intact checkpoint in {run_dir} ({'; '.join(problems)})")


def _record_session(run_dir: Path, start: int, end: int) -> None:
    """Update the manifest with the steps trained so far and this session's span."""
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["timesteps"] = max(int(manifest.get("timesteps", 0)), int(end))
    manifest["trained_timesteps"] = int(end)
    manifest.setdefault("sessions", []).append(
        {"from_step": int(start), "to_step": int(end), "finished": dt.datetime.now().isoformat()}
    )
    text = json.dumps(manifest, indent=2, default=str)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# what a resume reads from a manifest, and the type each must have
_MANIFEST_FIELDS = {"timesteps": int, "env_id": str, "algo": str, "seed": int, "env_kwargs": dict}


def _read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest, refused with a message naming the file and the field when malformed."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: a manifest is a JSON object, got {type(manifest).__name__}")
    for key, kind in _MANIFEST_FIELDS.items():
        value = manifest.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(
                f"{path}: field {key!r} must be {kind.__name__}, got {value!r} "
                "(not a manifest bcfl train wrote)"
            )
    return manifest


def _manifest(
    algo: str,
    env_id: str,
    seed: int,
    env_kwargs: dict[str, Any],
    hp: dict[str, Any],
    total: int,
    raw: dict[str, Any],
) -> dict[str, Any]:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        rev = ""
    import stable_baselines3

    return {
        "algo": algo,
        "env_id": env_id,
        "seed": seed,
        "env_kwargs": env_kwargs,
        "timesteps": total,
        "hyperparams": {k: (v if not callable(v) else "schedule") for k, v in hp.items()},
        "hyperparams_raw": raw,  # as written (schedules as "lin_..."): what the safe loader reads
        "hyperparams_entry": hyperparams_entry(algo, env_id),  # the YAML entry they came from
        "versions": {
            "bcfl_env": bcfl_env.__version__,
            "torch": torch.__version__,
            "sb3": stable_baselines3.__version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "git_revision": rev,
    }
