"""Generic helpers over the config's dataclass tree: rebuild one from a dict, find sections,
suggest the nearest key. They know no particular section, so every config module can use them."""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any, TypeVar, cast

__all__ = ["build", "section_type", "suggest"]

_T = TypeVar("_T")


def build(cls: type[_T], data: dict[str, Any], prefix: str) -> _T:
    names = {f.name: f for f in dataclasses.fields(cast(Any, cls))}  # cls is a config dataclass
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ValueError(f"unknown config key {dotted!r}{suggest(key, list(names))}")
        sub = section_type(names[key], cls)
        kwargs[key] = (
            build(sub, value, dotted + ".")
            if sub is not None and isinstance(value, dict)
            else value
        )
    return cls(**kwargs)


def section_type(f: dataclasses.Field[Any], owner: type | None = None) -> type | None:
    """The dataclass a field holds, from the owner's type hints (the tree is declared once)."""
    hints = _hints(owner) if owner is not None else {}
    ft = hints.get(f.name, f.type)
    return ft if isinstance(ft, type) and dataclasses.is_dataclass(ft) else None


def _hints(cls: type) -> dict[str, Any]:
    cached = _HINTS.get(cls)
    if cached is None:
        cached = _HINTS[cls] = typing.get_type_hints(cls)
    return cached


_HINTS: dict[type, dict[str, Any]] = {}


def suggest(key: str, candidates: list[str]) -> str:
    near = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    return f"; did you mean {near[0]!r}?" if near else ""
