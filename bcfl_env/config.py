"""One validated tree of frozen dataclasses: the single source of truth for every constant.

Each field declares its allowed values in its metadata (``rng`` for a numeric interval, ``choices``
for an enumeration), and every dataclass checks them in ``__post_init__``, so a bad value raises a
``ValueError`` that names the dotted key and the allowed values. Presets are data: functions that
return a :class:`BCFLConfig` with some fields changed, never subclasses.

Overrides (``with_overrides`` and ``gymnasium.make(..., **overrides)``) accept:

* a top-level env key: ``num_vehicles=30``;
* a dotted path spelled with a double underscore: ``fl__alpha=0.1``, ``network__channel__fading=False``;
* a section with a dict: ``fl={"alpha": 0.1}``;
* any field name that is unique in the tree: ``alpha=0.1``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args

from bcfl_env.aggregation_rule import AggregationKind, StalenessFn

__all__ = [
    "BCFLConfig",
    "ChainConfig",
    "ChannelConfig",
    "ComputeConfig",
    "EnvConfig",
    "FLConfig",
    "InfraConfig",
    "MobilityConfig",
    "NetworkConfig",
    "PRESETS",
    "RewardConfig",
    "RoadConfig",
    "flat_keys",
    "ioht",
    "iiot",
    "iov",
    "make_config",
    "with_overrides",
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
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if type(value).__module__ == "numpy" and hasattr(value, "item"):
                value = value.item()  # a numpy scalar: validate and store the Python value
                object.__setattr__(self, f.name, value)
            key = f"{self._section}.{f.name}" if self._section else f.name
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


# --------------------------------------------------------------------------- network


@dataclass(frozen=True)
class RoadConfig(_Validated):
    """Road graph. Edges carry ``length_m`` and ``speed_limit_mps``."""

    _section = "network.road"
    kind: str = _choice("grid", "ring", "highway", "graphml", doc="road layout")
    rows: int = _num(4, 2, 100, doc="grid rows (intersections)")
    cols: int = _num(4, 2, 100, doc="grid columns (intersections)")
    block_length_m: float = _num(250.0, 10.0, 10_000.0, doc="grid block length [m]")
    ring_nodes: int = _num(12, 3, 10_000, doc="ring intersections")
    ring_radius_m: float = _num(600.0, 10.0, 100_000.0, doc="ring radius [m]")
    highway_length_m: float = _num(3000.0, 100.0, 100_000.0, doc="highway length [m]")
    highway_segments: int = _num(12, 1, 10_000, doc="highway intersections minus one")
    speed_limit_kmh: float = _num(60.0, 5.0, 200.0, doc="speed limit on every edge [km/h]")
    graphml_path: str | None = _text(None, doc="GraphML file with node x, y [m] (kind='graphml')")

    def _check(self) -> None:
        if self.kind == "graphml" and not self.graphml_path:
            raise ValueError(
                "network.road.graphml_path must name a GraphML file when kind='graphml'"
            )


@dataclass(frozen=True)
class MobilityConfig(_Validated):
    """Vehicle movement. Speeds: truncated Gaussian (Ye et al., IEEE TVT 2018 highway model)."""

    _section = "network.mobility"
    backend: str = _choice(
        "builtin", "static", "sumo", doc="builtin networkx routes, static nodes, or SUMO"
    )
    speed_mean_kmh: float = _num(55.0, 0.0, 250.0, doc="mean speed [km/h]")
    speed_std_kmh: float = _num(2.5, 0.0, 50.0, doc="speed std [km/h]")
    speed_cut_std: float = _num(2.0, 0.0, 10.0, doc="truncation at mean +- cut x std")
    arrival_rate_per_s: float = _num(0.2, 0.0, 1_000.0, doc="Poisson arrivals into the area [1/s]")
    departure_prob: float = _num(0.3, 0.0, 1.0, doc="chance to leave at a boundary node on arrival")
    initial_occupancy: float = _num(0.8, 0.0, 1.0, doc="fraction of slots filled at reset")
    tick_s: float = _num(
        1.0, 0.01, 60.0, lo_open=True, doc="world advance step inside an epoch [s]"
    )
    sumo_net_file: str | None = _text(
        None, doc="SUMO .net.xml (backend='sumo'); generated when None"
    )


@dataclass(frozen=True)
class InfraConfig(_Validated):
    """RSUs at intersections and one MBS covering the whole area."""

    _section = "network.infra"
    num_rsus: int = _num(4, 1, 10_000, doc="RSUs placed at evenly spread intersections")
    rsu_coverage_m: float = _num(300.0, 1.0, 100_000.0, doc="RSU coverage radius [m]")


@dataclass(frozen=True)
class ChannelConfig(_Validated):
    """V2I uplink: 3GPP TR 36.885 style path loss, shadowing, Rayleigh fading, Shannon rate."""

    _section = "network.channel"
    tx_power_dbm: float = _num(23.0, -30.0, 60.0, doc="vehicle transmit power [dBm]")
    noise_psd_dbm_hz: float = _num(-174.0, -220.0, -100.0, doc="thermal noise PSD [dBm/Hz]")
    noise_figure_db: float = _num(9.0, 0.0, 30.0, doc="receiver noise figure [dB]")
    rsu_bandwidth_hz: float = _num(1e6, 1e3, 1e10, doc="uplink bandwidth of one RSU, shared [Hz]")
    shadowing_std_db: float = _num(8.0, 0.0, 30.0, doc="log-normal shadowing std [dB]")
    decorrelation_m: float = _num(50.0, 0.1, 10_000.0, doc="shadowing decorrelation distance [m]")
    carrier_hz: float = _num(5.9e9, 1e8, 1e11, doc="carrier frequency (Doppler) [Hz]")
    fading: bool = _flag(True, doc="Rayleigh fast fading (Jakes temporal correlation)")


@dataclass(frozen=True)
class ComputeConfig(_Validated):
    """Per-vehicle compute and energy (Yang et al., IEEE TWC 2021 energy model)."""

    _section = "network.compute"
    cpu_mean_ghz: float = _num(1.5, 0.01, 100.0, doc="mean CPU frequency [GHz]")
    cpu_std_ghz: float = _num(0.1, 0.0, 10.0, doc="CPU frequency std [GHz]")
    cpu_cut_std: float = _num(2.0, 0.0, 10.0, doc="truncation at mean +- cut x std")
    cycles_per_sample: float = _num(2e7, 1.0, 1e12, doc="CPU cycles per sample and epoch")
    kappa: float = _num(1e-28, 0.0, 1e-20, doc="effective switched capacitance")
    energy_budget_j: float = _num(
        200.0, 0.0, 1e9, lo_open=True, doc="energy per vehicle per episode [J]"
    )
    energy_budget_spread: float = _num(
        0.2, 0.0, 0.99, doc="budgets uniform in (1 +- spread) x budget"
    )


@dataclass(frozen=True)
class NetworkConfig(_Validated):
    _section = "network"
    road: RoadConfig = field(default_factory=RoadConfig)
    mobility: MobilityConfig = field(default_factory=MobilityConfig)
    infra: InfraConfig = field(default_factory=InfraConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    upload_payload_mbit: float | None = _opt_num(
        1e-6, 1e6, doc="bits the channel carries per upload [Mbit]; None: the real parameter size"
    )


# --------------------------------------------------------------------------- chain


@dataclass(frozen=True)
class ChainConfig(_Validated):
    """Permissioned chain: CA, RSU committee (BFLC / proof of quality), latency model."""

    _section = "chain"
    committee_size: int = _num(
        4, 1, 1000, doc="committee members n per round (n = 3f + 1 tolerates f)"
    )
    election: str = _choice_of(
        "reputation", ElectionRule, doc="committee election rule, re-run every round"
    )
    acceptance: str = _choice_of(
        "quorum", AcceptanceRule, doc="2f+1 accept votes, or median score >= threshold"
    )
    score_margin: float = _num(0.1, 0.0, 1.0, doc="accept if score >= global accuracy - margin")
    faulty_fraction: float = _num(
        0.0, 0.0, 1.0, doc="fraction of RSUs that are faulty (poisoning vehicles are faulty too)"
    )
    faulty_behavior: str = _choice_of("random", FaultBehaviour, doc="what faulty members do")
    key_source: str = _choice_of(
        "secret",
        KeySource,
        doc="private keys from OS randomness, or derived from the env seed (simulation only: "
        "anyone who knows the seed can forge the ledger)",
    )
    consensus: str = _choice_of(
        "bft",
        ConsensusKind,
        doc="block agreement: PBFT-style rotating leader, or the same with BlockFL's PoW latency",
    )
    bft_max_faulty: int | None = _opt_num(
        0,
        1000,
        doc="faulty members f the committee's quorum tolerates (quorum n - f); None: the most "
        "n = 3f + 1 allows. Fewer gives a larger quorum; more than (n - 1) // 3 is refused",
    )
    view_change_timeout_s: float = _num(
        1.0,
        0.0,
        3600.0,
        doc="time a member waits for a certified proposal before a view change [s]",
    )
    backhaul_latency_s: float = _num(0.005, 0.0, 10.0, doc="RSU backhaul one-way latency [s]")
    backhaul_bandwidth_bps: float = _num(1e9, 1e3, 1e12, doc="RSU backhaul bandwidth [bit/s]")
    signature_verify_s: float = _num(
        60e-6, 0.0, 1.0, doc="modelled cost of one signature check [s]"
    )
    score_eval_s: float = _num(2e-3, 0.0, 10.0, doc="modelled cost of one update evaluation [s]")
    pow_mean_block_s: float = _num(
        5.0, 1e-3, 1e4, doc="pow_latency: mean block interval of the latency model [s]"
    )
    pow_fork_prob: float = _num(
        0.05, 0.0, 0.99, doc="pow_latency: probability that a fork costs another interval"
    )
    cert_validity_s: float = _num(86_400.0, 1.0, 1e9, doc="certificate validity [s of sim time]")
    contract_rules: bool = _flag(
        False,
        doc="smart contract authenticates participants by reputation before giving them the model",
    )
    contract_min_reputation: float = _num(
        0.3, 0.0, 1.0, doc="contract rule: reputation below this refuses a vehicle a task"
    )
    dag: bool = _flag(
        False,
        doc="vehicles share trained models in a local DAG over V2V and start training from a mix "
        "of the global model and confirmed neighbour models (IoV hybrid chain)",
    )
    dag_mix: float = _num(
        0.3, 0.0, 1.0, doc="DAG: weight of the mean confirmed neighbour model in a start model"
    )
    dag_alpha: float = _num(
        0.5, 0.0, 100.0, doc="DAG: tip-selection bias toward heavy transactions"
    )
    dag_confirm_weight: int = _num(3, 1, 1000, doc="DAG: cumulative weight that confirms a model")
    dag_quality_floor: float = _num(
        -0.2,
        -1.0,
        1.0,
        doc="DAG: approve a model whose accuracy on the approver's data is at least the global "
        "model's plus this",
    )
    dag_anchor_every: int = _num(5, 1, 1_000_000, doc="DAG: rounds between anchors on the chain")
    v2v_min_rate_bps: float = _num(
        2e6, 1.0, 1e12, doc="DAG: V2V rate floor that defines a vehicle's reach [bit/s]"
    )
    norm_screen: bool = _flag(
        True,
        doc="members also reject an update outside the norm bound (DP clip contract, or norm_factor x the accepted median)",
    )
    norm_factor: float = _num(
        2.5, 1.0, 1e6, doc="without DP: allowed multiple of the median norm of accepted updates"
    )
    label_screen: bool = _flag(
        False,
        doc="members also reject an update whose class-discriminative change on their validation "
        "data is mostly unlearning (label flipping; fl/screening.py)",
    )
    label_screen_limit: float = _num(
        0.4, 0.0, 1.0, doc="label screen: largest unlearning share a member accepts"
    )
    verify_quality: bool = _flag(
        True,
        doc="committee scores and votes on updates; False accepts every screened update (ablation)",
    )

    def _check(self) -> None:
        bound = (self.committee_size - 1) // 3
        if self.bft_max_faulty is not None and not float(self.bft_max_faulty).is_integer():
            raise ValueError(
                f"chain.bft_max_faulty={self.bft_max_faulty!r} must be an integer in [0, {bound}] "
                "or None"
            )
        if self.bft_max_faulty is not None and self.bft_max_faulty > bound:
            raise ValueError(
                f"chain.bft_max_faulty={self.bft_max_faulty} is out of range: a committee of "
                f"{self.committee_size} tolerates at most {bound} faulty members "
                "(n = 3f + 1); allowed [0, (committee_size - 1) // 3] or None"
            )


# --------------------------------------------------------------------------- federated learning


@dataclass(frozen=True)
class FLConfig(_Validated):
    """Data, partition, model, local training, aggregation, attacks and privacy."""

    _section = "fl"
    dataset: str = _choice(
        "digits", "mnist", "fashion_mnist", "cifar10", "synthetic", doc="learning task"
    )
    data_root: str | None = _text(None, doc="folder with MNIST / Fashion-MNIST / CIFAR-10 files")
    synthetic_alpha: float = _num(
        1.0, 0.0, 100.0, doc="FedProx synthetic(alpha, beta): model spread"
    )
    synthetic_beta: float = _num(1.0, 0.0, 100.0, doc="FedProx synthetic(alpha, beta): data spread")
    synthetic_samples: int = _num(6000, 100, 10_000_000, doc="synthetic samples in total")
    partition: str = _choice("dirichlet", "iid", "shards", "quantity", doc="non-IID partitioner")
    alpha: float = _num(0.5, 0.0, 1e6, lo_open=True, doc="Dirichlet concentration (label skew)")
    shards_per_vehicle: int = _num(2, 1, 100, doc="classes per vehicle (pathological shards)")
    quantity_sigma: float = _num(
        1.0, 0.0, 10.0, doc="log-normal sigma of data sizes (quantity skew)"
    )
    model: str = _choice("mlp", "logreg", "cnn", doc="model trained by every vehicle")
    hidden: int = _num(32, 1, 4096, doc="MLP hidden units")
    local_epochs: int = _num(2, 1, 100, doc="local epochs E")
    batch_size: int = _num(10, 1, 10_000, doc="local batch size B")
    lr: float = _num(0.1, 0.0, 10.0, lo_open=True, doc="local SGD learning rate")
    momentum: float = _num(0.0, 0.0, 0.999, doc="local SGD momentum")
    weight_decay: float = _num(0.0, 0.0, 1.0, doc="local SGD weight decay")
    aggregation: str = _choice_of("fedasync", AggregationKind, doc="aggregation rule at the MBS")
    async_alpha: float = _num(0.5, 0.0, 1.0, lo_open=True, doc="FedAsync mixing weight alpha")
    staleness_fn: str = _choice_of(
        "polynomial", StalenessFn, doc="FedAsync staleness function s(t)"
    )
    staleness_a: float = _num(0.5, 0.0, 100.0, doc="polynomial (t+1)^-a, hinge slope a")
    staleness_b: float = _num(4.0, 0.0, 1000.0, doc="hinge knee b")
    trim_fraction: float = _num(0.1, 0.0, 0.49, doc="trimmed mean: fraction cut at each end")
    krum_f: int = _num(1, 0, 1000, doc="Multi-Krum: assumed Byzantine updates")
    malicious_fraction: float = _num(0.0, 0.0, 1.0, doc="fraction of vehicles that poison updates")
    attack: str = _choice_of("sign_flip", AttackKind, doc="what malicious vehicles do")
    attack_scale: float = _num(5.0, 0.0, 1e6, doc="sign flip / scaled factor, Gaussian std")
    misreport_factor: float = _num(
        1.0, 1.0, 1e6, doc="malicious vehicles report data size x this and training loss / this"
    )
    dp: str = _choice("none", "gaussian", "laplace", doc="update privacy mechanism")
    dp_clip: float = _num(1.0, 0.0, 1e6, lo_open=True, doc="L2 clip of an update")
    noise_multiplier: float = _num(
        0.0, 0.0, 1e3, doc="Gaussian noise std / clip; Laplace scale / clip"
    )
    dp_delta: float = _num(
        1e-5, 0.0, 1.0, lo_open=True, doc="delta of the reported (epsilon, delta)"
    )
    device: str = _choice("cpu", "cuda", doc="torch device")
    eval_every: int = _num(1, 1, 10_000, doc="evaluate the global model every N aggregations")

    def _check(self) -> None:
        if self.dataset in ("mnist", "fashion_mnist", "cifar10") and not self.data_root:
            raise ValueError(
                f"fl.data_root must name a local folder for fl.dataset={self.dataset!r}; "
                "nothing is downloaded at run time"
            )


# --------------------------------------------------------------------------- reward and env


@dataclass(frozen=True)
class RewardConfig(_Validated):
    """Reward terms; see the env docstring for the formulas."""

    _section = "reward"
    kind: str = _choice(
        "gain_cost", "favor", doc="accuracy gain minus costs, or FAVOR's exponential"
    )
    w_accuracy: float = _num(10.0, 0.0, 1e6, doc="weight of accuracy gain (per unit accuracy)")
    w_latency: float = _num(0.02, 0.0, 1e6, doc="weight of latency [1/s]")
    w_energy: float = _num(0.002, 0.0, 1e6, doc="weight of energy [1/J]")
    w_time: float = _num(
        0.04, 0.0, 1e6, doc="weight of the simulated time the step took [1/s] (time to target)"
    )
    favor_xi: float = _num(
        64.0, 1.0, 1e6, lo_open=True, doc="FAVOR base Xi of Xi^(acc - target) - 1"
    )
    target_bonus: float = _num(1.0, 0.0, 1e6, doc="bonus when the target accuracy is reached")


@dataclass(frozen=True)
class EnvConfig(_Validated):
    """Decision process: slots, budget, episode length, action mode, FL timing."""

    _section = ""
    num_vehicles: int = _num(20, 1, 100_000, doc="node slots N (vehicles present never exceed it)")
    vehicles_per_round: int = _num(5, 1, 100_000, doc="selection budget K")
    fleet_size: int | None = _opt_num(
        1, 1_000_000, doc="identities with data; None: 2 x num_vehicles"
    )
    max_rounds: int = _num(60, 1, 1_000_000, doc="decision epochs before truncation")
    target_accuracy: float = _num(
        0.85, 0.0, 1.0, lo_open=True, doc="global test accuracy that ends the episode"
    )
    sim_time_budget_s: float = _num(3600.0, 1.0, 1e9, doc="simulated time before truncation [s]")
    epoch_s: float = _num(5.0, 0.01, 1e6, doc="length of one decision epoch (async) [s]")
    sync_deadline_s: float = _num(30.0, 0.01, 1e6, doc="deadline of a synchronous round [s]")
    fl_mode: str = _choice("async", "sync", doc="asynchronous (staleness-weighted) or synchronous")
    action_mode: str = _choice(
        "scores",
        "binary",
        "weights",
        doc="top-K by per-slot score, a binary selection, or top-K by a weighted sum of features",
    )
    observation_layout: str = _choice(
        "flat",
        "matrix",
        doc="observation as a 1-D vector ((N + 1) x F), or the (N + 1, F) slot matrix",
    )
    observation_features: str = _choice(
        "server",
        "oracle",
        doc="what a server can know (on-chain, measured, reported), or that plus true values",
    )
    torch_threads: int | None = _opt_num(
        1,
        1024,
        default=1,
        doc="torch threads for the env's own training and scoring (restored after each call); "
        "None: leave torch's setting",
    )

    def _check(self) -> None:
        if self.vehicles_per_round > self.num_vehicles:
            raise ValueError(
                f"vehicles_per_round={self.vehicles_per_round} is out of range: allowed [1, num_vehicles="
                f"{self.num_vehicles}]"
            )
        if self.fleet_size is not None and self.fleet_size < self.num_vehicles:
            raise ValueError(
                f"fleet_size={self.fleet_size} is out of range: allowed [num_vehicles={self.num_vehicles}, "
                "1000000] or None"
            )

    @property
    def resolved_fleet_size(self) -> int:
        return self.fleet_size if self.fleet_size is not None else 2 * self.num_vehicles


@dataclass(frozen=True)
class BCFLConfig:
    """The whole tree. ``env`` holds the top-level keys of the public contract."""

    env: EnvConfig = field(default_factory=EnvConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    fl: FLConfig = field(default_factory=FLConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    preset: str = "iov"

    def __post_init__(self) -> None:
        longest = max(self.env.epoch_s, self.env.sync_deadline_s)
        ticks = longest / self.network.mobility.tick_s
        if ticks > MAX_TICKS_PER_EPOCH:
            raise ValueError(
                f"max(epoch_s, sync_deadline_s) / network.mobility.tick_s = {ticks:.3g} ticks per epoch "
                f"is out of range: allowed at most {MAX_TICKS_PER_EPOCH} (lengthen tick_s or shorten "
                "the epoch)"
            )
        if self.chain.committee_size > self.network.infra.num_rsus:
            raise ValueError(
                f"chain.committee_size={self.chain.committee_size} is out of range: allowed "
                f"[1, network.infra.num_rsus={self.network.infra.num_rsus}]"
            )

    def with_overrides(self, **overrides: Any) -> BCFLConfig:
        return with_overrides(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BCFLConfig:
        """Rebuild a config written by :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError(f"config must be a dict, got {type(data).__name__}")
        return _build(cls, data, "")


