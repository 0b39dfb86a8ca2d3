"""The SUMO backend; runs where the sumo extra is installed (CI installs it)."""

import numpy as np
import pytest

pytest.importorskip("libsumo")

from bcfl_env.config import make_config  # noqa: E402
from bcfl_env.network import VehicularNetwork  # noqa: E402
from bcfl_env.seeding import SeedTree  # noqa: E402

pytestmark = pytest.mark.sumo


def _distance_to_roads(points: np.ndarray, net: VehicularNetwork) -> np.ndarray:
    xy = net.roads.xy
    best = np.full(len(points), np.inf)
    for u, v in net.roads.graph.edges:
        a, b = xy[u], xy[v]
        ab = b - a
        t = np.clip(((points - a) @ ab) / max(ab @ ab, 1e-9), 0, 1)
        best = np.minimum(best, np.linalg.norm(points - (a + t[:, None] * ab), axis=1))
    return best


def test_sumo_backend_moves_vehicles_on_its_network():
    cfg = make_config(
        "iov", network__mobility__backend="sumo", network__mobility__arrival_rate_per_s=0.5
    )
    tree = SeedTree(0)
    rngs = {k: tree.generator(k) for k in ("mobility", "channel", "compute", "fleet")}
    net = VehicularNetwork(cfg.network, 20, 40, rngs)
    net.reset()
    assert net.present.sum() > 10
    start = net.positions()[net.present].copy()
    departed = arrived = 0
    for _ in range(60):
        ev = net.advance(1.0)
        departed += ev.departed.size
        arrived += ev.arrived.size
        assert net.present.sum() <= 20
    pos = net.positions()[net.present]
    # every vehicle sits on a road of the SUMO network (lanes are offset a few metres from the axis)
    assert _distance_to_roads(pos, net).max() < 10.0
    assert not np.allclose(start[: len(pos)], pos[: len(start)])
    speeds_kmh = net.mobility.speed_mps[net.present] * 3.6
    assert speeds_kmh.max() <= 55 + 2 * 2.5 + 1e-6
    assert arrived > 0
    assert (net.serving[net.present] >= 0).any() and net.rates_bps()[net.present].max() > 0
    net.mobility.close()  # type: ignore[attr-defined]


def test_sumo_env_step_runs():
    import gymnasium as gym

    import bcfl_env  # noqa: F401

    env = gym.make("bcfl/IoV-v1", network__mobility__backend="sumo", max_rounds=3)
    env.reset(seed=0)
    for _ in range(3):
        _, _, term, trunc, info = env.step(env.action_space.sample())
    assert info["round"] == 3 and trunc
    env.unwrapped.ledger.verify()
