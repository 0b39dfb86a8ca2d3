"""Presets are data: functions that return a :class:`BCFLConfig`, registered by name.

``@register_preset("name", env_id="bcfl/Name-v1")`` adds a preset to :data:`PRESETS`; the env layer
registers its gym id (at once, if ``bcfl_env`` is already imported), and the docs table and the
CLI's ``--env`` choices read the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bcfl_env.config.overrides import with_overrides
from bcfl_env.config.schema import (
    BCFLConfig,
    ChainConfig,
    ChannelConfig,
    ComputeConfig,
    EnvConfig,
    FLConfig,
    InfraConfig,
    MobilityConfig,
    NetworkConfig,
    RoadConfig,
)

__all__ = [
    "PRESETS",
    "Preset",
    "ioht",
    "iiot",
    "iov",
    "make_config",
    "on_preset_registered",
    "register_preset",
]


@dataclass(frozen=True)
class Preset:
    """A registered preset: ``build()`` returns its config; ``env_id`` is its gym id."""

    name: str
    build: Callable[[], BCFLConfig]
    env_id: str
    summary: str

    def __call__(self) -> BCFLConfig:
        return self.build()


PRESETS: dict[str, Preset] = {}
_LISTENERS: list[Callable[[Preset], None]] = []


def register_preset(
    name: str, *, env_id: str
) -> Callable[[Callable[[], BCFLConfig]], Callable[[], BCFLConfig]]:
    """Decorator: register a function returning a :class:`BCFLConfig` as the preset ``name``
    under the gym id ``env_id`` (``"bcfl/Name-v1"``).

    Raises:
        ValueError: a malformed id, or a name or id already taken by another preset.
    """
    if not env_id.startswith("bcfl/") or "-v" not in env_id:
        raise ValueError(f"env_id={env_id!r} is not allowed: expected 'bcfl/<Name>-v<version>'")

    def decorate(build: Callable[[], BCFLConfig]) -> Callable[[], BCFLConfig]:
        for other in PRESETS.values():
            if (other.name == name or other.env_id == env_id) and other.build is not build:
                raise ValueError(
                    f"preset {name!r} ({env_id}) clashes with {other.name!r} ({other.env_id})"
                )
        doc = (build.__doc__ or "").strip().splitlines()
        preset = Preset(name, build, env_id, doc[0] if doc else "")
        PRESETS[name] = preset
        for listener in _LISTENERS:
            listener(preset)
        return build

    return decorate


def on_preset_registered(listener: Callable[[Preset], None]) -> None:
    """Call ``listener`` for every preset registered so far and for each one registered later
    (the env layer registers gym ids this way)."""
    _LISTENERS.append(listener)
    for preset in list(PRESETS.values()):
        listener(preset)


@register_preset("iov", env_id="bcfl/IoV-v1")
def iov() -> BCFLConfig:
    """Internet of Vehicles (Lu et al., IEEE TVT 2020): moving vehicles, RSU committee, FedAsync."""
    return BCFLConfig(
        # six RSUs, a committee of four (f = 1) re-elected each round: members rotate (BFLC)
        network=NetworkConfig(infra=InfraConfig(num_rsus=6), upload_payload_mbit=8.0),
        # non-IID updates folded into the global model swing a member's validation accuracy by up
        # to 0.3 (measured, benchmarks/bench_committee.py); the norm screen catches model poisoning
        chain=ChainConfig(score_margin=0.3),
        preset="iov",
    )


@register_preset("iiot", env_id="bcfl/IIoT-v1")
def iiot() -> BCFLConfig:
    """Industrial IoT (Lu et al., IEEE TII 2020): static machines, proof of quality, sync + DP."""
    return BCFLConfig(
        env=EnvConfig(fl_mode="sync", epoch_s=5.0, sync_deadline_s=20.0),
        network=NetworkConfig(
            mobility=MobilityConfig(
                backend="static", arrival_rate_per_s=0.0, initial_occupancy=1.0
            ),
            infra=InfraConfig(num_rsus=4, rsu_coverage_m=2000.0),
            channel=ChannelConfig(shadowing_std_db=2.0, fading=False, rsu_bandwidth_hz=5e6),
            compute=ComputeConfig(cpu_mean_ghz=2.5, cpu_std_ghz=0.2, energy_budget_j=1e6),
            upload_payload_mbit=8.0,
        ),
        chain=ChainConfig(acceptance="median"),
        fl=FLConfig(aggregation="fedavg", dp="laplace", noise_multiplier=0.002, dp_clip=5.0),
        preset="iiot",
    )


@register_preset("ioht", env_id="bcfl/IoHT-v1")
def ioht() -> BCFLConfig:
    """Internet of Health Things (Rahman et al., IEEE IoT-J 2020): wearables, contracts, local DP."""
    return BCFLConfig(
        env=EnvConfig(fl_mode="sync", sync_deadline_s=20.0, max_rounds=80, target_accuracy=0.85),
        network=NetworkConfig(
            mobility=MobilityConfig(
                backend="builtin", speed_mean_kmh=4.5, speed_std_kmh=1.0, arrival_rate_per_s=0.05
            ),
            road=RoadConfig(
                kind="grid", rows=3, cols=3, block_length_m=150.0, speed_limit_kmh=10.0
            ),
            infra=InfraConfig(num_rsus=4, rsu_coverage_m=250.0),
            compute=ComputeConfig(
                cpu_mean_ghz=0.8, cpu_std_ghz=0.1, energy_budget_j=25.0, cycles_per_sample=1e7
            ),
            upload_payload_mbit=2.0,
        ),
        chain=ChainConfig(contract_rules=True),
        fl=FLConfig(
            partition="quantity",
            quantity_sigma=1.0,
            aggregation="fedavg",
            dp="gaussian",
            noise_multiplier=0.01,
            dp_clip=5.0,
        ),
        preset="ioht",
    )


def make_config(
    preset: str = "iov", config: BCFLConfig | None = None, **overrides: Any
) -> BCFLConfig:
    """The preset's config (or ``config``) with ``overrides`` applied."""
    if config is not None:
        if not isinstance(config, BCFLConfig):
            raise ValueError(f"config must be a BCFLConfig, got {type(config).__name__}")
        base = config
    else:
        if preset not in PRESETS:
            raise ValueError(f"preset={preset!r} is not allowed: choose one of {sorted(PRESETS)}")
        base = PRESETS[preset]()
    cfg = with_overrides(base, **overrides)
    # Re-run the cross-section checks that dataclasses.replace on a leaf does not trigger.
    BCFLConfig.__post_init__(cfg)
    return cfg
