"""Library code never switches the user's matplotlib backend nor leaves figures in pyplot's
state (in Jupyter, a switch to Agg makes every later figure disappear)."""

import subprocess
import sys
import textwrap


def test_render_and_plots_keep_the_users_backend(tmp_path):
    script = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        import matplotlib
        matplotlib.use("svg")
        import matplotlib.pyplot as plt
        import gymnasium as gym
        import bcfl_env
        from training.leaderboard import _plot, _plot_profiles

        env = gym.make("bcfl/IoV-v1", render_mode="rgb_array", max_rounds=2)
        env.reset(seed=0)
        env.step(env.action_space.sample())
        frame = env.render()
        assert frame.ndim == 3 and frame.shape[2] == 3
        rows = [dict(policy="p", curve=[(0.0, 0.1), (5.0, 0.5)], normalised_time=0.5)]
        _plot(rows, Path({str(tmp_path)!r}) / "a.png")
        _plot_profiles(rows, Path({str(tmp_path)!r}) / "b.png")
        print(json.dumps([matplotlib.get_backend(), plt.get_fignums()]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    backend, figures = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert backend == "svg" and figures == []
    assert (tmp_path / "a.png").stat().st_size > 1000 and (tmp_path / "b.png").stat().st_size > 1000


def test_executed_quickstart_notebook_shows_its_figures(tmp_path, monkeypatch):
    """With Jupyter's inline backend, the quickstart's frame and plot reach the cell outputs."""
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("SMOKE", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    path = Path(__file__).parents[1] / "notebooks" / "01_quickstart.ipynb"
    book = nbformat.read(path, as_version=4)
    NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    images = [
        o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]  # fmt: skip
    assert len(images) >= 2
