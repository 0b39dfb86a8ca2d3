"""Hypothesis fuzzing, small profile (the large one is ``benchmarks/fuzz.py``): every drawn config,
action, reset argument, update payload and ledger cell ends in a clear refusal or a valid result,
never another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

import bcfl_env.fuzz_targets as ft

SMALL = settings(
    max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip


@SMALL
@given(ft.CONFIG_CASES)
def test_configs(overrides):
    assert ft.config_case(overrides) in ("valid", "refused")


ACTION = ft.ActionTarget()


@SMALL
@given(ft.ACTIONS)
def test_actions(case):
    assert ACTION(case) in ("valid", "refused")


RESET = ft.ResetTarget()


@SMALL
@given(ft.RESETS)
def test_reset_arguments(case):
    assert RESET(case) in ("valid", "refused")


PAYLOAD = ft.PayloadTarget()


@SMALL
@given(ft.PAYLOADS)
def test_update_payloads(payload):
    assert PAYLOAD(payload).startswith(("rejected:", "accepted"))


def test_the_ledger_of_fuzzed_rounds_verifies():
    test_update_payloads()
    PAYLOAD.verify()


CELL = ft.CellTarget()


@SMALL
@given(ft.CELLS)
def test_ledger_cells(case):
    assert CELL(case) in ("detected", "unchanged", "unwritable")
