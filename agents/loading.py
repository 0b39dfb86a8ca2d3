"""Load a selection policy by name or from a file: the one entry point, :func:`load_selector`.

A name is looked up in the selector registry (:mod:`agents.registry`); ``"shipped"`` is the
shipped ``SlotSetPolicy`` model; a path is a model saved by ``bcfl train`` and is read through the
safe loader (nothing pickled in a shared file is unpickled, :mod:`agents.safe_load`). With a
:class:`~agents.base.SlotSpec` in place of an env (a deployment outside the simulator, such as
the Flower strategy) a model file must hold a ``SlotSetPolicy``, which runs on any N.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

import bcfl_env
from agents.base import Selector, SlotSpec, observed_eligible
from agents.registry import SELECTORS, SHIPPED_SELECTOR, make_selector
from agents.safe_load import UnreadableModelError, safe_custom_objects
from bcfl_env.envs import unwrap, with_picked_column
from bcfl_env.untrusted import parse_untrusted

__all__ = [
    "ALGOS",
    "FALLBACK_ENV",
    "HYPERPARAMS",
    "PICKING_ALGOS",
    "SB3Selector",
    "VARIANTS",
    "algorithms",
    "hyperparams_entry",
    "load_hyperparams",
    "load_model",
    "load_selector",
    "policy_class",
    "schedule",
]

# The YAML hyperparameters are data of the ``training`` package (rl-zoo's layout); read as files,
# so loading a model needs no training code. Both packages ship in the one distribution.
HYPERPARAMS = Path(__file__).resolve().parents[1] / "training" / "hyperparams"
FALLBACK_ENV = "bcfl/IoV-v1"
# YAML keys rl-baselines3-zoo reads to build the env; bcfl train applies the same wrappers itself
ZOO_ONLY_KEYS = ("env_wrapper", "normalize", "frame_stack", "callback", "vec_env_wrapper")


def algorithms() -> dict[str, Any]:
    """The SB3 classes by algorithm name (MaskablePPO when sb3-contrib is installed)."""
    from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

    algos: dict[str, Any] = {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3, "dqn": DQN}
    try:
        from sb3_contrib import MaskablePPO

        algos["maskable_ppo"] = MaskablePPO
    except ImportError:  # the contrib extra is optional
        pass
    return algos


ALGOS = ("ppo", "a2c", "sac", "td3", "dqn", "maskable_ppo")
# Learned selectors that are an SB3 algorithm on another action space, by the name the
# leaderboard's tracks and ``bcfl tune`` use: (algorithm, env overrides for training and
# evaluation, hyperparameters over the algorithm's YAML entry).
VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # PPO's MlpPolicy on the flat observation, acting by feature weights (top-K by a weighted sum
    # of each slot's features): the classic fixed-size action, beside the set policy
    "ppo_weights": (
        "ppo",
        {"env__action_mode": "weights"},
        {"policy": "MlpPolicy", "policy_kwargs": {}},
    ),
    # the shipped PPO with the set policy seeing the oracle features too (true CPU, label entropy
    # and round trip, which no server knows): a reference that asks whether a scenario's headroom
    # is out of reach for want of observation, not a selector a server could run
    "ppo_oracle": ("ppo", {"env__observation_features": "oracle"}, {}),
}


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


def schedule(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress: progress * start
    return value


PICKING_ALGOS = ("dqn", "maskable_ppo")  # trained on one-vehicle picks (DiscreteSelection)


def policy_class(name: str) -> Any:
    if name == "SlotSetPolicy":
        from agents.sb3 import SlotSetPolicy

        return SlotSetPolicy
    return name


class SB3Selector:
    """Adapts a trained SB3 model to the Selector protocol.

    Score-action models (PPO, A2C, SAC, TD3) act directly. Models trained on one-vehicle picks act
    through the same picks: MaskablePPO picks K eligible slots in turn; DQN deploys FAVOR-style,
    the top K slots by Q value in one shot.
    """

    def __init__(self, model: Any, env: gym.Env[Any, Any], algo: str) -> None:
        self.model, self.env, self.algo = model, env, algo
        self.base = unwrap(env)
        self.n, self.k = int(self.base.num_slots), int(self.base.budget)
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
        base = self.base
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
    """Load a model saved by :func:`train`, safely by default (see :mod:`agents.safe_load`).

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
            manifest = parse_untrusted(manifest_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{manifest_path} is not readable JSON: {exc}") from None
        if not isinstance(manifest, dict):
            raise ValueError(f"{manifest_path}: a manifest is a JSON object")
    algos = algorithms()
    if "algo" in manifest and manifest["algo"] not in algos:
        raise ValueError(
            f"{manifest_path}: field 'algo'={manifest['algo']!r} is not allowed: choose one of "
            f"{sorted(algos)}"
        )
    algo = manifest.get("algo") or path.stem.split("__")[0]
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
        if not isinstance(env_id, str):
            raise ValueError(f"{manifest_path}: field 'env_id' must be a string, got {env_id!r}")
        raw = manifest.get("hyperparams_raw") or load_hyperparams(algo, env_id)
        if not isinstance(raw, dict):
            raise ValueError(
                f"{manifest_path}: field 'hyperparams_raw' must be an object, got "
                f"{type(raw).__name__}"
            )
        raw = {k: v for k, v in raw.items() if k not in ZOO_ONLY_KEYS}
        policy = policy_class(str(raw.get("policy", "MlpPolicy")))
        if isinstance(policy, str):
            aliases = algos[algo].policy_aliases
            if policy not in aliases:
                raise ValueError(
                    f"{manifest_path}: field 'hyperparams_raw.policy'={policy!r} is not allowed: "
                    f"choose one of {sorted(aliases) + ['SlotSetPolicy']}"
                )
            policy = aliases[policy]
        built = {k: schedule(v) for k, v in raw.items() if k != "policy"}
        try:
            custom = safe_custom_objects(
                path, space_env, policy, raw, schedule,
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
    return SB3Selector(model, env, algo)


def load_selector(
    policy: str | Path | Selector,
    env: gym.Env[Any, Any] | SlotSpec,
    *,
    seed: int | None = 0,
    unsafe_load: bool = False,
) -> Selector:
    """The one way to get a selector: a registered name, ``"shipped"``, a model file, or a
    selector (returned as is), bound to ``env`` or, outside the simulator, to a ``SlotSpec``.

    Args:
        policy: a name of :data:`agents.registry.SELECTORS`, ``"shipped"`` (the shipped
            ``SlotSetPolicy``), the path of a model saved by ``bcfl train``, or a selector.
        env: the env the selector acts in, or the deployment's :class:`SlotSpec`.
        seed: the seed of a baseline's own randomness.
        unsafe_load: let SB3 unpickle the model file's own objects (only files you trust).

    Raises:
        ValueError: an unknown name, a missing or unreadable model file, or a selector that
            needs an env given a ``SlotSpec``.
    """
    if not isinstance(policy, str | Path):
        return policy
    if isinstance(policy, str) and policy in SELECTORS:
        return make_selector(policy, env, seed=seed)
    path = SHIPPED_SELECTOR if policy == "shipped" else Path(policy)
    if not path.is_file():
        raise ValueError(
            f"policy {str(policy)!r} is neither a registered selector ({sorted(SELECTORS)} or "
            "'shipped') nor an existing model file"
        )
    if isinstance(env, SlotSpec):
        from agents.sb3 import SlotPolicySelector

        return SlotPolicySelector(path, env)
    return load_model(path, env, unsafe=unsafe_load)
