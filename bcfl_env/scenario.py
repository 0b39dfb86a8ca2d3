"""Scenario files: a whole config tree in a YAML file, and the ``bcfl/Custom-v1`` env that runs one.

A scenario file is data (YAML read with ``yaml.safe_load``: no tag can build an object or run
code)::

    format: bcfl-scenario
    version: 1
    config: {env: {...}, network: {...}, chain: {...}, fl: {...}, reward: {...}, preset: custom}
    fit: {...}        # optional: how each value was obtained (``bcfl calibrate`` writes it)
    source: {...}     # optional: what it was fitted from

``config`` is validated exactly like :meth:`BCFLConfig.from_dict`: an unknown key or a value out
of range raises ``ValueError`` naming the dotted key and the allowed values. Keys left out keep
their defaults. ``gymnasium.make("bcfl/Custom-v1", scenario="scenario.yaml")`` runs it (and
``gymnasium.make_vec`` steps many worlds of it, as for a preset).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bcfl_env.config import BCFLConfig

__all__ = [
    "CUSTOM_ENV_ID",
    "SCENARIO_FORMAT",
    "SCENARIO_VERSION",
    "Scenario",
    "custom_env",
    "custom_vector_env",
    "load_scenario",
    "read_scenario",
    "save_scenario",
]

SCENARIO_FORMAT = "bcfl-scenario"
SCENARIO_VERSION = 1
CUSTOM_ENV_ID = "bcfl/Custom-v1"
MAX_SCENARIO_BYTES = 1 << 20  # a config tree is a few kB; a larger file is not a scenario


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario file: the validated config, and the fit and source it records."""

    config: BCFLConfig
    fit: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)


def save_scenario(
    path: str | os.PathLike[str],
    config: BCFLConfig,
    fit: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
) -> Path:
    """Write ``config`` (and how it was obtained) as a scenario file; returns the path."""
    if not isinstance(config, BCFLConfig):
        raise ValueError(f"config must be a BCFLConfig, got {type(config).__name__}")
    doc: dict[str, Any] = {
        "format": SCENARIO_FORMAT,
        "version": SCENARIO_VERSION,
        "config": config.to_dict(),
    }
    if fit:
        doc["fit"] = fit
    if source:
        doc["source"] = source
    out = Path(path)
    out.write_text(yaml.safe_dump(doc, sort_keys=False, width=100))
    return out


def read_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Load and validate a scenario file.

    Raises:
        ValueError: not a readable file, not YAML, not a scenario of a known version, or a config
            that does not validate (the message names the key).
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"scenario={str(path)!r} is not a file")
    if file.stat().st_size > MAX_SCENARIO_BYTES:
        raise ValueError(
            f"scenario {file}: {file.stat().st_size} bytes is out of range: allowed at most "
            f"{MAX_SCENARIO_BYTES}"
        )
    try:
        doc = yaml.safe_load(file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"scenario {file} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"scenario {file}: expected a mapping, got {type(doc).__name__}")
    if doc.get("format") != SCENARIO_FORMAT:
        raise ValueError(
            f"scenario {file}: format={doc.get('format')!r} is not allowed: expected "
            f"{SCENARIO_FORMAT!r}"
        )
    if doc.get("version") != SCENARIO_VERSION:
        raise ValueError(
            f"scenario {file}: version={doc.get('version')!r} is not allowed: this bcfl reads "
            f"version {SCENARIO_VERSION}"
        )
    unknown = sorted(set(doc) - {"format", "version", "config", "fit", "source"})
    if unknown:
        raise ValueError(
            f"scenario {file}: unknown keys {unknown}: allowed format, version, config, fit, source"
        )
    raw = doc.get("config")
    if not isinstance(raw, dict):
        raise ValueError(f"scenario {file}: 'config' must be a mapping of config sections")
    try:
        config = BCFLConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scenario {file}: {exc}") from None
    for key in ("fit", "source"):
        if not isinstance(doc.get(key, {}), dict):
            raise ValueError(f"scenario {file}: {key!r} must be a mapping")
    return Scenario(config, dict(doc.get("fit", {})), dict(doc.get("source", {})))


def load_scenario(path: str | os.PathLike[str]) -> BCFLConfig:
    """The validated config of a scenario file (see :func:`read_scenario`)."""
    return read_scenario(path).config


def _required(scenario: str | os.PathLike[str] | None) -> BCFLConfig:
    if scenario is None:
        raise ValueError(
            f"{CUSTOM_ENV_ID} needs scenario=<path to a scenario file> (bcfl calibrate writes one)"
        )
    return load_scenario(scenario)


def custom_env(
    scenario: str | os.PathLike[str] | None = None, render_mode: str | None = None, **overrides: Any
) -> Any:
    """``bcfl/Custom-v1``: the env of a scenario file, with config ``overrides`` on top."""
    from bcfl_env.envs.core import BCFLEnv

    return BCFLEnv(_required(scenario), render_mode=render_mode, **overrides)


def custom_vector_env(
    num_envs: int = 1, scenario: str | os.PathLike[str] | None = None, **kwargs: Any
) -> Any:
    """``gymnasium.make_vec("bcfl/Custom-v1", num_envs=B, scenario=...)``: B worlds of it."""
    from bcfl_env.envs.vector import BCFLVectorEnv

    return BCFLVectorEnv(num_envs, _required(scenario), **kwargs)
