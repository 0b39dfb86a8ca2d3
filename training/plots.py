"""Plots read from a run directory."""

from __future__ import annotations

from pathlib import Path

__all__ = ["learning_curve", "track_curves"]


def track_curves(curves: dict[str, list[list[list[float]]]], path: Path) -> Path:
    """PNG of the tracks' learning curves: per run label, the median simulated time of the
    training episodes per bin of steps, one thin line per training seed."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it is

    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for k, (label, runs) in enumerate(sorted(curves.items())):
        for n, points in enumerate(runs):
            ax.plot(
                [p[0] for p in points], [p[1] for p in points], color=f"C{k % 10}",
                linewidth=1, label=label if n == 0 else None,
            )  # fmt: skip
    ax.set_xlabel("training steps")
    ax.set_ylabel("training episode's simulated time [s]")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path


def learning_curve(
    run_dir: Path,
    path: Path,
    tags: tuple[str, ...] = ("rollout/ep_rew_mean", "rollout/ep_len_mean"),
) -> Path:
    """PNG of the run's TensorBoard scalars (episode return; episode length = rounds to target) per timestep."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend stays as it is
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = sorted((run_dir / "tb").glob("*"))
    if not logs:
        raise ValueError(f"{run_dir} has no TensorBoard logs (tb/)")
    fig = Figure(figsize=(4 * len(tags), 3))
    axes = fig.subplots(1, len(tags))
    for ax, tag in zip(axes if len(tags) > 1 else [axes], tags, strict=True):
        for log in logs:
            events = EventAccumulator(str(log))
            events.Reload()
            if tag in events.Tags()["scalars"]:
                points = events.Scalars(tag)
                ax.plot([p.step for p in points], [p.value for p in points])
        ax.set_title(tag)
        ax.set_xlabel("timesteps")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path
