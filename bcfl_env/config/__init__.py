"""One validated tree of frozen dataclasses: the single source of truth for every constant.

Each field declares its allowed values in its metadata (``rng`` for a numeric interval, ``choices``
for an enumeration), and every dataclass checks them in ``__post_init__``, so a bad value raises a
``ValueError`` that names the dotted key and the allowed values. Presets are data: functions that
return a :class:`BCFLConfig` with some fields changed, never subclasses. Overrides
(``with_overrides`` and ``gymnasium.make(..., **overrides)``) accept the key forms listed in
:mod:`bcfl_env.config.overrides`.

The package is split by job: :mod:`~bcfl_env.config.validation` (field declarations and their
checks), :mod:`~bcfl_env.config.schema` (the tree), :mod:`~bcfl_env.config.overrides` (key forms
and atomic overrides) and :mod:`~bcfl_env.config.presets` (the preset registry). Import from
here.
"""

from bcfl_env.config.overrides import flat_keys, with_overrides
from bcfl_env.config.presets import (
    PRESETS,
    Preset,
    iiot,
    ioht,
    iov,
    make_config,
    on_preset_registered,
    register_preset,
)
from bcfl_env.config.schema import (
    AvailabilityConfig,
    BCFLConfig,
    ChainConfig,
    ChannelConfig,
    ComputeConfig,
    EnvConfig,
    FLConfig,
    InfraConfig,
    MobilityConfig,
    NetworkConfig,
    RewardConfig,
    RoadConfig,
)
from bcfl_env.config.validation import (
    INF,
    MAX_TICKS_PER_EPOCH,
    AcceptanceRule,
    AttackKind,
    ConsensusKind,
    ElectionRule,
    FaultBehaviour,
    KeySource,
    allow_choice,
    disallow_choice,
)

__all__ = [
    "INF",
    "MAX_TICKS_PER_EPOCH",
    "PRESETS",
    "AcceptanceRule",
    "AttackKind",
    "AvailabilityConfig",
    "BCFLConfig",
    "ChainConfig",
    "ChannelConfig",
    "ComputeConfig",
    "ConsensusKind",
    "ElectionRule",
    "EnvConfig",
    "FLConfig",
    "FaultBehaviour",
    "InfraConfig",
    "KeySource",
    "MobilityConfig",
    "NetworkConfig",
    "Preset",
    "RewardConfig",
    "RoadConfig",
    "allow_choice",
    "disallow_choice",
    "flat_keys",
    "ioht",
    "iiot",
    "iov",
    "make_config",
    "on_preset_registered",
    "register_preset",
    "with_overrides",
]
