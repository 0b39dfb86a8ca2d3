"""Fuzz targets shared by ``tests/test_fuzz.py`` (a small profile) and ``benchmarks/fuzz.py``
(10,000 cases): configs, actions, reset arguments, update payloads and ledger cells.

Each target takes one drawn case and returns what happened ("valid", "refused", ...). The only
exceptions a target lets out are unexpected ones: a clear refusal is a ``ValueError`` (or
Gymnasium's own error for a bad seed), a rejected update is a verdict on chain, and a tampered
ledger is a ``LedgerIntegrityError``; anything else, or a hang, is a finding.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from hypothesis import strategies as st

import bcfl_env
from bcfl_env.chain import Ledger, LedgerIntegrityError, PermissionedChain, Transaction
from bcfl_env.config import ChainConfig, flat_keys, make_config

# ------------------------------------------------------------------ strategies
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-5, max_value=200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-10, max_value=1e4),
    st.text(max_size=12),
    st.sampled_from([np.int64(30), np.float32(0.1), np.float64(np.nan), np.bool_(True)]),
    st.just(10**400),
)
JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
    ),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
CONFIG_KEYS = sorted(k.replace(".", "__") for k in flat_keys())  # sections as double underscores
CONFIG_CASES = st.dictionaries(
    st.one_of(st.sampled_from(CONFIG_KEYS), st.text(max_size=10)),
    st.one_of(SCALARS, st.dictionaries(st.text(max_size=6), SCALARS, max_size=2)),
    min_size=1,
    max_size=3,
)
DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int64, np.uint8, np.bool_]
ACTIONS = st.one_of(
    st.tuples(
        st.sampled_from([(20,)] * 6 + [(19,), (21,), (20, 1), (), (0,), (11,), (40,)]),
        st.sampled_from([np.float32] * 4 + DTYPES),
        st.floats(allow_nan=True, allow_infinity=True, width=32),
        st.integers(0, 2**31),
    ),
    st.one_of(st.none(), st.text(max_size=5), st.lists(st.floats(), max_size=21), JSON),
)
RESETS = st.tuples(
    st.one_of(st.none(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=4)),
    st.one_of(st.none(), st.dictionaries(st.text(max_size=6), SCALARS, max_size=2)),
)
PAYLOADS = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {
            "round": st.one_of(st.integers(), JSON),
            "base_model": st.one_of(st.text(max_size=70), JSON),
            "params": st.one_of(st.text(max_size=70), JSON),
            "samples": st.one_of(st.integers(), JSON),
            "metrics": st.one_of(
                st.dictionaries(st.text(max_size=8), st.floats(), max_size=3), JSON
            ),
        }
    ),
)
CELLS = st.tuples(
    st.sampled_from(
        [
            ("blocks", "header"),
            ("blocks", "qc"),
            ("txs", "body"),
            ("txs", "signature"),
            ("meta", "value"),
            ("models", "data"),
        ]
    ),  # fmt: skip
    st.integers(0, 10_000),
    st.one_of(
        st.binary(max_size=64),
        st.text(max_size=64),
        st.integers(),
        st.floats(),
        st.none(),
        st.integers(0, 10_000),  # a flipped bit at this position of the original
    ),  # fmt: skip
)


# ------------------------------------------------------------------ targets
def config_case(overrides: dict[str, Any]) -> str:
    try:
        make_config("iov", None, **overrides)
    except ValueError:
        return "refused"
    return "valid"


class ActionTarget:
    """One env, stepped with whatever is drawn; episodes that end are reset."""

    def __init__(self) -> None:
        self.env = gym.make("bcfl/IoV-v1", max_rounds=8)
        self.env.reset(seed=0)

    def __call__(self, case: Any) -> str:
        if isinstance(case, tuple) and len(case) == 4 and isinstance(case[0], tuple):
            shape, dtype, value, seed = case
            rng = np.random.default_rng(seed)
            with np.errstate(all="ignore"):
                raw = np.asarray(rng.uniform(-1.0, 1.0, size=shape))
                if raw.size and rng.random() < 0.3:
                    raw.flat[rng.integers(raw.size)] = value
                action: Any = raw.astype(dtype)
        else:
            action = case
        try:
            _, _, terminated, truncated, _ = self.env.step(action)
        except ValueError:
            return "refused"
        if terminated or truncated:
            self.env.reset(seed=1)
        return "valid"


class ResetTarget:
    def __init__(self) -> None:
        self.env = gym.make("bcfl/IoV-v1", max_rounds=4)

    def __call__(self, case: tuple[Any, Any]) -> str:
        seed, options = case
        try:
            self.env.reset(seed=seed, options=options)
        except (ValueError, gym.error.Error):
            return "refused"
        return "valid"


def _score(members: Any, candidates: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.full((len(members), len(candidates)), 0.9), np.full(len(members), 0.8)


class PayloadTarget:
    """A vehicle selected for a round submits a signed update with the drawn payload."""

    def __init__(self) -> None:
        self.chain = PermissionedChain(
            ChainConfig(committee_size=4, election="round_robin", key_source="seed"),
            np.random.default_rng(0),
            [f"rsu{i}" for i in range(4)],
        )
        self.chain.genesis(["veh0"], b"initial-model")
        self.round = 0

    def __call__(self, payload: Any) -> str:
        self.round += 1
        chain = self.chain
        latest = chain.tasks.latest
        assert latest is not None  # genesis published model version 0
        chain.assign_task(self.round, latest[1], ["veh0"], float(self.round))
        identity = chain.identity("veh0")
        try:
            tx = identity.transaction("update", payload)
        except (
            ValueError
        ):  # not canonical JSON (NaN, infinity): a hostile vehicle writes it by hand
            body = json.dumps(
                {"kind": "update", "sender": "veh0", "payload": payload},
                sort_keys=True, separators=(",", ":"), allow_nan=True,
            ).encode()  # fmt: skip
            tx = Transaction(body, identity.sign(body))
        outcome = chain.run_round(self.round, [tx], float(self.round), _score)
        if outcome.accepted:
            return "accepted"  # only a well-formed payload can get here
        assert len(outcome.rejected) == 1, outcome.rejected
        return f"rejected:{outcome.rejected[0][1]}"

    def verify(self) -> None:
        self.chain.ledger.verify()


class CellTarget:
    """Overwrite one cell of a saved ledger; loading must refuse it unless nothing changed."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bcfl-fuzz-"))
        env = gym.make("bcfl/IoV-v1", max_rounds=3, chain__key_source="seed")
        env.reset(seed=0)
        for _ in range(3):
            env.step(env.action_space.sample())
        self.original = self.folder / "ledger.sqlite"
        bcfl_env.unwrap(env).ledger.save(self.original)
        self.copy = self.folder / "case.sqlite"

    def __call__(self, case: tuple[tuple[str, str], int, Any]) -> str:
        (table, column), row, value = case
        shutil.copyfile(self.original, self.copy)
        con = sqlite3.connect(self.copy)
        try:
            rowids = [r[0] for r in con.execute(f"SELECT rowid FROM {table}")]
            rowid = rowids[row % len(rowids)]
            (old,) = con.execute(f"SELECT {column} FROM {table} WHERE rowid=?", (rowid,)).fetchone()
            if isinstance(value, int) and not isinstance(value, bool) and value < 10_001 and old:
                flipped = bytearray(old)
                flipped[value % len(flipped)] ^= 1 << (value % 8)
                value = bytes(flipped)
            try:
                con.execute(f"UPDATE {table} SET {column}=? WHERE rowid=?", (value, rowid))
            except (sqlite3.IntegrityError, OverflowError):  # NOT NULL, or past 64-bit integers:
                # SQLite itself refuses this edit
                return "unwritable"
            con.commit()
        finally:
            con.close()
        try:
            Ledger.load(self.copy, verify=True)
        except LedgerIntegrityError:
            return "detected"
        assert value == old or (table, column) in UNSIGNED_CELLS, (table, column, value, old)
        return "unchanged" if value == old else "harmless"

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# meta cells other than the trust anchors carry no integrity of their own: ``signed_head`` is
# checked when present, and a model blob nothing references is not read by verification
UNSIGNED_CELLS: frozenset[tuple[str, str]] = frozenset()

__all__ = [
    "ACTIONS", "CELLS", "CONFIG_CASES", "PAYLOADS", "RESETS", "ActionTarget", "CellTarget",
    "PayloadTarget", "ResetTarget", "bcfl_env", "config_case",
]  # fmt: skip
