"""The config tree: one frozen, validated dataclass per section, and :class:`BCFLConfig`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bcfl_env.aggregation_rule import AggregationKind, StalenessFn
from bcfl_env.config.tree import build
from bcfl_env.config.validation import (
    MAX_TICKS_PER_EPOCH,
    AcceptanceRule,
    AttackKind,
    ConsensusKind,
    ElectionRule,
    FaultBehaviour,
    KeySource,
    _choice,
    _choice_of,
    _flag,
    _num,
    _opt_num,
    _text,
    _Validated,
)

__all__ = [
    "AvailabilityConfig",
    "BCFLConfig",
    "ChainConfig",
    "ChannelConfig",
    "ComputeConfig",
    "EnvConfig",
    "FLConfig",
    "InfraConfig",
    "MobilityConfig",
    "NetworkConfig",
    "RewardConfig",
    "RoadConfig",
]


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
    model: str = _choice(
        "v2i",
        "fixed",
        doc="v2i: the rate follows distance, shadowing and fading; fixed: each node keeps its own "
        "rate, log-normal across nodes (a deployment's links, fitted by bcfl calibrate)",
    )
    fixed_rate_bps: float = _num(2e6, 1.0, 1e12, doc="fixed: median link rate [bit/s]")
    fixed_rate_sigma: float = _num(
        0.0, 0.0, 10.0, doc="fixed: log-normal sigma of the link rates across nodes"
    )


@dataclass(frozen=True)
class ComputeConfig(_Validated):
    """Per-vehicle compute and energy (Yang et al., IEEE TWC 2021 energy model)."""

    _section = "network.compute"
    cpu_mean_ghz: float = _num(1.5, 0.01, 100.0, doc="mean CPU frequency [GHz]")
    cpu_std_ghz: float = _num(0.1, 0.0, 10.0, doc="CPU frequency std [GHz]")
    cpu_cut_std: float = _num(2.0, 0.0, 10.0, doc="truncation at mean +- cut x std")
    cpu_distribution: str = _choice(
        "normal",
        "lognormal",
        doc="normal: truncated Gaussian (mean, std, cut); lognormal: median cpu_mean_ghz and "
        "log sigma cpu_log_sigma (a deployment's spread, fitted by bcfl calibrate)",
    )
    cpu_log_sigma: float = _num(0.5, 0.0, 10.0, doc="lognormal: sigma of ln(CPU frequency)")
    cycles_per_sample: float = _num(2e7, 1.0, 1e12, doc="CPU cycles per sample and epoch")
    kappa: float = _num(1e-28, 0.0, 1e-20, doc="effective switched capacitance")
    energy_budget_j: float = _num(
        200.0, 0.0, 1e9, lo_open=True, doc="energy per vehicle per episode [J]"
    )
    energy_budget_spread: float = _num(
        0.2, 0.0, 0.99, doc="budgets uniform in (1 +- spread) x budget"
    )


@dataclass(frozen=True)
class AvailabilityConfig(_Validated):
    """Whether each node is online (checked in: idle, charging, on an unmetered network), as
    measured for 136k smartphones (FLASH trace, Yang et al., WWW 2021); the defaults are the
    fit in ``docs/scenarios.md`` ("Availability"). ``model="always"`` draws nothing."""

    _section = "network.availability"
    model: str = _choice(
        "always",
        "trace",
        doc="always: every node is online; trace: per node, online sessions and offline gaps "
        "alternate (log-normal lengths) with a daily rhythm, each node online for its own share "
        "of the day",
    )
    share_beta_a: float = _num(
        0.236, 0.01, 100.0, doc="trace: Beta(a, b) of each node's share of time online: a"
    )
    share_beta_b: float = _num(2.385, 0.01, 100.0, doc="trace: Beta(a, b): b")
    session_median_s: float = _num(
        283.0, 1.0, 1e7, doc="trace: median length of an online session [s]"
    )
    session_mean_s: float = _num(
        2206.0, 1.0, 1e8, doc="trace: mean length of an online session [s]"
    )
    gap_median_s: float = _num(1335.0, 1.0, 1e7, doc="trace: median offline gap, typical node [s]")
    gap_mean_s: float = _num(15196.0, 1.0, 1e8, doc="trace: mean offline gap, typical node [s]")
    daily_amplitude: float = _num(
        0.5,
        0.0,
        0.95,
        doc="trace: relative swing of the rate of coming online over a day (0.5 makes the share "
        "online swing by the trace's 0.22)",
    )
    peak_hour: float = _num(
        11.0,
        0.0,
        24.0,
        doc="trace: hour at which nodes come online fastest (11 puts the share's peak near the "
        "trace's 13 h)",
    )
    day_length_s: float = _num(86400.0, 1.0, 1e9, doc="trace: length of a day [s]")
    time_scale: float = _num(
        1.0,
        1.0,
        10_000.0,
        doc="trace: the trace's clock runs this many times faster (sessions, gaps and the day "
        "divided by it), so a short episode spans the part of a day a real FL job spans",
    )
    start_hour: float | None = _opt_num(
        0.0, 24.0, doc="trace: hour of the day an episode starts; None: drawn uniformly per episode"
    )

    def _check(self) -> None:
        for what in ("session", "gap"):
            median = getattr(self, f"{what}_median_s")
            mean = getattr(self, f"{what}_mean_s")
            if mean < median:
                raise ValueError(
                    f"network.availability.{what}_mean_s={mean} is out of range: a log-normal "
                    f"length's mean is at least its median ({what}_median_s={median})"
                )


@dataclass(frozen=True)
class NetworkConfig(_Validated):
    _section = "network"
    road: RoadConfig = field(default_factory=RoadConfig)
    mobility: MobilityConfig = field(default_factory=MobilityConfig)
    infra: InfraConfig = field(default_factory=InfraConfig)
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    availability: AvailabilityConfig = field(default_factory=AvailabilityConfig)
    upload_payload_mbit: float | None = _opt_num(
        1e-6, 1e6, doc="bits the channel carries per upload [Mbit]; None: the real parameter size"
    )
    failure_prob: float = _num(
        0.0,
        0.0,
        0.99,
        doc="chance that a selected node fails once its computation ends (a crash: no update, "
        "reason 'failure'); independent per selection",
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
    hidden_features: str | None = _text(
        None,
        doc="comma-separated server features this deployment does not know (e.g. "
        "'rsu_distance,energy_left,dwell_time'): observed at their neutral value, as a "
        "deployment's server sees them (agents.server_observation.NEUTRAL)",
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

    @property
    def epoch_length_s(self) -> float:
        """The longest a decision epoch runs [s]: ``epoch_s`` (async, a fixed epoch) or
        ``sync_deadline_s`` (sync: the round ends earlier once every selected vehicle is done)."""
        return self.sync_deadline_s if self.fl_mode == "sync" else self.epoch_s


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
        shortest = self.shortest_cert_validity_s
        if self.chain.cert_validity_s < shortest:
            raise ValueError(
                f"chain.cert_validity_s={self.chain.cert_validity_s} is out of range: the CA renews "
                "certificates at round ends, a quarter of their validity ahead, so one must "
                "outlive four rounds (the epoch plus the committee's slowest agreement); allowed "
                f"at least {shortest:.6g} with this epoch and committee"
            )
        if self.chain.committee_size > self.network.infra.num_rsus:
            raise ValueError(
                f"chain.committee_size={self.chain.committee_size} is out of range: allowed "
                f"[1, network.infra.num_rsus={self.network.infra.num_rsus}]"
            )

    @property
    def shortest_cert_validity_s(self) -> float:
        """The shortest certificate validity an honest run survives [s]: four times the longest
        gap between two round ends (an epoch, every committee member's view-change timeout, and
        ten mean proof-of-work intervals under ``pow_latency``)."""
        chain = self.chain
        gap = self.env.epoch_length_s + chain.committee_size * chain.view_change_timeout_s
        if chain.consensus == "pow_latency":
            gap += 10 * chain.pow_mean_block_s
        return 4 * gap

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BCFLConfig:
        """Rebuild a config written by :meth:`to_dict`; unknown keys raise ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError(f"config must be a dict, got {type(data).__name__}")
        return build(cls, data, "")
