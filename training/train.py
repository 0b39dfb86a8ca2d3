"""Train an SB3 selector: YAML hyperparameters, run directory, manifest, checkpoints, resume."""

from __future__ import annotations

import datetime as dt
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
import yaml
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

import bcfl_env
from agents.base import Selector, observed_eligible
from agents.safe_load import UnreadableModelError, parse_policy_kwargs, safe_custom_objects
from bcfl_env.envs import with_picked_column
from training.checkpoints import (
    ResumableCheckpoint,
    checkpoint_candidates,
    restore_checkpoint,
    save_checkpoint,
)

__all__ = ["ALGOS", "ChainMetricsCallback", "load_hyperparams", "load_model", "train"]

HYPERPARAMS = Path(__file__).parent / "hyperparams"
FALLBACK_ENV = "bcfl/IoV-v1"
# YAML keys rl-baselines3-zoo reads to build the env; bcfl train applies the same wrappers itself
ZOO_ONLY_KEYS = ("env_wrapper", "normalize", "frame_stack", "callback", "vec_env_wrapper")


def _algos() -> dict[str, Any]:
    from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

    algos: dict[str, Any] = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3, "dqn": DQN}
    try:
        from sb3_contrib import MaskablePPO

        algos["maskable_ppo"] = MaskablePPO
    except ImportError:  # the contrib extra is optional
        pass
    return algos


ALGOS = ("ppo", "a2c", "sac", "td3", "dqn", "maskable_ppo")


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


def load_hyperparams(algo: str, env_id: str) -> dict[str, Any]:
    """The YAML entry for ``env_id``; where the file has none, IoV's, with a warning that says so."""
    path = HYPERPARAMS / f"{algo}.yml"
    if not path.is_file():
        raise ValueError(f"algo={algo!r} is not allowed: choose one of {list(ALGOS)}")
    table = yaml.safe_load(path.read_text()) or {}
    params = table.get(env_id)
    if params is None:
        params = table.get(FALLBACK_ENV)
        if params is None:
            raise ValueError(f"{path} has no entry for {env_id} (nor {FALLBACK_ENV})")
        warnings.warn(
            f"{path.name} has no entry for {env_id}: using the {FALLBACK_ENV} hyperparameters "
            "(tuned there, untested here)",
            stacklevel=2,
        )
    return dict(params)


def hyperparams_entry(algo: str, env_id: str) -> str:
    """Which entry of ``<algo>.yml`` :func:`load_hyperparams` uses for ``env_id``."""
    table = yaml.safe_load((HYPERPARAMS / f"{algo}.yml").read_text()) or {}
    return env_id if env_id in table else FALLBACK_ENV


def _schedule(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress: progress * start
    return value


PICKING_ALGOS = ("dqn", "maskable_ppo")  # trained on one-vehicle picks (DiscreteSelection)


def make_env(env_id: str, algo: str, env_kwargs: dict[str, Any]) -> gym.Env[Any, Any]:
    env = gym.make(env_id, **env_kwargs)
    if algo in PICKING_ALGOS:
        env = bcfl_env.DiscreteSelection(env)
    return env


def _policy(name: str) -> Any:
    if name == "SlotSetPolicy":
        from agents.sb3 import SlotSetPolicy

        return SlotSetPolicy
    return name


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
) -> Path:
    """Train and return the run directory ``{env}__{algo}__{seed}__{timestamp}``.

    ``hyperparams`` override entries of the shipped YAML (rl-zoo's ``--hyperparams``).
    ``progress``: SB3's progress bar (default: when stderr is a terminal). Periodic checkpoints
    beyond the newest ``keep_checkpoints`` are deleted. ``manifest.json`` records what ran:
    ``timesteps`` is the run's target (a resume with a new target updates it),
    ``trained_timesteps`` the steps trained when the last session ended, and ``sessions`` every
    start and resume.
    """
    from training.progress import progress_enabled

    if keep_checkpoints < 1 or checkpoint_every < 1:
        raise ValueError(
            f"keep_checkpoints={keep_checkpoints} and checkpoint_every={checkpoint_every}: "
            "both must be at least 1"
        )

    algos = _algos()
    if algo not in algos:
        raise ValueError(f"algo={algo!r} is not allowed: choose one of {sorted(algos)}")
    from bcfl_env.envs.registration import ENV_IDS

    if env_id not in ENV_IDS:
        raise ValueError(f"env {env_id!r} is not registered: choose one of {sorted(ENV_IDS)}")
    if resume is not None and not (resume / "manifest.json").is_file():
        raise ValueError(f"--resume {resume}: not a run folder (no manifest.json in it)")
    hp = load_hyperparams(algo, env_id)
    hp.update(hyperparams or {})
    for key in ZOO_ONLY_KEYS:  # rl-zoo's env-building keys; bcfl train builds the env itself
        hp.pop(key, None)
    total = int(timesteps if timesteps is not None else hp.pop("n_timesteps"))
    hp.pop("n_timesteps", None)
    envs = int(n_envs or hp.pop("n_envs", 1))
    hp.pop("n_envs", None)
    policy_name = hp.pop("policy", "MlpPolicy")
    policy = _policy(policy_name)
    if "policy_kwargs" in hp and isinstance(hp["policy_kwargs"], str):
        hp["policy_kwargs"] = parse_policy_kwargs(hp["policy_kwargs"])  # literals, never eval
    raw = {"policy": policy_name, **hp}
    hp = {k: _schedule(v) for k, v in hp.items()}
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
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = runs_dir / f"{env_id.replace('/', '-')}__{algo}__{seed}__{stamp}"
        run_dir.mkdir(parents=True, exist_ok=False)
    try:
        return _run(
            algo, env_id, seed, env_kwargs, hp, policy, raw, total, envs, run_dir, resume,
            progress_enabled(progress), checkpoint_every, keep_checkpoints,
        )  # fmt: skip
    except BaseException:
        if resume is None and not any(run_dir.rglob("*.zip")):
            shutil.rmtree(run_dir, ignore_errors=True)  # no empty run folders from failed runs
        raise


