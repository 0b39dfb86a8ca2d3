"""Vehicle-to-vehicle links for sharing models in the DAG: path loss, rate, range, transfer cost.

Model (3GPP TR 37.885, Table 6.2.1-1, the V2V urban case):

* path loss, d [m] floored at 3 m, f_c in GHz: non-line-of-sight (the default: other vehicles
  and buildings block the direct path) ``36.85 + 30 log10(d) + 18.9 log10(f_c)`` dB; line of sight
  ``38.77 + 16.7 log10(d) + 18.2 log10(f_c)`` dB (street-canyon guiding: ranges of kilometres);
* log-normal shadowing (std 4 dB NLOS, 3 dB LOS in the same table), drawn per link by the caller;
* rate ``B log2(1 + SNR)`` with the V2I channel's transmit power, noise PSD and noise figure;
* a vehicle reaches another when the rate at their distance is at least ``min_rate_bps``; the
  range is where the rate falls to that floor (found by bisection, path loss being monotone);
* sending ``bits`` costs ``bits / rate`` seconds and transmit power times that in joules, as an
  upload does (Yang et al., IEEE TWC 2021 energy model for the radio).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "reachable",
    "transfer_cost",
    "v2v_path_loss_db",
    "v2v_range_m",
    "v2v_rate_bps",
]

MIN_DISTANCE_M = 3.0


def v2v_path_loss_db(
    distance_m: np.ndarray | float, carrier_hz: float, los: bool = False
) -> np.ndarray:
    """3GPP TR 37.885 V2V urban path loss [dB], NLOS or LOS; distance floored at 3 m."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), MIN_DISTANCE_M)
    f_ghz = carrier_hz / 1e9
    if los:
        return 38.77 + 16.7 * np.log10(d) + 18.2 * np.log10(f_ghz)
    return 36.85 + 30.0 * np.log10(d) + 18.9 * np.log10(f_ghz)


def v2v_rate_bps(
    distance_m: np.ndarray | float,
    bandwidth_hz: float,
    carrier_hz: float,
    tx_power_dbm: float,
    noise_psd_dbm_hz: float,
    noise_figure_db: float,
    shadowing_db: np.ndarray | float = 0.0,
    los: bool = False,
) -> np.ndarray:
    """Shannon rate [bit/s] of a V2V link at ``distance_m`` (``shadowing_db`` is a loss)."""
    rx_dbm = tx_power_dbm - v2v_path_loss_db(distance_m, carrier_hz, los) - shadowing_db
    noise_dbm = noise_psd_dbm_hz + 10 * np.log10(bandwidth_hz) + noise_figure_db
    return bandwidth_hz * np.log2(1 + 10 ** ((rx_dbm - noise_dbm) / 10))


def v2v_range_m(
    min_rate_bps: float,
    bandwidth_hz: float,
    carrier_hz: float,
    tx_power_dbm: float,
    noise_psd_dbm_hz: float,
    noise_figure_db: float,
    los: bool = False,
) -> float:
    """Distance at which the (unshadowed) rate falls to ``min_rate_bps`` [m]."""

    def rate(d: float) -> float:
        return float(
            v2v_rate_bps(
                d, bandwidth_hz, carrier_hz, tx_power_dbm, noise_psd_dbm_hz, noise_figure_db,
                los=los,
            )
        )  # fmt: skip

    lo, hi = MIN_DISTANCE_M, MIN_DISTANCE_M
    if rate(lo) < min_rate_bps:
        return 0.0
    while rate(hi) >= min_rate_bps and hi < 1e7:
        lo, hi = hi, hi * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if rate(mid) >= min_rate_bps else (lo, mid)
    return lo


def reachable(
    positions: np.ndarray, range_m: float, present: np.ndarray | None = None
) -> np.ndarray:
    """Which pairs of vehicles can exchange models: an (n, n) boolean matrix, symmetric, with no
    vehicle reaching itself; ``present`` masks out empty slots."""
    pos = np.asarray(positions, dtype=np.float64)
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    links = d <= range_m
    np.fill_diagonal(links, False)
    if present is not None:
        mask = np.asarray(present, dtype=bool)
        links &= mask[:, None] & mask[None, :]
    return links


def transfer_cost(
    bits: float, rate_bps: np.ndarray | float, tx_power_dbm: float
) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, joules) to send ``bits`` at ``rate_bps``; an unusable link (rate 0) costs inf."""
    rate = np.asarray(rate_bps, dtype=np.float64)
    with np.errstate(divide="ignore"):
        seconds = np.where(rate > 0, bits / np.where(rate > 0, rate, 1.0), np.inf)
    watts = 10 ** ((tx_power_dbm - 30) / 10)
    return seconds, watts * seconds
