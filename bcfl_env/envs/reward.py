"""Reward terms, reported in ``info["rewards"]`` and weighted by the config.

* ``gain_cost`` (default): ``w_acc (acc_t - acc_{t-1}) - w_lat latency_s - w_energy energy_j``
  plus ``target_bonus`` on the step that reaches the target (Lu et al., IEEE TVT 2020 trade off
  accuracy against latency and energy in the same way).
* ``favor``: ``Xi^(acc_t - target) - 1`` (Wang et al., "Optimizing federated learning on non-IID
  data with reinforcement learning", INFOCOM 2020), negative until the target is reached; latency
  and energy terms are still reported with weight 0.
"""

from __future__ import annotations

from bcfl_env.config import RewardConfig

__all__ = ["reward_terms"]


def reward_terms(
    cfg: RewardConfig,
    accuracy: float,
    previous_accuracy: float,
    target: float,
    latency_s: float,
    energy_j: float,
) -> dict[str, float]:
    reached = accuracy >= target
    if cfg.kind == "favor":
        return {
            "accuracy": float(cfg.favor_xi ** (accuracy - target) - 1.0),
            "latency": 0.0,
            "energy": 0.0,
            "target": 0.0,
        }
    return {
        "accuracy": cfg.w_accuracy * (accuracy - previous_accuracy),
        "latency": -cfg.w_latency * latency_s,
        "energy": -cfg.w_energy * energy_j,
        "target": cfg.target_bonus if reached else 0.0,
    }