_T = TypeVar("_T")


def _build(cls: type[_T], data: dict[str, Any], prefix: str) -> _T:
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ValueError(f"unknown config key {dotted!r}{_suggest(key, list(names))}")
        sub = _section_type(names[key], cls)
        kwargs[key] = (
            _build(sub, value, dotted + ".")
            if sub is not None and isinstance(value, dict)
            else value
        )
    return cls(**kwargs)


def _section_type(f: dataclasses.Field[Any], owner: type | None = None) -> type | None:
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


def flat_keys(cfg: Any = None, prefix: str = "") -> dict[str, tuple[str, ...]]:
    """Every leaf field as ``dotted.path -> path tuple`` (env fields appear without a prefix)."""
    cls = type(cfg) if cfg is not None else BCFLConfig
    out: dict[str, tuple[str, ...]] = {}
    for f in dataclasses.fields(cls):
        sub = _section_type(f, cls)
        if sub is not None:
            inner = flat_keys(sub(), "" if f.name == "env" else f"{prefix}{f.name}.")
            for dotted, path in inner.items():
                out[dotted] = (f.name, *path)
        elif f.name != "preset":
            out[f"{prefix}{f.name}"] = (f.name,)
    return out


def _suggest(key: str, candidates: list[str]) -> str:
    near = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    return f"; did you mean {near[0]!r}?" if near else ""


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
    for key, value in overrides.items():
        if key == "config":
            raise ValueError(
                "'config' cannot be mixed into with_overrides; pass it to the env directly"
            )
        for path, leaf_value in _resolve(key, value, leaves, by_name, sections):
            changes[path] = leaf_value
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
    raise ValueError(f"unknown config key {key!r}{_suggest(dotted, list(leaves) + list(by_name))}")


def _section_paths(
    cls: type | None = None, prefix: tuple[str, ...] = ()
) -> dict[str, tuple[str, ...]]:
    """Every section of the tree: dotted name -> path (``network.road`` -> ("network", "road"))."""
    out: dict[str, tuple[str, ...]] = {}
    owner = cls or BCFLConfig
    for f in dataclasses.fields(owner):
        sub = _section_type(f, owner)
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


# --------------------------------------------------------------------------- presets (data)


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


PRESETS = {"iov": iov, "iiot": iiot, "ioht": ioht}


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
