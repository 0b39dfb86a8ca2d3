"""Local computation time and energy (Yang et al., "Energy efficient federated learning over
wireless communication networks", IEEE TWC 2021; Lu et al., IEEE TVT 2020).

* compute time ``t = samples x epochs x cycles_per_sample / f`` [s];
* compute energy ``E = kappa x cycles x f^2`` [J], kappa = 1e-28 (effective switched capacitance);
* transmit energy ``E = P x t_upload`` [J].
"""

from __future__ import annotations

import numpy as np

from bcfl_env.config import ComputeConfig

__all__ = ["compute_energy_j", "compute_time_s", "dbm_to_watt", "transmit_energy_j"]


def compute_time_s(
    samples: np.ndarray | float, epochs: int, cycles_per_sample: float, cpu_hz: np.ndarray | float
) -> np.ndarray:
    return (
        np.asarray(samples, dtype=np.float64)
        * epochs
        * cycles_per_sample
        / np.asarray(cpu_hz, dtype=np.float64)
    )


def compute_energy_j(
    samples: np.ndarray | float, epochs: int, cfg: ComputeConfig, cpu_hz: np.ndarray | float
) -> np.ndarray:
    cycles = np.asarray(samples, dtype=np.float64) * epochs * cfg.cycles_per_sample
    return cfg.kappa * cycles * np.asarray(cpu_hz, dtype=np.float64) ** 2


def dbm_to_watt(dbm: float) -> float:
    return float(10 ** ((dbm - 30) / 10))


def transmit_energy_j(tx_power_dbm: float, upload_s: np.ndarray | float) -> np.ndarray:
    return dbm_to_watt(tx_power_dbm) * np.asarray(upload_s, dtype=np.float64)
