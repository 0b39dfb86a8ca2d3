"""A deployment's clients report data the server must not trust: sample counts, losses and
parameters that are not finite or not plausible never weigh anything, the global model stays
finite, and the deep audit agrees with it (and fails a ledger whose model is not finite)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.deployment_ledger import ClientUpdate, DeploymentLedger
from bcfl_env.chain.audit import audit
from bcfl_env.provenance import recompute_model

P = 16
CLIENTS = ["c0", "c1", "c2"]


def _ledger(tmp_path, validate=None) -> DeploymentLedger:
    ledger = DeploymentLedger(tmp_path / "deploy.sqlite", verifiers=4, validate=validate, seed=0)
    ledger.start(CLIENTS, np.zeros(P, dtype=np.float32))
    return ledger


def _update(client, samples, loss=0.5, scale=1.0) -> ClientUpdate:
    return ClientUpdate(client, np.full(P, scale, dtype=np.float32), samples, {"train-loss": loss})


@pytest.mark.parametrize(
    ("samples", "loss", "reason"),
    [
        (10**39, 0.5, "samples"),  # overflowed the float32 weights to inf before
        (0, 0.5, "samples"),
        (-3, 0.5, "samples"),
        (10, float("nan"), "train-loss"),  # raised ValueError from canonical_bytes before
        (10, float("inf"), "train-loss"),
    ],
)
def test_an_implausible_report_is_rejected_and_the_honest_update_aggregated(
    tmp_path, samples, loss, reason
):
    ledger = _ledger(tmp_path)
    ledger.assign(1, CLIENTS[:2], 1.0)
    verdict = ledger.verify_round(1, [_update("c0", 10), _update("c1", samples, loss, 5.0)], 2.0)
    assert verdict.accepted == ["c0"]
    assert [(c, why.split(":")[0]) for c, why in verdict.rejected] == [("c1", "bad_report")]
    assert reason in dict(verdict.rejected)["c1"]
    assert verdict.global_params is not None and np.isfinite(verdict.global_params).all()
    ledger.close(3.0)
    ok, text = audit(str(ledger.path), recompute_model)
    assert ok, text


def test_the_deep_audit_refuses_a_recomputed_model_that_is_not_finite():
    from bcfl_env.aggregation_rule import AggregationRule

    base = np.zeros(4, dtype=np.float32).tobytes()
    poisoned = np.array([np.inf, 0, 0, 0], dtype=np.float32).tobytes()
    with pytest.raises(ValueError, match="not finite"):
        recompute_model(
            AggregationRule("fedavg"), base, [poisoned], np.array([1]), np.zeros(1, np.int64)
        )


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(min_value=-(10**40), max_value=10**40),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reports=st.lists(
        st.tuples(finite_or_not, finite_or_not, st.floats(-1e6, 1e6), st.booleans()),
        min_size=1, max_size=3,
    )
)  # fmt: skip
def test_whatever_clients_report_the_global_model_stays_finite_and_the_deep_audit_agrees(
    tmp_path_factory, reports
):
    tmp = tmp_path_factory.mktemp("prop")
    ledger = _ledger(tmp, validate=lambda params: -float(np.abs(params).mean()))
    names = CLIENTS[: len(reports)]
    ledger.assign(1, names, 1.0)
    updates = []
    for name, (samples, loss, scale, poison) in zip(names, reports, strict=False):
        params = np.full(P, scale, dtype=np.float32)
        if poison:
            params[0] = np.inf
        count = (
            samples if isinstance(samples, int) else int(samples) if math.isfinite(samples) else 1
        )
        updates.append(ClientUpdate(name, params, count, {"train-loss": loss}))
    verdict = ledger.verify_round(1, updates, 2.0)
    final = ledger.global_params
    assert final is not None and np.isfinite(final).all()
    ledger.close(3.0)
    ok, text = audit(str(ledger.path), recompute_model)
    assert ok, text
    assert len(verdict.accepted) + len(verdict.rejected) == len(updates)


@pytest.mark.parametrize(
    ("records", "needle"),
    [
        ([{"num-examples": 1e40, "train-loss": 0.5}], "num-examples"),
        ([{"num-examples": 10**40}], "num-examples"),
        ([{"num-examples": float("nan")}], "num-examples"),
        ([{"num-examples": 0}], "num-examples"),
        ([{"num-examples": 2.5}], "num-examples"),
        ([{"train-loss": 0.5}], "num-examples"),  # missing: FedAvg would have nothing to weigh
        ([{"num-examples": 10, "train-loss": float("nan")}], "train-loss"),
        ([{"num-examples": 10}, {"accuracy": float("-inf")}], "accuracy"),
    ],
)
def test_a_flower_reply_with_implausible_metrics_is_refused_by_name(records, needle):
    pytest.importorskip("flwr")
    from agents.flower import metrics_problem

    why = metrics_problem(records)
    assert why is not None and needle in why


def test_a_plausible_flower_reply_passes():
    pytest.importorskip("flwr")
    from agents.flower import metrics_problem

    assert metrics_problem([{"num-examples": 40, "train-loss": 0.3, "duration-s": 1.5}]) is None
