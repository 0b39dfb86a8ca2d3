"""Rendering: a map as an RGB array (a matplotlib Figure on its own Agg canvas, never pyplot) and a
per-vehicle text table."""

from __future__ import annotations

import numpy as np

from bcfl_env.world import World

__all__ = ["render_ansi", "render_rgb"]


def render_rgb(world: World, selected: list[int], size_px: int = 480) -> np.ndarray:
    # an explicit Figure on its own Agg canvas: the user's backend and pyplot state stay untouched
    import matplotlib.patches
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size_px / 96, size_px / 96), dpi=96)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.9))
    net = world.network
    xy = net.roads.xy
    for u, v in net.roads.graph.edges:
        ax.plot(xy[[u, v], 0], xy[[u, v], 1], color="0.75", lw=1.5, zorder=1)
    radius = world.cfg.network.infra.rsu_coverage_m
    faulty = world.chain.faulty
    for i, (x, y) in enumerate(net.infra.rsu_xy):
        bad = f"rsu{i}" in faulty
        ax.add_patch(
            matplotlib.patches.Circle(
                (x, y), radius, color="tab:red" if bad else "tab:blue", alpha=0.08, zorder=0
            )
        )
        ax.scatter([x], [y], marker="^", s=80, color="tab:red" if bad else "tab:blue", zorder=3)
    pos = net.positions()
    present = net.present
    flight = world.in_flight_slots()
    colours = np.where(flight, "tab:orange", np.where(net.serving >= 0, "tab:green", "0.4"))
    ids = np.maximum(net.slot_identity, 0)
    malicious = world.fl.malicious[ids] & present
    ax.scatter(pos[present, 0], pos[present, 1], s=28, c=colours[present], zorder=4)
    if malicious.any():
        ax.scatter(
            pos[malicious, 0],
            pos[malicious, 1],
            s=60,
            facecolors="none",
            edgecolors="tab:red",
            zorder=5,
        )
    sel = [s for s in selected if present[s]]
    if sel:
        ax.scatter(
            pos[sel, 0], pos[sel, 1], s=140, facecolors="none", edgecolors="k", lw=1.5, zorder=6
        )
    lo, hi = xy.min(axis=0) - radius * 0.3, xy.max(axis=0) + radius * 0.3
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.suptitle(
        f"round {world.round}  t={world.time_s:.0f}s  acc={world.fl.accuracy:.3f}  block {world.chain.ledger.height}",
        fontsize=10,
    )
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return rgba[..., :3].copy()


def render_ansi(world: World, selected: list[int]) -> str:
    net = world.network
    flight = world.in_flight_slots()
    rates = net.rates_bps() / 1e6
    lines = [
        f"round {world.round}  sim_time {world.time_s:.1f}s  accuracy {world.fl.accuracy:.4f}  "
        f"block {world.chain.ledger.height}  head {world.chain.ledger.head_hash[:12]}",
        f"{'slot':>4} {'vehicle':>8} {'rsu':>4} {'dist_m':>7} {'rate_Mbps':>9} {'cpu_GHz':>7} {'samples':>7} "
        f"{'energy':>6} {'rep':>5} state",
    ]
    for s in range(world.num_slots):
        identity = int(net.slot_identity[s])
        if not net.present[s] or identity < 0:
            lines.append(f"{s:>4} {'-':>8}")
            continue
        state = "in-flight" if flight[s] else ("selected" if s in selected else "idle")
        if world.fl.malicious[identity]:
            state += ",malicious"
        rep = world.chain.reputation.score(world.vehicle_ids[identity])
        lines.append(
            f"{s:>4} {world.vehicle_ids[identity]:>8} {int(net.serving[s]):>4} "
            f"{(net.distance_m[s] if np.isfinite(net.distance_m[s]) else -1):>7.0f} {rates[s]:>9.2f} "
            f"{net.cpu_hz[identity] / 1e9:>7.2f} {int(world.fl.sizes[identity]):>7} "
            f"{net.slot_energy_fraction()[s]:>6.2f} {rep:>5.2f} {state}"
        )
    return "\n".join(lines)
