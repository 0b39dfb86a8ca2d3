"""The one parser for JSON that comes from outside: transactions, DAG bodies, ledger files,
deployment records and leaderboard submissions.

It bounds what a hostile input can make the parser do before Python's ``json`` sees it: the
size in bytes, the nesting depth (Python's parser recurses, so a few kilobytes of brackets raise
``RecursionError``), and numbers (no NaN or Infinity, no float that overflows to infinity, no
integer past 64 bits, which would overflow any later float conversion). Every violation is an
:class:`UntrustedInputError`, a ``ValueError`` naming what was wrong, so callers turn it into a
recorded rejection or an integrity error, never an exception out of a round or an audit.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "UntrustedInputError",
    "parse_untrusted",
    "require_finite",
]

MAX_DEPTH = 32  # the deepest structure any of our formats needs is 6 levels
MAX_INT = 2**63 - 1
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


class UntrustedInputError(ValueError):
    """Input from outside that the parser refuses (too large, too deep, not finite, not JSON)."""


def _depth_within(data: bytes, limit: int) -> bool:
    """Whether no bracket nests deeper than ``limit`` (brackets inside strings do not count)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return True  # the common case, at C speed
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", data)):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > limit:
            return False
    return True


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UntrustedInputError(f"number {text[:20]}... is beyond any finite float")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or abs(value := int(text)) > MAX_INT:
        raise UntrustedInputError(f"integer {text[:20]}... is outside [-2**63 + 1, 2**63 - 1]")
    return value


def _no_constant(name: str) -> Any:
    raise UntrustedInputError(f"{name} is not a JSON number")


def parse_untrusted(
    data: bytes | str, *, max_bytes: int = 1 << 20, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse ``data`` as JSON within bounds (see the module docstring).

    Raises:
        UntrustedInputError: larger than ``max_bytes``, nested deeper than ``max_depth``, a
            number that is not finite or past 64 bits, invalid UTF-8, or not JSON.
    """
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise UntrustedInputError(f"{len(raw)} bytes, more than the {max_bytes} allowed")
    if not _depth_within(raw, max_depth):
        raise UntrustedInputError(f"nested deeper than {max_depth} levels")
    try:
        text = raw.decode("utf-8")
        return json.loads(
            text, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant
        )
    except UntrustedInputError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UntrustedInputError(f"not JSON: {exc}") from None


def require_finite(value: Any, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a float if it is a finite real number in ``[low, high]``.

    Raises:
        UntrustedInputError: naming ``name``, for a non-number, NaN, infinity, an integer past
            any float, or a value out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UntrustedInputError(f"{name}={value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise UntrustedInputError(f"{name} is beyond any finite float") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise UntrustedInputError(f"{name}={value!r} is out of range: allowed [{low}, {high}]")
    return number
