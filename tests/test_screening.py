"""The committee separates honest non-IID updates from model poisoning (norm screen beside
proof-of-quality validation), measured on fixed scenarios."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from bcfl_env.fl.privacy import clip_and_noise
from bcfl_env.fl.screening import NormScreen


def confusion(preset, rounds, seed=0, **overrides):
    env = gym.make(f"bcfl/{preset}-v1", max_rounds=rounds, target_accuracy=1.0, **overrides)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    malicious = env.unwrapped.world.fl.malicious
    honest = {"accepted": 0, "rejected": 0}
    poisoned = {"accepted": 0, "rejected": 0}
    for _ in range(rounds):
        info = env.step(env.action_space.sample())[4]
        for identity in info["accepted"]:
            (poisoned if malicious[identity] else honest)["accepted"] += 1
        for identity, why in info["rejected"]:
            if why in ("low_quality", "non_finite_update"):
                (poisoned if malicious[identity] else honest)["rejected"] += 1
    return honest, poisoned


@pytest.mark.parametrize("preset", ["IoV", "IIoT", "IoHT"])
def test_honest_non_iid_updates_are_rarely_rejected(preset):
    honest, _ = confusion(preset, 25)
    total = honest["accepted"] + honest["rejected"]
    assert total >= 50
    assert honest["rejected"] / total <= 0.05


@pytest.mark.parametrize(
    ("preset", "attack"), [("IoV", "sign_flip"), ("IoV", "gaussian"), ("IoHT", "sign_flip")]
)
def test_poisoned_updates_are_rarely_accepted(preset, attack):
    honest, poisoned = confusion(preset, 40, malicious_fraction=0.3, attack=attack)
    assert poisoned["accepted"] + poisoned["rejected"] >= 10
    assert poisoned["accepted"] / (poisoned["accepted"] + poisoned["rejected"]) <= 0.05
    assert honest["rejected"] / (honest["accepted"] + honest["rejected"]) <= 0.05


def test_dp_bounds_admit_privatised_updates_and_refuse_unnoised_or_unclipped_ones():
    gen = torch.Generator().manual_seed(0)
    p = 2410
    base = torch.zeros(8, p)
    trained = base + 0.008 * torch.randn(8, p, generator=gen)  # ||delta|| ~ 0.4, as in IoHT
    screen = NormScreen(3.0, "gaussian", 5.0, 0.01, p)
    private = clip_and_noise(base, trained, "gaussian", 5.0, 0.01, gen)
    assert not screen.outside(screen.norms(private, base)).any()
    sign_flip = base - 5 * (trained - base)  # the attacker skips clipping and noise: too quiet
    assert screen.outside(screen.norms(sign_flip, base)).all()
    replaced = base + 40 * (trained - base)  # model replacement: beyond clip plus noise
    assert screen.outside(screen.norms(replaced, base)).all()
    assert screen.outside(screen.norms(base + 10.0, base)).all()  # beyond the clip
    assert screen.outside(screen.norms(base.clone(), base)).all()  # a free ride


def test_without_dp_the_bound_follows_accepted_norms():
    screen = NormScreen(3.0, "none", 1.0, 0.0, 4)  # factor 3 here; the default is 2.5
    first = np.array([1.0, 1.2, 0.8, 10.0])
    assert screen.outside(first).tolist() == [False, False, False, True]  # vs this round's median
    screen.record(np.array([1.0, 1.1, 0.9]))
    assert screen.bound(np.array([50.0, 60.0])) == pytest.approx(3.0)  # history, not the round
