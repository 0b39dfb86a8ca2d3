import numpy as np
import pytest

from bcfl_env.config import ChannelConfig, ComputeConfig, RoadConfig, make_config
from bcfl_env.network import (
    Channel,
    RoadNetwork,
    UploadTracker,
    VehicularNetwork,
    compute_energy_j,
    compute_time_s,
    path_loss_db,
    shannon_rate_bps,
    transmit_energy_j,
)
from bcfl_env.seeding import SeedTree


def make_network(seed: int, preset: str = "iov", **overrides) -> VehicularNetwork:
    cfg = make_config(preset, **overrides)
    tree = SeedTree(seed)
    rngs = {k: tree.generator(k) for k in ("mobility", "channel", "compute", "fleet")}
    net = VehicularNetwork(cfg.network, cfg.env.num_vehicles, cfg.env.resolved_fleet_size, rngs)
    net.reset()
    return net


def test_rate_falls_with_distance_without_fading():
    cfg = ChannelConfig(fading=False, shadowing_std_db=0.0)
    d = np.array([20.0, 50.0, 100.0, 200.0, 400.0])
    rates = shannon_rate_bps(d, 1e6, cfg)
    assert np.all(np.diff(rates) < 0)
    channel = Channel(cfg, 5, np.random.default_rng(0))
    serving = np.zeros(5, dtype=np.int64)
    assert np.all(np.diff(channel.rates_bps(d, serving, np.ones(5))) < 0)


def test_path_loss_matches_3gpp_formula():
    assert path_loss_db(1000.0) == pytest.approx(128.1)
    assert path_loss_db(100.0) == pytest.approx(128.1 - 37.6)


def test_bandwidth_is_shared_among_uploads():
    cfg = ChannelConfig(fading=False, shadowing_std_db=0.0)
    channel = Channel(cfg, 2, np.random.default_rng(0))
    d = np.array([100.0, 100.0])
    alone = channel.rates_bps(d, np.zeros(2, dtype=np.int64), np.ones(2))
    shared = channel.rates_bps(d, np.zeros(2, dtype=np.int64), np.full(2, 2))
    assert np.all(shared < alone)


def test_compute_and_energy_formulas_match_hand_values():
    cfg = ComputeConfig(cycles_per_sample=2e7, kappa=1e-28)
    t = compute_time_s(30, 2, 2e7, 1.5e9)
    assert t == pytest.approx(30 * 2 * 2e7 / 1.5e9)
    e = compute_energy_j(30, 2, cfg, 1.5e9)
    assert e == pytest.approx(1e-28 * (30 * 2 * 2e7) * (1.5e9) ** 2)
    assert transmit_energy_j(23.0, 2.0) == pytest.approx(10 ** (-0.7) * 2.0)


def test_upload_in_coverage_succeeds_and_out_of_coverage_fails():
    tracker = UploadTracker(2)
    serving = np.array([0, 1])
    assert tracker.start(np.array([0, 1]), 1e6, serving, 0.0).size == 0
    rates = np.array([2e6, 2e6])
    # slot 1 leaves its RSU (now unserved) during the tick; slot 0 stays
    step = tracker.tick(rates, np.array([0, -1]), np.array([True, True]), 0.0, 1.0)
    assert step.completed.tolist() == [0]
    assert step.completed_at_s[0] == pytest.approx(0.5)
    assert step.failed.tolist() == [1] and step.failed_reason == ["handover"]


def test_upload_cannot_start_without_rsu():
    tracker = UploadTracker(1)
    assert tracker.start(np.array([0]), 1e6, np.array([-1]), 0.0).tolist() == [0]
    assert not tracker.active.any()


def test_departure_fails_the_upload():
    tracker = UploadTracker(1)
    tracker.start(np.array([0]), 1e9, np.array([0]), 0.0)
    step = tracker.tick(np.array([1e6]), np.array([0]), np.array([False]), 0.0, 1.0)
    assert step.failed_reason == ["departure"]


def test_same_seed_same_trajectories_different_seed_differs():
    a, b, c = make_network(7), make_network(7), make_network(8)
    for _ in range(30):
        a.advance(1.0), b.advance(1.0), c.advance(1.0)
    assert np.array_equal(a.positions(), b.positions())
    assert np.array_equal(a.rates_bps(), b.rates_bps())
    assert not np.array_equal(a.positions(), c.positions())


def test_population_stays_within_slots_under_arrivals_and_departures():
    net = make_network(
        3,
        num_vehicles=10,
        vehicles_per_round=2,
        network__mobility__arrival_rate_per_s=5.0,
        network__mobility__departure_prob=0.9,
    )
    departed = arrived = 0
    for _ in range(300):
        ev = net.advance(1.0)
        departed += ev.departed.size
        arrived += ev.arrived.size
        assert net.present.sum() <= 10
        ids = net.slot_identity[net.present]
        assert np.all(ids >= 0) and len(set(ids.tolist())) == ids.size
        assert np.all(net.slot_identity[~net.present] == -1)
    assert departed > 20 and arrived > 20


