"""A selector is one module: decorated once, it is in the CLI's choices, the leaderboard's
baselines and the one loader, on an env and on a deployment's SlotSpec alike."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest

import bcfl_env  # noqa: F401  (registers the ids)
from agents import SELECTORS, BaseSelector, load_selector, register_selector
from agents.base import SlotSpec
from training.cli import main as bcfl
from training.leaderboard_page import baselines


class SlowestFirst(BaseSelector):
    """Test-defined rule: the vehicles with the longest measured round trip first."""

    def priority(self, obs: np.ndarray) -> np.ndarray:
        return obs[: self.n, self.col["round_trip"]].astype(np.float64)


@pytest.fixture
def slowest_first() -> Iterator[str]:
    register_selector("slowest-first")(SlowestFirst)
    yield "slowest-first"
    SELECTORS.pop("slowest-first")


def test_a_registered_selector_is_in_the_evaluate_help(slowest_first, capsys):
    with pytest.raises(SystemExit) as done:
        bcfl(["evaluate", "--help"])
    assert done.value.code == 0
    assert slowest_first in capsys.readouterr().out


def test_a_registered_selector_is_a_leaderboard_baseline(slowest_first):
    assert slowest_first in baselines()
    assert "favor" not in baselines()  # it trains: a track row, not a baseline row


def test_the_one_loader_builds_it_on_an_env_and_on_a_spec(slowest_first):
    env = gym.make("bcfl/IoV-v1")
    obs, _ = env.reset(seed=0)
    on_env = load_selector(slowest_first, env, seed=1)
    on_spec = load_selector(slowest_first, SlotSpec.of(env), seed=1)
    assert isinstance(on_env, SlowestFirst) and isinstance(on_spec, SlowestFirst)
    assert np.array_equal(on_env.predict(obs)[0], on_spec.predict(obs)[0])
    env.step(on_env.predict(obs)[0])


def test_an_unregistered_name_is_refused_naming_the_registered_ones():
    env = gym.make("bcfl/IoV-v1")
    with pytest.raises(ValueError, match=r"neither a registered selector \(\[.*'oort'"):
        load_selector("slowest-first", env)


def test_a_name_is_registered_once_and_must_be_safe_for_tables():
    with pytest.raises(ValueError, match="already registered"):
        register_selector("oort")(SlowestFirst)
    with pytest.raises(ValueError, match="not allowed"):
        register_selector("a|b")(SlowestFirst)
