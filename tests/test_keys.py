"""Keys the seed does not give away: the held-out seeds are public, so a ledger whose keys follow
from the seed can be rebuilt and re-signed by anyone. Attacked here as the issue's forger did."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from chain_forgery import forge

import bcfl_env  # noqa: F401
from bcfl_env.chain import Ledger, LedgerIntegrityError
from bcfl_env.chain.audit import audit

SEED = 1000  # a public held-out seed


def _episode(rounds=4, **overrides):
    env = gym.make("bcfl/IoV-v1", max_rounds=rounds, **overrides)
    obs, _ = env.reset(seed=SEED)
    env.action_space.seed(SEED)
    trace = [obs]
    for _ in range(rounds):
        obs, reward, _, _, info = env.step(env.action_space.sample())
        trace.append((obs, reward, {k: v for k, v in info.items() if k != "chain_head"}))
    return env.unwrapped, trace


def _forge_as_outsider(victim_path, tmp_path, **overrides):
    """Rebuild the world from the public seed, take its keys, and re-sign a rewritten history."""
    attacker, _ = _episode(**overrides)
    chain = attacker.world.chain
    chain.ledger = Ledger.load(victim_path)

    def later(decoded, fields):
        fields["timestamp_s"] += 0.5  # any change: re-signed, so only the keys can give it away

    forge(chain, 2, later)
    chain._sign_head(chain.ledger.blocks[-1].header_fields()["timestamp_s"])
    path = tmp_path / "forged.sqlite"
    chain.ledger.save(path)
    return path


def test_secret_keys_leave_the_dynamics_of_a_seed_unchanged():
    secret, a = _episode()
    seeded, b = _episode(chain__key_source="seed")
    np.testing.assert_array_equal(a[0], b[0])
    for (obs_a, r_a, info_a), (obs_b, r_b, info_b) in zip(a[1:], b[1:], strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        assert r_a == r_b and info_a == info_b
    # but the keys, and so every signature and hash, are not the seed's
    assert secret.ledger.ca_public_key != seeded.ledger.ca_public_key
    again, _ = _episode()
    assert again.ledger.ca_public_key != secret.ledger.ca_public_key
    assert again.ledger.head_hash != secret.ledger.head_hash
    # one env instance keeps its secret: the same seed gives the same ledger (Gymnasium's
    # determinism check compares info, chain_head included)
    head = secret.ledger.head_hash
    secret.reset(seed=SEED)
    secret.action_space.seed(SEED)
    for _ in range(4):
        secret.step(secret.action_space.sample())
    assert secret.ledger.head_hash == head


def test_seed_keys_are_deterministic_and_labelled_as_forgeable(tmp_path):
    one, _ = _episode(chain__key_source="seed")
    two, _ = _episode(chain__key_source="seed")
    assert one.ledger.head_hash == two.ledger.head_hash
    one.ledger.save(tmp_path / "seeded.sqlite")
    forged = _forge_as_outsider(tmp_path / "seeded.sqlite", tmp_path, chain__key_source="seed")
    ok, text = audit(forged)
    assert ok, text  # the attack works on seed keys: that is why the audit says so
    assert "DERIVED FROM THE ENV SEED" in text
    ok, text = audit(forged, expect_head=one.ledger.head_hash)  # only an out-of-band head helps
    assert not ok


def test_an_outsider_who_knows_the_seed_cannot_forge_a_secret_keyed_ledger(tmp_path):
    victim, _ = _episode()
    victim.ledger.save(tmp_path / "victim.sqlite")
    ok, text = audit(tmp_path / "victim.sqlite")
    assert ok and "secret (OS randomness)" in text
    forged = _forge_as_outsider(tmp_path / "victim.sqlite", tmp_path)
    ok, text = audit(forged)
    assert not ok and "FAILED" in text
    with pytest.raises(LedgerIntegrityError):
        Ledger.load(forged, verify=True)
