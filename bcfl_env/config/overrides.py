"""Overrides: every key form ``gymnasium.make(..., **overrides)`` accepts, resolved atomically.

* a top-level env key: ``num_vehicles=30``;
* a dotted path spelled with a double underscore: ``fl__alpha=0.1``, ``network__channel__fading=False``;
* a section with a dict: ``fl={"alpha": 0.1}``;
* any field name that is unique in the tree: ``alpha=0.1``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bcfl_env.config.schema import BCFLConfig
from bcfl_env.config.tree import section_type, suggest

__all__ = ["flat_keys", "with_overrides"]


def flat_keys(cfg: Any = None, prefix: str = "") -> dict[str, tuple[str, ...]]:
    """Every leaf field as ``dotted.path -> path tuple`` (env fields appear without a prefix)."""
    cls = type(cfg) if cfg is not None else BCFLConfig
    out: dict[str, tuple[str, ...]] = {}
    for f in dataclasses.fields(cls):
        sub = section_type(f, cls)
        if sub is not None:
            inner = flat_keys(sub(), "" if f.name == "env" else f"{prefix}{f.name}.")
            for dotted, path in inner.items():
                out[dotted] = (f.name, *path)
        elif f.name != "preset":
            out[f"{prefix}{f.name}"] = (f.name,)
    return out


def with_overrides(cfg: BCFLConfig, **overrides: Any) -> BCFLConfig:
    """Return ``cfg`` with ``overrides`` applied (see the module docstring for the key forms).

    Every override is resolved first and the tree is rebuilt once, so each section is validated
    once with all of its new values (overrides are atomic: their order never matters).

    Raises:
        ValueError: an unknown key (naming the nearest valid one) or a value out of its range.
    """
    leaves = flat_keys()
    by_name: dict[str, list[tuple[str, ...]]] = {}
    for path in leaves.values():
        by_name.setdefault(path[-1], []).append(path)
    sections = _section_paths()
    changes: dict[tuple[str, ...], Any] = {}
    spelled: dict[tuple[str, ...], str] = {}  # path -> the key that set it
    for key, value in overrides.items():
        if key == "config":
            raise ValueError(
                "'config' cannot be mixed into with_overrides; pass it to the env directly"
            )
        for path, leaf_value in _resolve(key, value, leaves, by_name, sections):
            if path in changes:  # two spellings of one key: order-free means refuse, not last wins
                raise ValueError(
                    f"config key {'.'.join(path)!r} is set twice, by {spelled[path]!r} and "
                    f"{key!r}: give it once"
                )
            changes[path], spelled[path] = leaf_value, key
    return _apply(cfg, changes)


def _resolve(
    key: str,
    value: Any,
    leaves: dict[str, tuple[str, ...]],
    by_name: dict[str, list[tuple[str, ...]]],
    sections: dict[str, tuple[str, ...]],
) -> list[tuple[tuple[str, ...], Any]]:
    """The (leaf path, value) pairs one override names; a section with a dict names several."""
    dotted = key.replace("__", ".")
    section = sections.get(dotted) or sections.get(key)
    if section is not None and isinstance(value, dict):
        out = []
        for sub_key, sub_value in value.items():
            inner = f"{'.'.join(section)}.{sub_key}"
            if section == ("env",) and sub_key in leaves and leaves[sub_key][0] == "env":
                inner = sub_key  # env fields are top-level keys
            out += _resolve(inner.replace(".", "__"), sub_value, leaves, by_name, sections)
        return out
    if dotted in leaves:
        return [(leaves[dotted], value)]
    if dotted.startswith("env.") and dotted[4:] in leaves:
        return [(leaves[dotted[4:]], value)]
    if key in by_name and len(by_name[key]) == 1:
        return [(by_name[key][0], value)]
    if key in by_name:
        options = [".".join(p) for p in by_name[key]]
        raise ValueError(f"config key {key!r} is ambiguous: use one of {options} (dots as '__')")
    raise ValueError(f"unknown config key {key!r}{suggest(dotted, list(leaves) + list(by_name))}")


def _section_paths(
    cls: type | None = None, prefix: tuple[str, ...] = ()
) -> dict[str, tuple[str, ...]]:
    """Every section of the tree: dotted name -> path (``network.road`` -> ("network", "road"))."""
    out: dict[str, tuple[str, ...]] = {}
    owner = cls or BCFLConfig
    for f in dataclasses.fields(owner):
        sub = section_type(f, owner)
        if sub is not None:
            path = (*prefix, f.name)
            out[".".join(path)] = path
            out.update(_section_paths(sub, path))
    return out


def _apply(obj: Any, changes: dict[tuple[str, ...], Any]) -> Any:
    """Rebuild ``obj`` with every change at once; each touched section validates once."""
    direct = {path[0]: value for path, value in changes.items() if len(path) == 1}
    nested: dict[str, dict[tuple[str, ...], Any]] = {}
    for path, value in changes.items():
        if len(path) > 1:
            nested.setdefault(path[0], {})[path[1:]] = value
    for name, sub_changes in nested.items():
        direct[name] = _apply(getattr(obj, name), sub_changes)
    return dataclasses.replace(obj, **direct) if direct else obj
