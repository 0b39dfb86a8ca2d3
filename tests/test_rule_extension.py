"""Attacks, election rules and fault behaviours are one module each: registered from a test,
the config accepts their names and a real env runs them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
import pytest
import torch

import bcfl_env  # noqa: F401  (registers the ids)
from bcfl_env.chain.election import ELECTIONS, ElectionRule, register_election
from bcfl_env.chain.faults import BEHAVIOURS, MemberBehaviour, register_behaviour
from bcfl_env.config import AttackKind, FaultBehaviour, disallow_choice, make_config
from bcfl_env.config import ElectionRule as ElectionName
from bcfl_env.fl.attacks import REGISTRY, register_attack


def test_a_test_defined_attack_runs_in_a_real_env():
    calls: list[int] = []

    @register_attack("stand_still")
    def stand_still(
        base: torch.Tensor, trained: torch.Tensor, scale: float, gen: torch.Generator
    ) -> torch.Tensor:
        calls.append(len(trained))
        return base.clone()  # a free rider that uploads the model it received

    try:
        env = gym.make(
            "bcfl/IoV-v1", malicious_fraction=0.5, fl__attack="stand_still", max_rounds=6
        )
        env.reset(seed=0)
        for _ in range(6):
            env.step(env.action_space.sample())
        assert calls, "the attack ran in local training"
    finally:
        REGISTRY.pop("stand_still")
        disallow_choice(AttackKind, "stand_still")
    with pytest.raises(ValueError, match=r"fl.attack='stand_still' is not allowed"):
        make_config("iov", fl__attack="stand_still")


class LowestNames(ElectionRule):
    """Test-defined rule: the first ``size`` candidates by name, every round."""

    kind = "lowest_names"

    def elect(
        self,
        candidates: Sequence[str],
        size: int,
        round_: int,
        reputation: Callable[[str], float],
        rng: np.random.Generator,
        top_trainers: Sequence[str] = (),
    ) -> list[str]:
        return sorted(candidates)[:size]


class Abstainer(MemberBehaviour):
    """Test-defined fault: never votes (abstains on every update)."""

    kind = "abstain"

    def vote(self, scores, baseline, margin, own, rng):
        return [None] * len(scores), [None] * len(scores)


def test_a_test_defined_election_rule_and_fault_behaviour_run_in_a_real_env():
    register_election(LowestNames)
    register_behaviour(Abstainer)
    try:
        env = gym.make(
            "bcfl/IoV-v1", chain__election="lowest_names", faulty_fraction=0.25,
            faulty_behavior="abstain", max_rounds=4,
        )  # fmt: skip
        env.reset(seed=0)
        committees = [env.step(env.action_space.sample())[-1]["committee"] for _ in range(4)]
        assert all(c == ["rsu0", "rsu1", "rsu2", "rsu3"] for c in committees)
        env.unwrapped.ledger.verify()
    finally:
        ELECTIONS.pop("lowest_names")
        BEHAVIOURS.pop("abstain")
        disallow_choice(ElectionName, "lowest_names")
        disallow_choice(FaultBehaviour, "abstain")
