import numpy as np
import pytest
import torch

from bcfl_env.config import FLConfig
from bcfl_env.fl import (
    FLEngine,
    SGDConfig,
    batched_local_train,
    epsilon,
    fedasync,
    fedavg,
    load_dataset,
    make_batch_plan,
    make_model,
    median,
    multi_krum,
    partition,
    sequential_local_train,
    staleness_weight,
    trimmed_mean,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", np.random.default_rng(0))


@pytest.mark.parametrize("kind", ["logreg", "mlp", "cnn", "cnn-im2col"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_batched_training_equals_sequential_reference(digits, kind, momentum):
    rng = np.random.default_rng(1)
    impl = "im2col" if kind == "cnn-im2col" else "auto"
    spec = make_model(kind.split("-")[0], digits.input_shape, 10, conv_impl=impl)
    part = partition(digits.y_train, 12, rng, "quantity", quantity_sigma=1.0)
    chosen = [part.indices[i] for i in range(6)]
    assert len({c.size for c in chosen}) > 1  # unequal data sizes
    init = torch.stack([spec.init(torch.Generator().manual_seed(i)) for i in range(6)])
    plan = make_batch_plan(chosen, 2, 10, rng)
    x, y = torch.as_tensor(digits.x_train), torch.as_tensor(digits.y_train)
    sgd = SGDConfig(2, 10, 0.05, momentum, 1e-3)
    batched, loss_b = batched_local_train(spec, init, x, y, plan, sgd)
    reference, loss_r = sequential_local_train(spec, init, x, y, plan, sgd)
    torch.testing.assert_close(batched, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss_b, loss_r, atol=1e-5, rtol=1e-5)


def test_each_vehicle_takes_ceil_n_over_b_steps_per_epoch():
    sizes = [3, 10, 11, 25]
    plan = make_batch_plan([np.arange(s) for s in sizes], 2, 10, np.random.default_rng(0))
    active = plan.mask.any(dim=2).sum(dim=1).tolist()
    assert active == [2 * int(np.ceil(s / 10)) for s in sizes]
    for k, s in enumerate(sizes):  # every sample once per epoch
        assert plan.mask[k].sum().item() == 2 * s


def run_rounds(
    engine: FLEngine, rounds: int, fleet: int, per_round: int, picker_seed: int
) -> float:
    """Synchronous rounds with uniformly sampled vehicles; returns the final test accuracy."""
    picker = np.random.default_rng(picker_seed)
    for _ in range(rounds):
        ids = picker.choice(fleet, per_round, replace=False)
        result = engine.train(ids, engine.global_params.expand(per_round, -1))
        engine.aggregate(result.params, result.samples, np.zeros(per_round))
    return engine.accuracy


def test_fedavg_on_digits_reaches_90_percent_in_30_rounds():
    cfg = FLConfig(
        aggregation="fedavg", partition="dirichlet", alpha=0.5, local_epochs=5, hidden=64
    )
    engine = FLEngine(cfg, 50, np.random.default_rng(1), 1, np.random.default_rng(2))
    assert run_rounds(engine, 30, 50, 10, picker_seed=3) >= 0.90


def _run_attack(aggregation: str, malicious: float, rounds: int = 20) -> float:
    # Multi-Krum is told the number of attackers it should expect among 10 (30 %: 3)
    cfg = FLConfig(
        aggregation=aggregation,
        malicious_fraction=malicious,
        attack="sign_flip",
        attack_scale=3.0,
        local_epochs=2,
        krum_f=3,
    )
    engine = FLEngine(cfg, 30, np.random.default_rng(5), 5, np.random.default_rng(6))
    return run_rounds(engine, rounds, 30, 10, picker_seed=7)


def test_sign_flipping_hurts_fedavg_and_robust_rules_reduce_the_drop():
    clean = _run_attack("fedavg", 0.0)
    attacked = _run_attack("fedavg", 0.3)
    assert clean - attacked > 0.3
    for robust in ("median", "krum"):
        assert _run_attack(robust, 0.3) > attacked + 0.2


def test_dp_accuracy_falls_as_noise_rises():
    accs = []
    for sigma in (0.0, 0.05, 0.5):
        cfg = FLConfig(
            aggregation="fedavg", dp="gaussian", dp_clip=5.0, noise_multiplier=sigma, local_epochs=2
        )
        engine = FLEngine(cfg, 30, np.random.default_rng(1), 1, np.random.default_rng(2))
        accs.append(run_rounds(engine, 15, 30, 10, picker_seed=3))
    assert accs[0] > accs[1] > accs[2]


def test_epsilon_matches_the_accountant_library():
    from dp_accounting import dp_event
    from dp_accounting.rdp import RdpAccountant

    acc = RdpAccountant()
    acc.compose(dp_event.SelfComposedDpEvent(dp_event.GaussianDpEvent(1.1), 12))
    assert epsilon("gaussian", 1.1, 12, 1e-5) == pytest.approx(acc.get_epsilon(1e-5))
    assert epsilon("gaussian", 1.1, 24, 1e-5) > epsilon("gaussian", 1.1, 12, 1e-5)
    assert epsilon("gaussian", 0.0, 3, 1e-5) == float("inf")
    assert epsilon("laplace", 2.0, 5, 1e-5) > 0


def test_laplace_noise_is_finite_at_the_edge_and_has_the_laplace_spread():
    from bcfl_env.fl.privacy import laplace_from_uniform

    edge = laplace_from_uniform(torch.tensor([0.0, 0.5, 1.0 - 2.0**-24]), 2.0)
    assert torch.isfinite(edge).all() and edge[1] == 0.0
    assert edge[0] == pytest.approx(-2.0 * 24 * np.log(2), rel=1e-5)  # tail capped at 2^-24
    samples = laplace_from_uniform(
        torch.rand(200_000, generator=torch.Generator().manual_seed(0)), 2.0
    )
    assert samples.abs().mean().item() == pytest.approx(2.0, rel=0.02)  # E|X| = b
    assert samples.mean().item() == pytest.approx(0.0, abs=0.03)


def test_a_non_finite_update_scores_minus_infinity(digits):
    cfg = FLConfig(aggregation="fedavg")
    engine = FLEngine(cfg, 10, np.random.default_rng(1), 3, np.random.default_rng(2))
    params = engine.global_params.expand(3, -1).clone()
    params[1, 0], params[2, 5] = float("nan"), float("inf")
    scores, baseline = engine.score(params, [0, 1, 2], np.full(3, 0.3))
    assert np.isfinite(scores[:, 0]).all() and np.isfinite(baseline).all()
    assert (scores[:, 1:] == -np.inf).all()


def test_aggregation_rules():
    p = torch.tensor([[0.0, 0.0], [2.0, 2.0], [100.0, -100.0]])
    assert torch.allclose(fedavg(p[:2], torch.tensor([1.0, 3.0])), torch.tensor([1.5, 1.5]))
    assert torch.allclose(median(p), torch.tensor([2.0, 0.0]))
    assert torch.allclose(trimmed_mean(torch.cat([p, p[:1]]), 0.25), torch.tensor([1.0, 0.0]))
    agg, chosen = multi_krum(torch.cat([p[:2], p[:2] + 0.1, p[2:]]), f=1)
    assert 4 not in chosen.tolist()
    assert staleness_weight(torch.tensor([0.0, 3.0]), "polynomial", 0.5).tolist() == pytest.approx(
        [1.0, 0.5]
    )
    assert staleness_weight(torch.tensor([2.0, 6.0]), "hinge", 1.0, 4.0).tolist() == pytest.approx(
        [1.0, 1 / 3]
    )
    new, mix = fedasync(torch.zeros(2), torch.ones(1, 2), torch.tensor([0.0]), 0.5, "constant")
    assert torch.allclose(new, torch.full((2,), 0.5)) and mix.tolist() == [0.5]


@pytest.mark.parametrize("kind", ["iid", "dirichlet", "shards", "quantity"])
def test_partitions_cover_every_sample_once(digits, kind):
    part = partition(digits.y_train, 20, np.random.default_rng(0), kind, alpha=0.3)
    all_idx = np.concatenate(part.indices)
    assert np.array_equal(np.sort(all_idx), np.arange(len(digits.y_train)))
    assert np.all(part.sizes >= 1)
    assert part.histograms.shape == (20, 10) and np.all(part.entropy >= 0)


def test_dirichlet_small_alpha_is_more_skewed(digits):
    skewed = partition(digits.y_train, 20, np.random.default_rng(0), "dirichlet", alpha=0.05)
    mild = partition(digits.y_train, 20, np.random.default_rng(0), "dirichlet", alpha=100.0)
    assert skewed.entropy.mean() < mild.entropy.mean()


def test_bad_inputs_raise_clear_errors(digits, tmp_path):
    with pytest.raises(ValueError, match="imagenet"):
        load_dataset("imagenet", np.random.default_rng(0))
    with pytest.raises(ValueError, match="data_root"):
        load_dataset("mnist", np.random.default_rng(0))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        load_dataset("mnist", np.random.default_rng(0), str(tmp_path))
    with pytest.raises(ValueError, match="cifar-10-batches-py"):
        load_dataset("cifar10", np.random.default_rng(0), str(tmp_path))
    with pytest.raises(ValueError, match="alpha"):
        partition(digits.y_train, 5, np.random.default_rng(0), "dirichlet", alpha=0.0)
    with pytest.raises(ValueError, match="more vehicles than samples"):
        partition(digits.y_train[:10], 11, np.random.default_rng(0))
    with pytest.raises(ValueError, match="fl.model"):
        make_model("resnet", (1, 8, 8), 10)


def test_mnist_reader_on_generated_idx_files(tmp_path):
    import gzip

    def idx(arr: np.ndarray, path):
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
        with gzip.open(path, "wb") as fh:
            fh.write(header + arr.astype(np.uint8).tobytes())

    rng = np.random.default_rng(0)
    idx(rng.integers(0, 255, (50, 28, 28)), tmp_path / "train-images-idx3-ubyte.gz")
    idx(rng.integers(0, 10, 50), tmp_path / "train-labels-idx1-ubyte.gz")
    idx(rng.integers(0, 255, (20, 28, 28)), tmp_path / "t10k-images-idx3-ubyte.gz")
    idx(rng.integers(0, 10, 20), tmp_path / "t10k-labels-idx1-ubyte.gz")
    data = load_dataset("mnist", np.random.default_rng(0), str(tmp_path))
    assert data.x_train.shape == (45, 1, 28, 28) and data.x_test.shape == (20, 1, 28, 28)
    assert make_model("cnn", data.input_shape, 10).num_params > 0


def test_synthetic_generator_is_non_iid():
    data = load_dataset(
        "synthetic", np.random.default_rng(0), synthetic_devices=10, synthetic_samples=2000
    )
    assert data.x_train.shape[1] == 60 and data.owner is not None
    assert len(np.unique(data.owner)) == 10


def test_label_flip_attack_changes_what_is_learnt(digits):
    cfg = FLConfig(malicious_fraction=1.0, attack="label_flip")
    engine = FLEngine(cfg, 10, np.random.default_rng(1), 1, np.random.default_rng(2))
    clean = FLEngine(FLConfig(), 10, np.random.default_rng(1), 1, np.random.default_rng(2))
    a = engine.train(np.arange(3), engine.global_params.expand(3, -1)).params
    b = clean.train(np.arange(3), clean.global_params.expand(3, -1)).params
    assert not torch.allclose(a, b)


def _cifar_batches(folder, payload):
    import pickle

    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as fh:
            pickle.dump(payload(name), fh, protocol=2)


def test_cifar10_batches_load_and_a_trapped_batch_runs_nothing(tmp_path):
    import os

    from bcfl_env.fl import load_dataset

    rng = np.random.default_rng(0)
    n = 2000

    def good(name):  # as the distribution stores it: a uint8 array and a list of ints
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        return {b"data": data, b"labels": [int(v) for v in rng.integers(0, 10, n)]}

    _cifar_batches(tmp_path / "ok" / "cifar-10-batches-py", good)
    data = load_dataset("cifar10", np.random.default_rng(0), str(tmp_path / "ok"))
    assert data.x_train.shape[1:] == (3, 32, 32) and data.num_classes == 10

    marker = tmp_path / "pwned"

    class Trap:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    _cifar_batches(tmp_path / "bad", lambda name: {b"data": Trap(), b"labels": [0]})
    with pytest.raises(ValueError, match="cifar10.*not a CIFAR-10 batch"):
        load_dataset("cifar10", np.random.default_rng(0), str(tmp_path / "bad"))
    assert not marker.exists()


def test_digits_loads_are_independent_copies_of_one_parsed_file():
    """The parsed digits are cached per process; each load's split is its own writable copy."""
    first = load_dataset("digits", np.random.default_rng(0))
    kept = first.x_train.copy()
    first.x_train[:] = 0.0  # a caller scribbling on its arrays
    again = load_dataset("digits", np.random.default_rng(0))
    np.testing.assert_array_equal(again.x_train, kept)
    other = load_dataset("digits", np.random.default_rng(1))
    assert not np.array_equal(other.y_test, again.y_test)
    assert len(first.y_train) + len(first.y_val) + len(first.y_test) == 1797


@pytest.mark.parametrize("budget", [64 << 20, 1])  # one call for all, or one pass per call
def test_forward_passes_batched_across_worlds_equal_each_pass_alone(monkeypatch, budget):
    from bcfl_env.fl import evaluation
    from bcfl_env.fl.evaluation import forward_together

    monkeypatch.setattr(evaluation, "BATCH_INPUT_BYTES", budget)
    engines = [
        FLEngine(FLConfig(), 10, np.random.default_rng(s), s, np.random.default_rng(s + 9))
        for s in range(3)
    ]
    g = torch.Generator().manual_seed(0)
    passes = [  # different worlds' data, different numbers of models (a world's U + 1)
        evaluation.ForwardPass(
            e.spec,
            e.global_params + 0.1 * torch.randn(m, e.num_params, generator=g),
            e.x_val,
            e.y_val,
        )  # fmt: skip
        for e, m in zip(engines, (4, 1, 6), strict=True)
    ]
    passes.append(engines[0].test_pass())  # another sample count: a call of its own
    together = forward_together(passes)
    assert [h.shape[0] for h, _ in together] == [4, 1, 6, 1]
    for fp, (hit, loss) in zip(passes, together, strict=True):
        alone_hit, alone_loss = forward_together([fp])[0]
        assert torch.equal(hit, alone_hit) and torch.equal(loss, alone_loss)
    assert (engines[0].evaluated(*together[3])) == engines[0].evaluate_global()
