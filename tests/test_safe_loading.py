"""Files users share are data: a booby-trapped checkpoint, model or hyperparameter never runs its
code (each trap writes a marker file if it ever executes)."""

import base64
import json
import os
import zipfile

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest

from agents.safe_load import parse_policy_kwargs


class Trap:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from training.train import train

    return train(
        "ppo", "bcfl/IoV-v1", 128, 0, 1, {"max_rounds": 6}, tmp_path_factory.mktemp("runs"),
        checkpoint_every=10_000, hyperparams={"n_steps": 64, "batch_size": 32},
    )  # fmt: skip


def _rewrite_data(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            blob = zin.read(item.filename)
            if item.filename == "data":
                data = json.loads(blob)
                edit(data)
                blob = json.dumps(data).encode()
            zout.writestr(item, blob)


def _trap_entry(marker):
    return {
        ":type:": "<class 'x'>",
        ":serialized:": base64.b64encode(cloudpickle.dumps(Trap(marker))).decode(),
    }


def test_a_trapped_model_zip_runs_nothing_on_the_safe_path(run, tmp_path):
    from training.train import load_model

    marker = tmp_path / "pwned"
    trapped = run / "trapped.zip"  # beside the run's manifest.json
    _rewrite_data(run / "model.zip", trapped, lambda d: d.update(policy_class=_trap_entry(marker)))
    env = gym.make("bcfl/IoV-v1", max_rounds=3)
    selector = load_model(trapped, env)  # the pickled policy_class is never unpickled
    obs, _ = env.reset(seed=0)
    assert selector.predict(obs)[0].shape == (20,)
    assert not marker.exists()
    # an entry the loader cannot supply is refused, not unpickled
    unknown = run / "unknown.zip"
    _rewrite_data(run / "model.zip", unknown, lambda d: d.update(evil=_trap_entry(marker)))
    with pytest.raises(ValueError, match=r"pickles \['evil'\].*--unsafe-load"):
        load_model(unknown, env)
    assert not marker.exists()
    # the trap is real: the explicit unsafe path does run it
    load_model(unknown, env, unsafe=True)
    assert marker.exists()


def test_a_trapped_checkpoint_state_is_refused_without_running(run, tmp_path):
    from training.train import train

    marker = tmp_path / "pwned"
    state = run / "model.state.npz"
    arrays = dict(np.load(state))
    arrays["last_obs"] = np.array([Trap(marker)], dtype=object)
    with open(state, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ValueError, match="cannot resume"):
        train("ppo", "bcfl/IoV-v1", 256, 0, 1, {}, run.parent, resume=run)
    assert not marker.exists()
    assert not list(run.glob("*.pkl"))  # nothing of a run is pickled any more


def test_hyperparameters_are_parsed_as_literals_never_evaluated(tmp_path):
    from training.train import train

    marker = tmp_path / "pwned"
    assert parse_policy_kwargs("dict(embed_dim=64, distribution='plackett-luce')") == {
        "embed_dim": 64, "distribution": "plackett-luce",
    }  # fmt: skip
    for hostile in (f"__import__('os').system('touch {marker}')", "dict(a=open('/etc/passwd'))"):
        with pytest.raises(ValueError, match="policy_kwargs"):
            parse_policy_kwargs(hostile)
        with pytest.raises(ValueError, match="policy_kwargs"):
            train(
                "ppo", "bcfl/IoV-v1", 64, 0, 1, {}, tmp_path, hyperparams={"policy_kwargs": hostile}
            )
    assert not marker.exists()