def test_vehicles_stay_on_road_edges():
    net = make_network(5)
    for _ in range(20):
        net.advance(1.0)
    roads = net.roads
    pos = net.positions()[net.present]
    a = roads.xy[net.mobility.src[net.present]]
    b = roads.xy[net.mobility.dst[net.present]]
    cross = np.abs((b - a)[:, 0] * (pos - a)[:, 1] - (b - a)[:, 1] * (pos - a)[:, 0])
    assert np.all(cross < 1e-6 * np.maximum(np.linalg.norm(b - a, axis=1) ** 2, 1))


def test_speeds_are_truncated_gaussian():
    net = make_network(9, num_vehicles=200, vehicles_per_round=5)
    kmh = net.mobility.speed_mps[net.present] * 3.6
    assert kmh.min() >= 55 - 5 - 1e-9 and kmh.max() <= 55 + 5 + 1e-9
    assert abs(kmh.mean() - 55) < 1.0


@pytest.mark.parametrize("preset", ["iov", "iiot", "ioht"])
def test_association_is_the_k_d_trees_nearest_rsu_ties_included(preset):
    net = make_network(4, preset)
    infra, roads = net.infra, net.mobility.roads
    rng = np.random.default_rng(0)
    lo, hi = roads.xy.min(axis=0) - 400, roads.xy.max(axis=0) + 400
    # random points, and every junction: on a symmetric grid some are equidistant from two RSUs
    points = np.concatenate([rng.uniform(lo, hi, size=(5000, 2)), roads.xy])
    present = rng.random(len(points)) < 0.9
    dist, idx = infra._tree.query(points, k=1)
    covered = present & (dist <= infra.cfg.rsu_coverage_m)
    serving, distance = infra.associate(points, present)
    np.testing.assert_array_equal(serving, np.where(covered, idx, -1))
    np.testing.assert_array_equal(distance, np.where(covered, dist, np.inf))


@pytest.mark.parametrize("cut", [0.5, 2.0, 3.0, 10.0])
@pytest.mark.parametrize("size", [1, 3, 8, 17, 64])
def test_truncated_normal_draws_what_scipy_draws(cut, size):
    # the fast path replays scipy's inverse-CDF arithmetic; a scipy that changes it fails here
    from scipy.stats import truncnorm

    from bcfl_env.network import truncated_normal

    for seed in range(40):
        ours = truncated_normal(np.random.default_rng(seed), 55.0, 2.5, cut, size)
        scipys = truncnorm.rvs(
            -cut, cut, loc=55.0, scale=2.5, size=size, random_state=np.random.default_rng(seed)
        )
        assert np.array_equal(ours, scipys), (seed, np.abs(ours - scipys).max())


@pytest.mark.parametrize("kind", ["grid", "ring", "highway"])
def test_road_layouts_are_connected_with_lengths(kind):
    roads = RoadNetwork.from_config(RoadConfig(kind=kind))
    finite = roads.length_m[np.isfinite(roads.length_m)]
    assert finite.size > 0 and np.all(finite > 0)
    assert roads.boundary.size > 0


def test_graphml_roads_load(tmp_path):
    import networkx as nx

    g = nx.path_graph(4)
    for i in g.nodes:
        g.nodes[i]["x"], g.nodes[i]["y"] = float(i * 100), 0.0
    path = tmp_path / "roads.graphml"
    nx.write_graphml(g, path)
    roads = RoadNetwork.from_config(RoadConfig(kind="graphml", graphml_path=str(path)))
    assert roads.num_nodes == 4
    assert roads.length_m[0, 1] == pytest.approx(100.0)
    # a file is read again on every reset: an edited map is picked up, not a cached one
    g.add_edge(3, 4)
    g.nodes[4]["x"], g.nodes[4]["y"] = 400.0, 0.0
    nx.write_graphml(g, path)
    roads = RoadNetwork.from_config(RoadConfig(kind="graphml", graphml_path=str(path)))
    assert roads.num_nodes == 5


def test_a_generated_road_network_is_shared_between_resets_and_cannot_be_changed():
    import networkx as nx

    first = RoadNetwork.from_config(RoadConfig(kind="grid", rows=3))
    assert RoadNetwork.from_config(RoadConfig(kind="grid", rows=3)) is first
    assert RoadNetwork.from_config(RoadConfig(kind="grid", rows=4)).num_nodes != first.num_nodes
    for array in (first.xy, first.length_m, first.next_hop, first.boundary):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    with pytest.raises(nx.NetworkXError, match="Frozen"):
        first.graph.add_edge(0, 99)


def test_handovers_happen_and_are_reported():
    net = make_network(11)
    total = sum(net.advance(1.0).handovers.size for _ in range(120))
    assert total > 0
