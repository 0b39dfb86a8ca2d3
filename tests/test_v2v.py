"""V2V links (3GPP TR 37.885 LOS): path loss, rate, range, reachability and transfer cost."""

from __future__ import annotations

import numpy as np
import pytest

from bcfl_env.network.v2v import (
    reachable,
    transfer_cost,
    v2v_path_loss_db,
    v2v_range_m,
    v2v_rate_bps,
)

RADIO = {"bandwidth_hz": 1e6, "carrier_hz": 5.9e9, "tx_power_dbm": 23.0,
         "noise_psd_dbm_hz": -174.0, "noise_figure_db": 9.0}  # fmt: skip


def test_path_loss_is_the_3gpp_formula_and_grows_with_distance():
    # NLOS: 36.85 + 30 log10(100) + 18.9 log10(5.9); LOS: 38.77 + 16.7 log10(100) + 18.2 log10(5.9)
    assert v2v_path_loss_db(100.0, 5.9e9) == pytest.approx(36.85 + 60.0 + 18.9 * np.log10(5.9))
    los = v2v_path_loss_db(100.0, 5.9e9, los=True)
    assert los == pytest.approx(38.77 + 33.4 + 18.2 * np.log10(5.9))
    d = np.array([1.0, 3.0, 10.0, 100.0, 1000.0])
    loss = v2v_path_loss_db(d, 5.9e9)
    assert loss[0] == loss[1] and np.all(np.diff(loss[1:]) > 0)  # floored at 3 m, then monotone


def test_range_is_where_the_rate_meets_its_floor():
    floor = 2e6
    r = v2v_range_m(floor, **RADIO)
    assert 150 < r < 400  # NLOS at 2 Mbit/s in 1 MHz: about 250 m, DSRC's usual few hundred
    assert v2v_range_m(floor, los=True, **RADIO) > 10 * r
    assert v2v_rate_bps(r * 0.99, **RADIO) >= floor > v2v_rate_bps(r * 1.01, **RADIO)
    assert v2v_range_m(1e12, **RADIO) == 0.0  # a floor no link reaches
    shadowed = v2v_rate_bps(r, shadowing_db=6.0, **RADIO)
    assert shadowed < v2v_rate_bps(r, **RADIO)


def test_reachability_is_symmetric_within_range_and_skips_empty_slots():
    pos = np.array([[0.0, 0.0], [50.0, 0.0], [400.0, 0.0], [0.0, 60.0]])
    links = reachable(pos, 100.0)
    assert (links == links.T).all() and not links.diagonal().any()
    assert links[0, 1] and links[0, 3] and not links[0, 2] and links[1, 3]  # 78 m apart
    masked = reachable(pos, 100.0, present=np.array([True, False, True, True]))
    assert not masked[0, 1] and masked[0, 3]


def test_transfer_cost_is_time_and_transmit_energy():
    seconds, joules = transfer_cost(8e6, np.array([4e6, 0.0]), tx_power_dbm=23.0)
    assert seconds[0] == pytest.approx(2.0) and np.isinf(seconds[1])
    assert joules[0] == pytest.approx(0.1995 * 2.0, rel=1e-3)  # 23 dBm = 0.1995 W
