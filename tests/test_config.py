import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from bcfl_env.config import BCFLConfig, flat_keys, make_config


def test_defaults_build_for_every_preset():
    for preset in ("iov", "iiot", "ioht"):
        cfg = make_config(preset)
        assert cfg.preset == preset


def test_override_forms_reach_the_same_field():
    a = make_config("iov", fl__alpha=0.1)
    b = make_config("iov", fl={"alpha": 0.1})
    c = make_config("iov", alpha=0.1)
    assert a.fl.alpha == b.fl.alpha == c.fl.alpha == 0.1
    assert make_config("iov", network__channel__fading=False).network.channel.fading is False


def test_unknown_key_names_the_nearest_valid_key():
    with pytest.raises(ValueError, match="num_vehicles"):
        make_config("iov", num_vehicels=10)


def test_ambiguous_short_key_is_refused():
    with pytest.raises(ValueError, match="ambiguous"):
        make_config("iov", kind="grid")


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("num_vehicles", 0, "num_vehicles=0 is out of range"),
        ("vehicles_per_round", 50, "vehicles_per_round=50 is out of range"),
        ("target_accuracy", 1.5, "target_accuracy=1.5 is out of range"),
        ("fl__alpha", 0.0, r"fl.alpha=0.0 is out of range: allowed \(0"),
        ("fl__lr", -1.0, "fl.lr=-1.0"),
        ("fl__dataset", "imagenet", "choose one of"),
        ("fl__local_epochs", 1.5, "must be an integer"),
        ("network__channel__fading", "yes", "True or False"),
        ("chain__committee_size", 9, "committee_size=9 is out of range"),
        ("network__mobility__departure_prob", 2.0, "departure_prob=2.0"),
        ("max_rounds", float("nan"), "max_rounds"),
    ],
)
def test_bad_values_name_key_and_allowed_range(key, value, needle):
    with pytest.raises(ValueError, match=needle):
        make_config("iov", **{key: value})


def test_every_numeric_field_rejects_values_below_its_range():
    """Sweep the whole tree: each ranged field refuses a value under its lower bound."""
    cfg = BCFLConfig()
    checked = 0
    for dotted, path in flat_keys().items():
        section = cfg
        for part in path[:-1]:
            section = getattr(section, part)
        field = next(f for f in dataclasses.fields(section) if f.name == path[-1])
        if "rng" not in field.metadata:
            continue
        lo = field.metadata["rng"][0]
        if lo == float("-inf"):
            continue
        with pytest.raises(ValueError, match=dotted.split(".")[-1]):
            make_config("iov", **{dotted.replace(".", "__"): lo - 1})
        checked += 1
    assert checked > 60


def test_missing_data_root_is_reported():
    with pytest.raises(ValueError, match="data_root"):
        make_config("iov", fl__dataset="mnist")


def test_round_trip_through_dict():
    cfg = make_config("ioht", num_vehicles=12, vehicles_per_round=3)
    assert BCFLConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown config key"):
        BCFLConfig.from_dict({"env": {"bogus": 1}})


@pytest.mark.parametrize(
    "overrides",
    [
        [("num_vehicles", 3), ("vehicles_per_round", 2)],
        [("num_rsus", 2), ("committee_size", 2)],
        [("network__infra__num_rsus", 2), ("chain__committee_size", 2)],
    ],
)
def test_overrides_are_atomic_in_either_order(overrides):
    forward = make_config("iov", **dict(overrides))
    backward = make_config("iov", **dict(reversed(overrides)))
    assert forward == backward
    for _key, value in overrides:
        assert value in flat_values(forward)
    env = gym.make("bcfl/IoV-v1", **dict(reversed(overrides)))
    env.reset(seed=0)
    env.step(env.action_space.sample())


def test_section_dicts_at_any_depth_and_numpy_scalars_are_accepted():
    cfg = make_config(
        "iov",
        network={"road": {"rows": 3}},
        env={"max_rounds": np.int64(30)},
        fl={"lr": np.float32(0.05)},
    )
    assert cfg.network.road.rows == 3 and cfg.env.max_rounds == 30
    assert type(cfg.env.max_rounds) is int and type(cfg.fl.lr) is float
    assert cfg.fl.lr == pytest.approx(0.05)


def test_a_still_invalid_combination_names_the_field():
    with pytest.raises(ValueError, match="vehicles_per_round=5 is out of range"):
        make_config("iov", num_vehicles=3)


def flat_values(cfg):
    import dataclasses

    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        out += flat_values(value) if dataclasses.is_dataclass(value) else [value]
    return out


def test_huge_numbers_are_range_errors_not_overflows():
    with pytest.raises(ValueError, match="max_rounds=.* out of range"):
        make_config("iov", max_rounds=10**400)
    with pytest.raises(ValueError, match="fl.lr=.* out of range"):
        make_config("iov", fl__lr=10**400)


def test_work_per_step_is_bounded_at_make():
    with pytest.raises(ValueError, match="ticks per epoch"):
        make_config("iov", epoch_s=1e6, network__mobility__tick_s=0.02)


def test_the_largest_certificate_validity_runs():
    env = gym.make("bcfl/IoV-v1", chain__cert_validity_s=1e9, max_rounds=2)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.unwrapped.ledger.verify()


def test_a_budget_longer_than_certificate_validity_renews_certificates():
    env = gym.make(
        "bcfl/IoV-v1", epoch_s=2000.0, network__mobility__tick_s=60.0, sim_time_budget_s=1e6,
        max_rounds=60, target_accuracy=1.0,
    )  # fmt: skip
    env.reset(seed=0)
    for _ in range(60):  # 120,000 s of simulated time: past the default 86,400 s validity
        info = env.step(env.action_space.sample())[4]
    assert info["sim_time_s"] > 86_400
    report = env.unwrapped.ledger.verify()
    assert report.kinds.get("enrol", 0) > report.certificates  # renewals were recorded
