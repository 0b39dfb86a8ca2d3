"""The one environment class behind every preset."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from bcfl_env.chain import Ledger
from bcfl_env.config import BCFLConfig, make_config
from bcfl_env.envs.features import hidden_columns
from bcfl_env.envs.observation import (
    GLOBAL_FEATURES,
    as_matrix,
    build_observation,
    feature_columns,
    in_layout,
    layout_shape,
    standardized_rows,
)
from bcfl_env.envs.reward import StepOutcome, reward_terms
from bcfl_env.envs.threads import torch_threads
from bcfl_env.world import RoundReport, World

__all__ = ["BCFLEnv", "Selection"]


@dataclass(frozen=True)
class Selection:
    """An explicit selection a wrapper may send to :meth:`BCFLEnv.step` in place of an action:
    exactly these slots (distinct, eligible, at most K) train this epoch. It travels through
    the wrappers between (Monitor, ...) like any action; DiscreteSelection sends one after its
    one-vehicle picks. Invalid slots raise ``ValueError`` naming them."""

    slots: tuple[int, ...]


class BCFLEnv(gym.Env[np.ndarray, np.ndarray]):
    """Participant selection for blockchain-empowered federated learning.

    ## Description
    Each step is one decision epoch of a BCFL system: the agent selects up to K vehicles (node
    slots), the selected vehicles train the current global model on their own non-IID data (real
    PyTorch training), upload over a simulated V2I channel (uploads fail on handover), an RSU
    committee screens, scores and votes on every update and packs the valid ones into a signed
    block, and the MBS aggregates what was accepted (FedAsync or FedAvg). The presets
    ``bcfl/IoV-v1``, ``bcfl/IIoT-v1`` and ``bcfl/IoHT-v1`` are configurations of this one class.

    ## Action Space
    ``action_mode="scores"`` (default): ``Box(-1, 1, (N,), float32)``, one score per slot; the K
    eligible slots with the highest scores are selected (ties: lower slot first). ``[-1, 1]``
    rather than ``[0, 1]`` because Stable-Baselines3 expects symmetric, normalised
    Box actions (its env checker warns otherwise); only the ranking matters.
    ``action_mode="binary"``: ``MultiBinary(N)``; selected eligible slots are taken in increasing
    slot order up to K (the rest are reported in ``info["ignored"]``, as are ineligible ones);
    an empty selection runs the epoch with no new training.
    ``action_mode="weights"``: ``Box(-1, 1, (F,), float32)``, one weight per observed feature;
    each slot's score is its observation row, standardised over the eligible slots (every
    feature in units of its spread among them, :func:`standardized_rows`), times the weights,
    and the K eligible slots with the highest scores are selected (ties: lower slot first). The
    agent learns a scoring rule over the server's features (a linear priority rule, as DRL
    schedulers that weigh dispatching rules do) instead of a score per slot: the action does not
    depend on N and is the same for every slot, so a plain MLP policy has F outputs to learn.
    Standardising gives every weight the same reach whatever its feature's spread, and a feature
    all candidates share adds nothing; SB3's untouched ``MlpPolicy`` then beats random selection
    with each of 3 training seeds in 20,000 steps (see the README).
    Eligible slots (``eligible_slots()``): a vehicle is present, enrolled, idle and has energy left.
    ``action_masks()`` is that mask shaped for the action space, as sb3-contrib's MaskablePPO
    expects: N entries, or an [off, on] pair per slot (2N) in ``binary`` mode. It is reachable on
    what ``gymnasium.make`` returns (the env enforces reset-before-step itself).
    Wrong shape, dtype, NaN or out-of-range values raise ``ValueError``.

    ## Observation Space
    ``Box(0, 1, ((N + 1) * F,), float32)``: an (N + 1, F) matrix in row-major order, flat because
    Stable-Baselines3's policies and env checker expect 1-D vectors. ``observation_layout=
    "matrix"`` gives ``Box(0, 1, (N + 1, F), float32)`` instead, and ``env.unwrapped.as_matrix(obs)``
    turns either layout (or a batch) into rows. Rows 0..N-1 are slots (all zeros when empty); row N
    is the global row. F = 11 columns (14 with oracle features; ``env.unwrapped.feature_names``):

    | index | feature         | unit / scaling                                                                | source   | min | max |
    |-------|-----------------|-------------------------------------------------------------------------------|----------|-----|-----|
    | 0     | present         | 1 if a vehicle occupies the slot                                              | measured | 0   | 1   |
    | 1     | rsu_distance    | distance to the serving RSU / coverage radius [m/m]; 1 when unserved          | measured | 0   | 1   |
    | 2     | uplink_rate     | uplink rate from channel state / (RSU bandwidth x 20 bit/s/Hz)                | measured | 0   | 1   |
    | 3     | data_size       | reported local samples / largest reported in the fleet                        | reported | 0   | 1   |
    | 4     | staleness       | rounds since last selected / max_rounds (1 if never)                          | on-chain | 0   | 1   |
    | 5     | reputation      | beta reputation on chain                                                      | on-chain | 0   | 1   |
    | 6     | energy_left     | reported remaining energy / budget [J/J]                                      | reported | 0   | 1   |
    | 7     | in_flight       | 1 while the vehicle holds an open task                                        | on-chain | 0   | 1   |
    | 8     | dwell_time      | time to leave RSU coverage from position and velocity, t / (t + epoch) [s/s]  | measured | 0   | 1   |
    | 9     | last_loss       | training loss reported with its last update l / (l + 1) [nats]                | reported | 0   | 1   |
    | 10    | round_trip      | last measured selection-to-arrival time t / (t + epoch); 0.5 before any [s/s] | measured | 0   | 1   |
    | 11    | cpu_frequency   | true CPU frequency / (mean + cut x std) [Hz/Hz]                               | oracle   | 0   | 1   |
    | 12    | label_entropy   | true label entropy / ln(classes)                                              | oracle   | 0   | 1   |
    | 13    | true_round_trip | compute + upload time from true CPU and data size, t / (t + epoch) [s/s]      | oracle   | 0   | 1   |

    Rows 0-10 are the default ``observation_features="server"`` set: what a real server can know
    (on-chain records, measurements, the vehicle's own reports). Rows 11-13 are true values no
    server knows, present only with ``observation_features="oracle"`` (upper-bound studies).

    With the vehicles' DAG on (``chain__dag=True``) two on-chain columns follow the server ones
    (and the oracle ones move two places right), from the DAG the RSUs anchor and the vehicles'
    position beacons:

    | index | feature          | unit / scaling                                                                         | source   | min | max |
    |-------|------------------|----------------------------------------------------------------------------------------|----------|-----|-----|
    | 11    | dag_neighbours   | confirmed DAG models of vehicles within V2V reach, n / (n + 2)                         | on-chain | 0   | 1   |
    | 12    | dag_confirmation | cumulative weight of the vehicle's last DAG model / confirmation weight, capped at 1   | on-chain | 0   | 1   |

    Global row N, columns 0..5: round / max_rounds, global test accuracy, simulated time / budget,
    K / N, vehicles present / N, target accuracy; other columns 0.

    ## Rewards
    ``gain_cost`` (default): ``w_accuracy (acc_t - acc_{t-1}) - w_latency latency_s - w_energy
    energy_j - w_time elapsed_s`` plus ``target_bonus`` when the target is reached, where
    ``elapsed_s`` (``info["epoch_s"]``) is the simulated time the step took: accuracy gains
    telescope, so the time term is what makes reaching the target sooner pay (the suite ranks
    policies by time to target). ``favor``: ``Xi^(acc - target) - 1``.
    The terms are in ``info["rewards"]``. ``latency_s`` is what the selection costs in time: in
    synchronous mode the round's duration (until the slowest selected vehicle is done or the
    deadline); in asynchronous mode, where the epoch length is fixed, the vehicle-seconds of
    compute and upload the selection keeps busy in the epoch, per selected slot (``busy_s / K``),
    so a fast selection costs less than a slow one.

    ## Starting State
    ``reset(seed)`` builds a new world from the seed: road graph, RSUs, vehicles placed on
    ``initial_occupancy`` of the slots, fleet CPU and energy, data partition, CA and genesis block
    (every identity enrolled), global model version 0.

    ## Episode End
    Terminated when the global test accuracy reaches ``target_accuracy``. Truncated after
    ``max_rounds`` steps or when simulated time reaches ``sim_time_budget_s``.

    ## Arguments
    ``gymnasium.make("bcfl/IoV-v1", config=None, render_mode=None, **overrides)``: any config
    override (``num_vehicles``, ``vehicles_per_round``, ``max_rounds``, ``target_accuracy``,
    ``fl__alpha``, ...); see :mod:`bcfl_env.config`.

    ## Info
    ``round, sim_time_s, accuracy, loss, selected (slots), selected_ids, completed, accepted,
    rejected [(id, reason)], dropped [(id, reason)], in_flight, ignored, latency_s, epoch_s, busy_s,
    energy_j, consensus_s, block_height, chain_head, committee, staleness (in global versions),
    poisoned_accepted, poisoned_rejected, epsilon, handovers, safety_violated, block_committed,
    consensus_view, rewards``.

    ## Version History
    * v1: chain v1. Every block is certified by a PBFT-style committee protocol with a rotating
      leader and recorded view changes (a block without 2f + 1 signatures is not committed, and
      then nothing is accepted that round); the committee is re-elected every round and, in IoV,
      four of six RSUs serve; the MBS aggregates only what a certified block accepted and its
      aggregation goes on chain one block later; poisoning vehicles misbehave as committee
      members too; aggregation sums run in a fixed order. ``info`` gains ``block_committed`` and
      ``consensus_view``. MDP v1: the observation holds only what a server can know (true CPU,
      label entropy and round trip behind ``observation_features="oracle"``); under FedAsync each
      accepted update is its own global version and staleness counts updates; the async latency
      term is the busy time the selection costs; the committee adds a norm screen (the DP clip
      contract, or a multiple of accepted norms) to proof of quality, and model-poisoning vehicles
      skip DP; IoV's score margin is 0.3 and IIoT's 0.1 (measured false rejection <= 5 %); the
      ``gain_cost`` reward gains a ``time`` term (``w_time`` x the step's simulated time);
      ``action_mode="weights"`` (rows standardised over the eligible slots); keys from a secret
      per env instance (``chain.key_source``); the env's torch work runs on ``torch_threads``
      threads; reset options are refused. Ledger format 2 (same id): headers bind the previous
      block's quorum certificate and blocks record refused transactions' bytes, so a block's
      header is 64 bytes longer and consensus latency grows by about 0.6 us per block at the
      default backhaul (25-34 us over 40 rounds); selections, verdicts and models are unchanged.
      ``gymnasium.make_vec`` (same id) returns the native vector env
      (:class:`bcfl_env.envs.vector.BCFLVectorEnv`): world i is this env seeded ``seed + i``, bit for bit.
    * v0: initial release.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        config: BCFLConfig | None = None,
        preset: str = "iov",
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        self.config = make_config(preset, config, **overrides)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not allowed: choose one of {self.metadata['render_modes']} or None"
            )
        self.render_mode = render_mode
        env = self.config.env
        n = env.num_vehicles
        self.num_slots = n
        self.budget = env.vehicles_per_round
        self.feature_names = [f[0] for f in feature_columns(self.config)]
        hidden_columns(self.config, self.feature_names)  # a bad name fails here, not mid-episode
        self.global_feature_names = list(GLOBAL_FEATURES)
        self.num_features = len(self.feature_names)
        self.observation_layout = env.observation_layout
        self.observation_space = spaces.Box(
            0.0,
            1.0,
            shape=layout_shape(n, self.num_features, env.observation_layout),
            dtype=np.float32,
        )
        if env.action_mode == "scores":
            self.action_space: spaces.Space[Any] = spaces.Box(
                -1.0, 1.0, shape=(n,), dtype=np.float32
            )
        elif env.action_mode == "weights":
            self.action_space = spaces.Box(-1.0, 1.0, shape=(self.num_features,), dtype=np.float32)
        else:
            self.action_space = spaces.MultiBinary(n)
        self.world: World | None = None
        # chain.key_source="secret": one secret per env instance, so the same instance and seed
        # give the same ledger (Gymnasium's determinism), while the public seed alone rebuilds no key
        self._key_secret = os.urandom(32)
        self._rows = np.zeros((n + 1, self.num_features), dtype=np.float32)
        self._last_selected: list[int] = []
        self._world_seed = 0
        # each step's action, or a Selection's slots (a list)
        self._episode_actions: list[np.ndarray | list[int]] = []

    # ------------------------------------------------------------------ gym API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if options:  # nothing is silently ignored: the env takes no reset options
            raise ValueError(
                f"reset options are not supported (got {sorted(map(str, options))}); allowed: "
                "None or {}; configure the env through gymnasium.make overrides instead"
            )
        super().reset(seed=seed)
        self._world_seed = int(self.np_random.integers(0, 2**63 - 1))
        with torch_threads(self.config.env.torch_threads):
            self.world = World(self.config, self._world_seed, self._key_secret)
        self._last_selected = []
        self._episode_actions = []
        return self._observe(), self._info(self.world.last_report, {}, [])

    def step(
        self, action: np.ndarray | Selection
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        world = self._require_world()
        slots, ignored = self.decide(action)
        previous = world.fl.accuracy
        with torch_threads(self.config.env.torch_threads):
            report = world.step(slots)
        return self.conclude(report, previous, slots, ignored)

    def decide(self, action: np.ndarray | Selection) -> tuple[np.ndarray, list[int]]:
        """Validate an action and turn it into the selected slots (and the ignored ones); the
        episode's record keeps it. The first half of :meth:`step` (a vector env runs the epoch
        between the halves)."""
        self._require_world()
        ignored: list[int] = []
        if type(action).__module__.startswith("torch"):  # a tensor, maybe with a grad: its values
            action = cast(Any, action).detach().cpu().numpy()
        if isinstance(action, Selection):  # explicit slots, e.g. from DiscreteSelection's picks
            slots = self._picked_slots(action.slots)
            self._episode_actions.append([int(s) for s in slots])
        else:
            slots, ignored = self._selection(action)
            self._episode_actions.append(np.array(action, copy=True))
        return slots, ignored

    def slots_for(self, action: np.ndarray) -> np.ndarray:
        """The slots ``action`` would select now, validated as :meth:`step` validates it,
        without stepping or recording anything."""
        self._require_world()
        return self._selection(action)[0]

    def retract_decision(self) -> None:
        """Forget the last :meth:`decide` when its epoch never ran (a vector env whose batch
        held an invalid action for another world)."""
        self._episode_actions.pop()

    def _picked_slots(self, picked: Any) -> np.ndarray:
        arr = np.asarray(picked)
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"picked must be a list of integer slots, got {picked!r}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.num_slots):
            raise ValueError(f"picked slots must lie in [0, {self.num_slots - 1}], got {picked!r}")
        if len(set(arr.tolist())) != arr.size or arr.size > self.budget:
            raise ValueError(
                f"picked must hold at most K={self.budget} distinct slots, got {picked!r}"
            )
        if arr.size and not self.eligible_slots()[arr].all():
            raise ValueError(f"picked slots must be eligible (eligible_slots()), got {picked!r}")
        return np.sort(arr.astype(np.int64))

    def conclude(
        self, report: RoundReport, previous_accuracy: float, slots: np.ndarray, ignored: list[int]
    ) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """The second half of :meth:`step`: reward, episode end, observation and info of the
        epoch the world just ran (``previous_accuracy``: the global model's before it)."""
        world = self._require_world()
        self._last_selected = [int(s) for s in slots]
        env = self.config.env
        outcome = StepOutcome(
            report.accuracy, previous_accuracy, env.target_accuracy, report.latency_s,
            report.energy_j, report.epoch_s, self.config.reward.favor_xi,
        )  # fmt: skip
        terms = reward_terms(self.config.reward, outcome)
        terminated = report.accuracy >= env.target_accuracy
        truncated = not terminated and (
            world.round >= env.max_rounds or world.time_s >= env.sim_time_budget_s
        )
        obs = self._observe()
        return (
            obs,
            float(sum(terms.values())),
            terminated,
            truncated,
            self._info(report, terms, ignored),
        )

    def snapshot(self) -> dict[str, Any]:
        """Everything needed to rebuild this exact state: the world's seed, the episode's actions
        and the env's generator state (the world is deterministic, so replay recreates it)."""
        self._require_world()
        return {
            "world_seed": self._world_seed,
            "actions": [
                a.tolist() if isinstance(a, np.ndarray) else a for a in self._episode_actions
            ],
            # a Selection step is recorded as its slots, with the dtype "picked"
            "action_dtypes": [
                str(a.dtype) if isinstance(a, np.ndarray) else "picked"
                for a in self._episode_actions
            ],
            "np_random": self.np_random.bit_generator.state,
        }

    def restore(self, snapshot: dict[str, Any]) -> np.ndarray:
        """Rebuild the state captured by :meth:`snapshot`; returns the current observation.

        Raises:
            ValueError: a snapshot that is not one (missing or malformed fields).
        """
        try:
            seed, actions = int(snapshot["world_seed"]), list(snapshot["actions"])
            rng_state = dict(snapshot["np_random"])
            # each action replays in its own dtype (older snapshots: one dtype for all)
            dtypes = (
                [d if d == "picked" else np.dtype(d) for d in snapshot["action_dtypes"]]
                if "action_dtypes" in snapshot
                else [np.dtype(snapshot["action_dtype"])] * len(actions)
            )
            if len(dtypes) != len(actions):
                raise ValueError("action_dtypes and actions differ in length")
            limit = self.config.env.max_rounds
            if len(actions) > limit:  # nothing caps a crafted file's replay but the episode
                raise ValueError(
                    f"a replay of {len(actions)} actions is longer than an episode can be "
                    f"(max_rounds={limit})"
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an environment snapshot: {exc}") from exc
        with torch_threads(self.config.env.torch_threads):
            self.world = World(self.config, seed, self._key_secret)
        self._world_seed, self._episode_actions, self._last_selected = seed, [], []
        self._observe()  # the rows a weights-mode action scores
        for action, dtype in zip(actions, dtypes, strict=True):
            if isinstance(dtype, str):
                self.step(Selection(tuple(int(s) for s in action)))
            else:
                self.step(np.asarray(action, dtype=dtype))
        self.np_random.bit_generator.state = rng_state
        return self._observe()

    def as_matrix(self, observation: Any) -> np.ndarray:
        """The (N + 1, F) rows of an observation of this env (or (B, N + 1, F) for a batch).

        Works for either ``observation_layout``; a view, so writes reach the observation.
        """
        return as_matrix(observation, self.num_slots, self.num_features)

    def _observe(self) -> np.ndarray:
        features = self.config.env.observation_features
        world = self._require_world()
        view = world.view(oracle=features == "oracle")
        matrix = build_observation(view, self.config, world.fl.data.num_classes, features)
        self._rows = matrix.copy()
        return in_layout(matrix, self.config.env.observation_layout)

    def current_observation(self) -> np.ndarray:
        """The observation of the world as it is now (what the next step's observation would be
        if nothing moved)."""
        return self._observe()

    def eligible_slots(self) -> np.ndarray:
        """Which slots may be selected now (N booleans): present, enrolled, idle, with energy."""
        return self._require_world().eligible_slots().copy()

    def action_masks(self) -> np.ndarray:
        """The mask sb3-contrib's MaskablePPO asks for, shaped for the action space: the N
        eligible slots, or in ``binary`` mode an [off, on] pair per slot (2N entries)."""
        eligible = self.eligible_slots()
        if self.config.env.action_mode == "binary":
            return np.stack([np.ones_like(eligible), eligible], axis=1).reshape(-1)
        if self.config.env.action_mode == "weights":
            raise ValueError(
                "action_masks() needs action_mode 'scores' or 'binary'; in 'weights' mode the "
                "action weighs features and ineligible slots are never selected"
            )
        return eligible

    # ------------------------------------------------------------------ actions
    def _selection(self, action: Any) -> tuple[np.ndarray, list[int]]:
        arr = np.asarray(action)
        n, mode = self.num_slots, self.config.env.action_mode
        expected, what = (
            ((self.num_features,), "one weight per feature")
            if mode == "weights"
            else ((n,), "one entry per vehicle slot")
        )
        if arr.shape != expected:
            raise ValueError(f"action must have shape {expected} ({what}), got {arr.shape}")
        eligible = self.eligible_slots()
        if mode in ("scores", "weights"):
            if not np.issubdtype(arr.dtype, np.floating):
                raise ValueError(
                    f"action dtype must be floating (values in [-1, 1]), got {arr.dtype}"
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError(
                    "action contains NaN or infinite values; allowed: finite values in [-1, 1]"
                )
            if arr.min() < -1.0 or arr.max() > 1.0:
                raise ValueError(
                    f"action values must lie in [-1, 1], got min {arr.min():.4g} and max {arr.max():.4g}"
                )
            candidates = np.flatnonzero(eligible)
            scores = (
                standardized_rows(self._rows[:n], candidates) @ arr.astype(np.float64)
                if mode == "weights"
                else arr
            )
            order = candidates[np.argsort(-scores[candidates], kind="stable")]
            return np.sort(order[: self.budget]), []
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
            raise ValueError(f"binary action dtype must be integer or bool, got {arr.dtype}")
        if not np.isin(arr, (0, 1)).all():
            raise ValueError("binary action entries must be 0 or 1")
        chosen = np.flatnonzero(arr.astype(bool))
        ok = chosen[eligible[chosen]]
        taken = ok[: self.budget]
        ignored = sorted(set(chosen.tolist()) - set(taken.tolist()))
        return taken, ignored

    def _require_world(self) -> World:
        if self.world is None:
            raise RuntimeError("call reset() before step(), action_masks() or render()")
        return self.world

    # ------------------------------------------------------------------ info
    def _info(
        self, report: RoundReport, terms: dict[str, float], ignored: list[int]
    ) -> dict[str, Any]:
        world = self._require_world()
        ledger = world.chain.ledger
        epsilon = world.fl.epsilon(report.selected) if self.config.fl.dp != "none" else 0.0
        return {
            "round": report.round,
            "sim_time_s": world.time_s,
            "accuracy": report.accuracy if report.round else world.fl.accuracy,
            "loss": report.loss if report.round else world.fl.loss,
            "selected": list(report.selected_slots),
            "selected_ids": list(report.selected),
            "completed": list(report.completed),
            "accepted": list(report.accepted),
            "rejected": list(report.rejected),
            "dropped": list(report.dropped),
            "in_flight": list(report.in_flight),
            "ignored": list(ignored),
            "latency_s": report.latency_s,
            "epoch_s": report.epoch_s,
            "busy_s": report.busy_s,
            "energy_j": report.energy_j,
            "consensus_s": report.consensus_s,
            "block_height": ledger.height,
            "chain_head": ledger.head_hash,
            "committee": list(report.committee),
            "staleness": list(report.staleness),
            "poisoned_accepted": report.poisoned_accepted,
            "poisoned_rejected": report.poisoned_rejected,
            "epsilon": epsilon,
            "handovers": report.handovers,
            "safety_violated": report.safety_violated,
            "block_committed": report.block_committed,
            "consensus_view": report.view,
            "rewards": dict(terms),
        }

    # ------------------------------------------------------------------ views
    @property
    def ledger(self) -> Ledger:
        return self._require_world().chain.ledger

    def render(self) -> Any:
        world = self._require_world()
        if self.render_mode == "ansi":
            from bcfl_env.envs.rendering import render_ansi

            return render_ansi(world, self._last_selected)
        if self.render_mode == "rgb_array":
            from bcfl_env.envs.rendering import render_rgb

            return render_rgb(world, self._last_selected)
        return None
