"""Field declarations and their validation: the allowed values of every config field.

Each field declares its allowed values in its metadata (``rng`` for a numeric interval, ``choices``
for an enumeration), and every section checks them in ``__post_init__``, so a bad value raises a
``ValueError`` that names the dotted key and the allowed values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from typing import Any, Literal, cast, get_args

__all__ = [
    "INF",
    "MAX_TICKS_PER_EPOCH",
    "AcceptanceRule",
    "AttackKind",
    "ConsensusKind",
    "ElectionRule",
    "FaultBehaviour",
    "KeySource",
    "allow_choice",
    "disallow_choice",
]

INF = math.inf
MAX_TICKS_PER_EPOCH = 20_000  # bounds the work of one step (about 10 s of mobility on 2 cores)

# The allowed values of the chain's pluggable rules, declared once; each registry in
# ``bcfl_env.chain`` holds exactly these keys (a test checks it).
ConsensusKind = Literal["bft", "pow_latency"]
ElectionRule = Literal["reputation", "top_trainers", "round_robin"]
AcceptanceRule = Literal["quorum", "median"]
FaultBehaviour = Literal["random", "always_accept", "always_reject", "equivocate"]
AttackKind = Literal["sign_flip", "label_flip", "gaussian", "scaled", "free_ride"]
KeySource = Literal["secret", "seed"]


def _num(
    default: float | int, lo: float, hi: float, *, lo_open: bool = False, doc: str = ""
) -> Any:
    return field(default=default, metadata={"rng": (lo, hi, lo_open), "doc": doc})


def _opt_num(lo: float, hi: float, *, default: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"rng": (lo, hi, False), "optional": True, "doc": doc})


def _choice(default: str, *choices: str, doc: str = "") -> Any:
    return field(default=default, metadata={"choices": (default, *choices), "doc": doc})


# The allowed values of each registry-backed choice: the declared ``Literal``'s values, and any
# name a registry adds later (a consensus kind defined in a user's module, for example), so a new
# rule is one module: its registry's decorator calls :func:`allow_choice`.
_EXTENSIBLE: dict[int, list[str]] = {}


def _allowed_list(allowed: Any) -> list[str]:
    return _EXTENSIBLE.setdefault(id(allowed), list(get_args(allowed)))


def allow_choice(allowed: Any, name: str) -> None:
    """Let the config accept ``name`` wherever it accepts the values of the ``Literal`` ``allowed``
    (registries call this when a new rule registers)."""
    values = _allowed_list(allowed)
    if name not in values:
        values.append(name)


def disallow_choice(allowed: Any, name: str) -> None:
    """Undo :func:`allow_choice` for a name a registry added (declared values stay)."""
    if name in get_args(allowed):
        raise ValueError(f"{name!r} is a declared value and cannot be removed")
    values = _allowed_list(allowed)
    if name in values:
        values.remove(name)


def _choice_of(default: str, allowed: Any, *, doc: str = "") -> Any:
    """A choice whose allowed values are one declared ``Literal`` (the registry's keys) plus the
    names registered later (:func:`allow_choice`)."""
    values = _allowed_list(allowed)
    if default not in values:
        raise ValueError(f"default {default!r} is not one of {values}")
    declared = (default, *[v for v in values if v != default])  # what the docs tables list
    return field(default=default, metadata={"choices": values, "declared": declared, "doc": doc})


def _flag(default: bool, doc: str = "") -> Any:
    return field(default=default, metadata={"flag": True, "doc": doc})


def _text(default: str | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"text": True, "doc": doc})


class _Validated:
    """Mixin: checks every field against its declared range or choices."""

    _section: str = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(cast(Any, self)):  # a mixin of dataclasses only
            value = getattr(self, f.name)
            key = f"{self._section}.{f.name}" if self._section else f.name
            if type(value).__module__ == "numpy" and hasattr(value, "item"):
                if getattr(value, "ndim", 0) != 0:  # an array is not one value: say whose
                    raise ValueError(
                        f"{key}={value!r} must be a single value, got an array of shape "
                        f"{getattr(value, 'shape', '?')}"
                    )
                value = value.item()  # a numpy scalar: validate and store the Python value
                object.__setattr__(self, f.name, value)
            meta = f.metadata
            if "rng" in meta:
                if value is None and meta.get("optional"):
                    continue
                lo, hi, lo_open = meta["rng"]
                is_int = isinstance(f.default, int) and not isinstance(f.default, bool)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(
                        f"{key}={value!r} must be a number in {_range_text(lo, hi, lo_open)}"
                    )
                try:
                    as_float = float(value)
                except OverflowError:  # an int beyond any float: certainly out of range
                    raise ValueError(
                        f"{key}={value!r} is out of range: allowed {_range_text(lo, hi, lo_open)}"
                    ) from None
                if is_int and not as_float.is_integer():
                    raise ValueError(
                        f"{key}={value!r} must be an integer in {_range_text(lo, hi, lo_open)}"
                    )
                if math.isnan(value) or value < lo or value > hi or (lo_open and value == lo):
                    raise ValueError(
                        f"{key}={value!r} is out of range: allowed {_range_text(lo, hi, lo_open)}"
                    )
                if is_int and not isinstance(value, int):
                    object.__setattr__(self, f.name, int(value))
            elif "choices" in meta:
                if value not in meta["choices"]:
                    allowed = [f.default, *[c for c in meta["choices"] if c != f.default]]
                    raise ValueError(f"{key}={value!r} is not allowed: choose one of {allowed}")
            elif "flag" in meta:
                if not isinstance(value, bool):
                    raise ValueError(f"{key}={value!r} must be True or False")
            elif "text" in meta and value is not None and not isinstance(value, str):
                raise ValueError(f"{key}={value!r} must be a string or None")
        self._check()

    def _check(self) -> None:
        """Cross-field rules; sections override."""


def _range_text(lo: float, hi: float, lo_open: bool) -> str:
    left = "(" if lo_open else "["
    right = "]" if hi != INF else ")"
    return f"{left}{lo}, {hi}{right}"
