"""A preset is one module: decorated once, it has a gym id that passes both env checkers."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import bcfl_env
from bcfl_env.config import PRESETS, BCFLConfig, EnvConfig, iov, make_config, register_preset

ENV_ID = "bcfl/SmallTown-v1"


def small_town() -> BCFLConfig:
    """Test-defined preset: IoV with 8 slots, K = 2 and short episodes."""
    base = iov()
    return BCFLConfig(
        env=EnvConfig(num_vehicles=8, vehicles_per_round=2, max_rounds=6),
        network=base.network,
        chain=base.chain,
        fl=base.fl,
        preset="small-town",
    )


@pytest.fixture
def registered() -> Iterator[str]:
    register_preset("small-town", env_id=ENV_ID)(small_town)
    yield ENV_ID
    PRESETS.pop("small-town")
    bcfl_env.ENV_IDS.pop(ENV_ID)
    gym.registry.pop(ENV_ID)


def test_a_preset_defined_here_registers_its_gym_id_and_passes_both_checkers(registered):
    assert bcfl_env.ENV_IDS[registered] == "small-town"
    env = gym.make(registered)
    assert env.unwrapped.config.env.num_vehicles == 8
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(registered))
    assert make_config("small-town", vehicles_per_round=3).env.vehicles_per_round == 3


def test_the_cli_offers_it(registered, capsys):
    from training.cli import main as bcfl

    with pytest.raises(SystemExit):
        bcfl(["train", "--help"])
    assert registered in capsys.readouterr().out


def test_a_clashing_or_malformed_preset_is_refused():
    with pytest.raises(ValueError, match="clashes with 'iov'"):
        register_preset("iov", env_id="bcfl/Other-v1")(small_town)
    with pytest.raises(ValueError, match="expected 'bcfl/<Name>-v<version>'"):
        register_preset("odd", env_id="Odd")(small_town)
