"""The whole-round benchmark compares like with like: the engine and the plain per-client loop
end a round with the same parameters, and Flower's side reads and writes the engine's layout."""

from __future__ import annotations

import numpy as np
import torch

import training.round_compare as bench_round


def test_engine_and_loop_rounds_end_with_the_same_model_and_accuracy():
    torch.set_num_threads(1)
    row = bench_round.measure_engine_and_loop(k=7, rounds=3)
    assert row["max_param_gap"] < 1e-5
    assert len(row["engine_s"]) == len(row["loop_s"]) == 3


def test_flower_side_round_trips_the_engine_layout():
    eng = bench_round._flower_engine()
    params = eng.global_params + torch.linspace(-1, 1, eng.global_params.numel())
    back = bench_round._flat(bench_round._record(eng, params))
    assert torch.equal(back, params)
    assert np.isfinite(back.numpy()).all()
