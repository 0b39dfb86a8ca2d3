"""Plots read from a run directory."""

from __future__ import annotations

from pathlib import Path

__all__ = ["learning_curve"]


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
