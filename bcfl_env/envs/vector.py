"""Many worlds in one call: the native vector environment behind ``gymnasium.make_vec``.

``gymnasium.make_vec("bcfl/IoV-v1", num_envs=B)`` (``vectorization_mode="vector_entry_point"``,
the default for these ids) returns a :class:`BCFLVectorEnv`: B independent worlds of one config
stepped together. An epoch runs in phases across all worlds (select, train, the rest of the
epoch), and the local training of every selected vehicle of every world runs in one batched
engine call (:func:`bcfl_env.fl.engine.train_together`), each row from its own world's start
model and data, with its own world's generators: a world draws exactly what it draws alone, so
world i of a vector env seeded ``s`` steps as a single env seeded ``s + i`` does
(``tests/test_vector_env.py``). Each world keeps its own chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from bcfl_env.config import BCFLConfig
from bcfl_env.envs.core import BCFLEnv
from bcfl_env.envs.threads import torch_threads
from bcfl_env.fl.engine import train_together
from bcfl_env.world import run_phases_together

__all__ = ["BCFLVectorEnv", "StepResult", "step_worlds"]


def _observation_shape(env: BCFLEnv) -> tuple[int, ...]:
    shape = env.observation_space.shape
    assert shape is not None  # a Box has a shape
    return tuple(shape)


StepResult = tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]


def step_worlds(
    envs: Sequence[BCFLEnv], actions: Sequence[Any], labels: Sequence[int] | None = None
) -> list[StepResult]:
    """One decision epoch in each of ``envs`` (reset, none ended), with the local training of
    all of them in one batched call; returns each env's (obs, reward, terminated, truncated,
    info) as its own ``step`` would. Every action is validated before any world moves: a bad
    one raises ``ValueError`` naming ``actions[label]`` (``labels``: the envs' indices to name,
    0, 1, ... by default), and no world has stepped."""
    labels = list(range(len(envs))) if labels is None else list(labels)
    choices: list[tuple[np.ndarray, list[int]]] = []
    for k, (env, action) in enumerate(zip(envs, actions, strict=True)):
        try:
            choices.append(env.decide(action))
        except ValueError as exc:
            for done in envs[:k]:  # no world moved: forget the actions recorded so far
                done.retract_decision()
            raise ValueError(f"actions[{labels[k]}]: {exc}") from exc
    if not envs:
        return []
    with torch_threads(envs[0].config.env.torch_threads):
        worlds = [env._require_world() for env in envs]
        previous = [w.fl.accuracy for w in worlds]
        epochs = [w.begin_epoch(slots) for w, (slots, _) in zip(worlds, choices, strict=True)]
        trained = train_together([(w.fl, e.training) for w, e in zip(worlds, epochs, strict=True)])
        for world, epoch, result in zip(worlds, epochs, trained, strict=True):
            world.complete_training(epoch, result)
        # the committees' validation passes and the global evaluations of all worlds, batched
        reports = run_phases_together(
            [w.end_epoch_phases(e) for w, e in zip(worlds, epochs, strict=True)]
        )
        return [
            env.conclude(report, before, slots, ignored)
            for env, report, before, (slots, ignored) in zip(
                envs, reports, previous, choices, strict=True
            )
        ]


class BCFLVectorEnv(VectorEnv[np.ndarray, np.ndarray, np.ndarray]):
    """B independent BCFL worlds of one config, stepped in one call.

    ## Spaces
    ``single_observation_space`` and ``single_action_space`` are those of :class:`BCFLEnv` for
    the config; ``observation_space`` and ``action_space`` batch them with a leading axis of
    ``num_envs``. ``action_masks()`` returns the (B, ...) stack of every world's mask.

    ## Rewards and episode end
    Each world's reward, termination and truncation are :class:`BCFLEnv`'s.
    ``autoreset_mode=AutoresetMode.NEXT_STEP`` (default, Gymnasium 1.x): the step after a world's
    episode ended resets it (its action is ignored, reward 0, the info is the reset's).
    ``SAME_STEP``: the world resets in the step that ended it; ``info["final_obs"]`` and
    ``info["final_info"]`` hold the last observation and info (what SB3's adapter,
    :class:`bcfl_env.envs.sb3_vec.SB3VecEnv`, reads).

    ## Info
    Gymnasium's layout: each key of the single env's info becomes an array over worlds, with a
    boolean ``_key`` array saying which worlds set it.

    Args:
        num_envs: B, the number of worlds (at least 1).
        config: a whole config (else ``preset`` with ``overrides``), shared by every world.
        preset: the preset's name (see :data:`bcfl_env.PRESETS`).
        autoreset_mode: ``NEXT_STEP`` or ``SAME_STEP`` (or their string values).
        render_mode: as for :class:`BCFLEnv`; ``render()`` returns every world's frame.
        **overrides: config overrides, as for ``gymnasium.make``.
    """

    metadata: dict[str, Any] = {
        "autoreset_mode": AutoresetMode.NEXT_STEP,
        "render_modes": BCFLEnv.metadata["render_modes"],
    }

    def __init__(
        self,
        num_envs: int = 1,
        config: BCFLConfig | None = None,
        preset: str = "iov",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer of at least 1, got {num_envs!r}")
        modes = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            mode = None
        if mode not in modes:
            raise ValueError(
                f"autoreset_mode={autoreset_mode!r} is not allowed: choose one of "
                f"{[m.value for m in modes]}"
            )
        first = BCFLEnv(config, preset, render_mode, **overrides)
        # one validated config for every world (validated once)
        self.envs = [first] + [
            BCFLEnv(first.config, preset, render_mode) for _ in range(int(num_envs) - 1)
        ]
        self.num_envs = int(num_envs)
        self.config = first.config
        self.render_mode = render_mode
        self.autoreset_mode = mode
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, self.num_envs)
        self.action_space = batch_space(first.action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._observations: np.ndarray = np.zeros(
            (self.num_envs, *_observation_shape(first)), dtype=np.float32
        )

    @property
    def _started(self) -> bool:
        """Every world has been reset (here, or through its env, as a checkpoint restore does)."""
        return all(env.world is not None for env in self.envs)

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every world (``seed``: None, an int s for seeds s, s + 1, ..., or one per
        world). ``options`` may only hold ``reset_mask`` (a (B,) bool array: reset those)."""
        seeds = self._seeds(seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if options:  # as the single env: nothing is silently ignored
            raise ValueError(
                f"reset options are not supported (got {sorted(map(str, options))}); allowed: "
                "None, {} or {'reset_mask': (num_envs,) bool array}"
            )
        if mask is None:
            mask = np.ones(self.num_envs, dtype=bool)
        elif not (
            isinstance(mask, np.ndarray)
            and mask.dtype == np.bool_
            and mask.shape == (self.num_envs,)
        ):
            raise ValueError(
                f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), got "
                f"{getattr(mask, 'dtype', type(mask).__name__)} {getattr(mask, 'shape', '')}"
            )
        elif not self._started and not mask.all():
            raise ValueError("the first reset must reset every world (no reset_mask)")
        infos: dict[str, Any] = {}
        for i, (_, info) in enumerate(self.reset_each(seeds, mask)):
            if mask[i]:
                infos = self._add_info(infos, info, i)
        return self._observations.copy(), infos

    def reset_each(
        self, seeds: list[int | None], mask: np.ndarray | None = None
    ) -> list[tuple[np.ndarray, dict[str, Any]]]:
        """Reset the worlds in ``mask`` (all when None) with one seed each; returns every
        world's (observation, info), an empty info for a world left running."""
        mask = np.ones(self.num_envs, dtype=bool) if mask is None else mask
        out = []
        for i, env in enumerate(self.envs):
            if mask[i]:
                obs, info = env.reset(seed=seeds[i])
                self._autoreset[i] = False
                out.append((obs, info))
            else:
                out.append((self._observations[i], {}))
        self._observations = np.stack([obs for obs, _ in out])
        return out

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One decision epoch in every world (see the class docstring for autoreset)."""
        results = self.step_each(actions)
        infos: dict[str, Any] = {}
        for i, (_, _, _, _, info) in enumerate(results):
            infos = self._add_info(infos, info, i)
        return (
            self._observations.copy(),
            np.array([float(r[1]) for r in results], dtype=np.float64),
            np.array([r[2] for r in results], dtype=np.bool_),
            np.array([r[3] for r in results], dtype=np.bool_),
            infos,
        )

    def step_each(self, actions: np.ndarray) -> list[StepResult]:
        """One epoch in every world; returns each world's (obs, reward, terminated, truncated,
        info), autoreset applied. Every action is validated before any world moves: a bad one
        raises ``ValueError`` naming its world, and no world has stepped."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        rows = self._action_rows(actions)
        stepping = [i for i in range(self.num_envs) if not self._autoreset[i]]
        stepped = step_worlds(
            [self.envs[i] for i in stepping], [rows[i] for i in stepping], labels=stepping
        )
        results: dict[int, StepResult] = dict(zip(stepping, stepped, strict=True))
        for i in range(self.num_envs):
            if i not in results:  # NEXT_STEP: the world whose episode ended starts anew
                obs, info = self.envs[i].reset()
                results[i], self._autoreset[i] = (obs, 0.0, False, False, info), False
                continue
            obs, reward, terminated, truncated, info = results[i]
            ended = terminated or truncated
            if ended and self.autoreset_mode is AutoresetMode.SAME_STEP:
                new_obs, new_info = self.envs[i].reset()
                info = {**new_info, "final_obs": obs, "final_info": info}
                results[i], ended = (new_obs, reward, terminated, truncated, info), False
            self._autoreset[i] = ended
        ordered = [results[i] for i in range(self.num_envs)]
        self._observations = np.stack([r[0] for r in ordered])
        return ordered

    def check_actions(self, actions: Any) -> None:
        """Validate ``actions`` as :meth:`step` would, without stepping or recording anything.

        Raises:
            ValueError: naming ``actions[i]`` for the first bad world's action (or the batch's
                length).
        """
        rows = self._action_rows(actions)
        for i, (env, row) in enumerate(zip(self.envs, rows, strict=True)):
            if self._autoreset[i]:  # NEXT_STEP: this world's action is ignored (it resets)
                continue
            try:
                env.slots_for(row)
            except ValueError as exc:
                raise ValueError(f"actions[{i}]: {exc}") from exc

    def _action_rows(self, actions: Any) -> list[Any]:
        if type(actions).__module__.startswith("torch"):
            actions = actions.detach().cpu().numpy()
        if isinstance(actions, list | tuple):
            rows = list(actions)
        else:
            arr = np.asarray(actions)
            if arr.ndim == 0:
                raise ValueError(
                    f"actions must have a leading axis of num_envs={self.num_envs}, got a scalar"
                )
            rows = list(arr)
        if len(rows) != self.num_envs:
            raise ValueError(
                f"actions must hold one action per world (num_envs={self.num_envs}), got {len(rows)}"
            )
        return rows

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        if isinstance(seed, Sequence) and not isinstance(seed, str):
            seeds = list(seed)
            if len(seeds) == self.num_envs and all(
                s is None or (isinstance(s, int | np.integer) and not isinstance(s, bool))
                for s in seeds
            ):
                return [None if s is None else int(s) for s in seeds]
        raise ValueError(
            f"seed must be None, an int, or a list of num_envs={self.num_envs} ints or None; "
            f"got {seed!r}"
        )

    # ------------------------------------------------------------------ batched views
    def action_masks(self) -> np.ndarray:
        """(B, ...) stack of every world's :meth:`BCFLEnv.action_masks`."""
        return np.stack([env.action_masks() for env in self.envs])

    def eligible_slots(self) -> np.ndarray:
        """(B, N) eligible slots of every world."""
        return np.stack([env.eligible_slots() for env in self.envs])

    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is None:
            return None
        return tuple(env.render() for env in self.envs)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` of every world's env (or read the attribute); one result each."""
        out = []
        for env in self.envs:
            attr = getattr(env, name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return tuple(out)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return tuple(getattr(env, name) for env in self.envs)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        if not isinstance(values, list | tuple):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(
                f"set_attr needs one value per world ({self.num_envs}), got {len(values)}"
            )
        for env, value in zip(self.envs, values, strict=True):
            setattr(env, name, value)

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
