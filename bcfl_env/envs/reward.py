"""Reward: raw terms, one weighting step (highway-env's ``_rewards`` / ``_reward`` shape).

Each raw term is a function of the step's :class:`StepOutcome` in a registry (:data:`TERMS`); the
config's reward ``kind`` gives each term a weight (:func:`term_weights`); the reward is the sum of
weight x term, and ``info["rewards"]`` reports every weighted term, so a user sees why a step paid
what it paid. A new term is one function decorated with ``@reward_term`` and one weight.

* ``gain_cost`` (default): ``w_acc (acc_t - acc_{t-1}) - w_lat latency_s - w_energy energy_j
  - w_time elapsed_s`` plus ``target_bonus`` on the step that reaches the target (Lu et al., IEEE
  TVT 2020 trade off accuracy against latency and energy in the same way). The accuracy gains
  telescope: over an episode they sum to the same total for a fast and a slow policy, and under a
  discount gamma they even pay ``(1 - gamma) w_acc acc`` per step for staying just below the
  target. The ``time`` term (the simulated seconds the step took) makes the return a
  minimum-time objective, the quantity the suite ranks policies by (time to target), and at the
  default weight outweighs that stay-alive bonus (0.04 x 5 s > 0.01 x 10 x 0.85).
* ``favor``: ``Xi^(acc_t - target) - 1`` (Wang et al., "Optimizing federated learning on non-IID
  data with reinforcement learning", INFOCOM 2020), negative until the target is reached; the
  other terms are reported with weight 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from bcfl_env.config import RewardConfig

__all__ = ["TERMS", "StepOutcome", "reward_term", "reward_terms", "term_weights"]


class StepOutcome(NamedTuple):
    """What a reward term may read about one step (a frozen record, not the world)."""

    accuracy: float
    previous_accuracy: float
    target: float
    latency_s: float
    energy_j: float
    elapsed_s: float
    favor_xi: float


TERMS: dict[str, Callable[[StepOutcome], float]] = {}


def reward_term(fn: Callable[[StepOutcome], float]) -> Callable[[StepOutcome], float]:
    TERMS[fn.__name__] = fn
    return fn


@reward_term
def accuracy(o: StepOutcome) -> float:
    """Accuracy gain of the global model this step."""
    return o.accuracy - o.previous_accuracy


@reward_term
def latency(o: StepOutcome) -> float:
    """Time the selection costs [s]."""
    return o.latency_s


@reward_term
def energy(o: StepOutcome) -> float:
    """Energy the vehicles spent this step [J]."""
    return o.energy_j


@reward_term
def time(o: StepOutcome) -> float:
    """Simulated time the step took [s] (the epoch, or the synchronous round)."""
    return o.elapsed_s


@reward_term
def target(o: StepOutcome) -> float:
    """1 on a step whose accuracy reaches the target."""
    return 1.0 if o.accuracy >= o.target else 0.0


@reward_term
def favor(o: StepOutcome) -> float:
    """FAVOR's ``Xi^(acc - target) - 1``."""
    return float(o.favor_xi ** (o.accuracy - o.target) - 1.0)


def term_weights(cfg: RewardConfig) -> dict[str, float]:
    """The weight of every term under the configured reward kind."""
    if cfg.kind == "favor":
        return {
            "accuracy": 0.0,
            "latency": 0.0,
            "energy": 0.0,
            "time": 0.0,
            "target": 0.0,
            "favor": 1.0,
        }
    return {
        "accuracy": cfg.w_accuracy,
        "latency": -cfg.w_latency,
        "energy": -cfg.w_energy,
        "time": -cfg.w_time,
        "target": cfg.target_bonus,
        "favor": 0.0,
    }


def reward_terms(cfg: RewardConfig, outcome: StepOutcome) -> dict[str, float]:
    """Every weighted term; the reward is their sum."""
    weights = term_weights(cfg)
    return {name: weights[name] * fn(outcome) for name, fn in TERMS.items()}