def _run(
    algo: str, env_id: str, seed: int, env_kwargs: dict[str, Any], hp: dict[str, Any],
    policy: Any, raw: dict[str, Any], total: int, envs: int, run_dir: Path,
    resume: Path | None, progress_bar: bool, checkpoint_every: int, keep_checkpoints: int,
) -> Path:  # fmt: skip
    """Build (or restore) the model and learn; see :func:`train`."""
    from stable_baselines3.common.env_util import make_vec_env

    algos = _algos()
    vec = make_vec_env(lambda: make_env(env_id, algo, env_kwargs), n_envs=envs, seed=seed)
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
        cfg = vec.envs[0].unwrapped.config  # type: ignore[attr-defined]
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        (run_dir / "manifest.json").write_text(
            json.dumps(
                _manifest(algo, env_id, seed, env_kwargs, hp, total, raw), indent=2, default=str
            )
        )
    callbacks = CallbackList(
        [
            ChainMetricsCallback(),
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
                    zip_path, vec, policy, raw, _schedule,
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


class _SB3Selector:
    """Adapts a trained SB3 model to the Selector protocol.

    Score-action models (PPO, A2C, SAC, TD3) act directly. Models trained on one-vehicle picks act
    through the same picks: MaskablePPO picks K eligible slots in turn; DQN deploys FAVOR-style,
    the top K slots by Q value in one shot.
    """

    def __init__(self, model: Any, env: gym.Env[Any, Any], algo: str) -> None:
        self.model, self.env, self.algo = model, env, algo
        self.n = int(env.unwrapped.num_slots)  # type: ignore[attr-defined]
        self.k = int(env.unwrapped.budget)  # type: ignore[attr-defined]
        self._favor = None
        if algo == "dqn":
            from agents.favor import FavorSelector

            self._favor = FavorSelector(env, model=model)

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        if self.algo not in PICKING_ALGOS:
            return self.model.predict(observation, state, episode_start, deterministic)
        if self._favor is not None:
            return self._favor.predict(observation)
        base: Any = self.env.unwrapped
        rows = base.as_matrix(observation)
        if rows.ndim == 3:  # a batch from a vector env
            return np.stack([self.predict(r)[0] for r in rows]), None
        eligible = observed_eligible(rows, base.feature_names)
        picked: list[int] = []
        scores = np.full(self.n, -1.0, dtype=np.float32)
        for rank in range(min(self.k, int(eligible.sum()))):
            mask = np.append(eligible, True)
            mask[picked] = False
            obs = with_picked_column(rows, picked, base.observation_layout)
            action, _ = self.model.predict(obs, deterministic=True, action_masks=mask)
            a = int(action)
            if a >= self.n:
                break
            picked.append(a)
            scores[a] = 1.0 - rank / max(self.k, 1)
        return scores, None


def load_model(path: Path, env: gym.Env[Any, Any], unsafe: bool = False) -> Selector:
    """Load a model saved by :func:`train`, safely by default (see :mod:`training.safe_load`).

    The algorithm, policy and hyperparameters come from the run's ``manifest.json`` beside the
    model; nothing pickled in the file is unpickled. ``unsafe=True`` lets SB3 unpickle the file's
    own objects (only for files you trust). PPO and A2C models load with the env's spaces, so a
    ``SlotSetPolicy`` trained with N slots runs with any other N.

    Raises:
        ValueError: no manifest, an unknown algorithm, a corrupt file, or (safe path) a pickled
            entry the loader cannot supply.
    """
    manifest_path = path.parent / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{manifest_path} is not readable JSON: {exc}") from None
    algo = manifest.get("algo") or path.stem.split("__")[0]
    algos = _algos()
    if algo not in algos:
        raise ValueError(f"cannot tell the algorithm of {path}: expected a manifest.json beside it")
    space_env = bcfl_env.DiscreteSelection(env) if algo in PICKING_ALGOS else env
    custom: dict[str, Any] = {}
    if not unsafe:
        if not manifest:
            raise ValueError(
                f"{path}: the safe loader needs the run's manifest.json beside the model (or "
                "unsafe=True for a file you trust)"
            )
        # an older manifest without env_id: the entry of the env the model is loaded into
        env_id = manifest.get("env_id") or (env.spec.id if env.spec else FALLBACK_ENV)
        raw = manifest.get("hyperparams_raw") or load_hyperparams(algo, env_id)
        raw = {k: v for k, v in raw.items() if k not in ZOO_ONLY_KEYS}
        policy = _policy(str(raw.get("policy", "MlpPolicy")))
        if isinstance(policy, str):
            policy = algos[algo].policy_aliases[policy]
        built = {k: _schedule(v) for k, v in raw.items() if k != "policy"}
        try:
            custom = safe_custom_objects(
                path, space_env, policy, raw, _schedule,
                lambda: algos[algo](policy, space_env, device="cpu", **built),
            )  # fmt: skip
        except UnreadableModelError as exc:
            raise ValueError(f"{path} is not a readable {algo} model: {exc}") from None
    if algo in ("ppo", "a2c"):
        custom.update(observation_space=env.observation_space, action_space=env.action_space)
    try:
        model = algos[algo].load(path, device="cpu", custom_objects=custom or None)
    except Exception as exc:  # SB3 raises many types for a corrupt zip
        raise ValueError(f"{path} is not a readable {algo} model: {exc}") from exc
    return _SB3Selector(model, env, algo)
