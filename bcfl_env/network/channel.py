"""V2I uplink channel: path loss, correlated shadowing, Rayleigh fading, Shannon rate.

Model (3GPP TR 36.885, Annex A, V2I urban case, as used by Liang, Ye, Li, "Spectrum sharing in
vehicular networks based on multi-agent RL", IEEE JSAC 2019):

* path loss ``PL(d) = 128.1 + 37.6 log10(d [km])`` dB, d floored at 10 m;
* log-normal shadowing, std 8 dB, spatially correlated: ``S_t = rho S_{t-1} + sqrt(1-rho^2) N(0, std^2)``
  with ``rho = exp(-dx / d_corr)``, decorrelation distance 50 m (Gudmundson, Electronics Letters 1991);
* Rayleigh fast fading with Jakes temporal correlation ``h_t = rho h_{t-1} + sqrt(1-rho^2) e``,
  ``rho = J0(2 pi f_d dt)``, ``f_d = v f_c / c``;
* rate ``B_share log2(1 + SNR)``, the RSU's bandwidth split equally among its concurrent uploads,
  noise ``-174 dBm/Hz + 10 log10(B_share) + NF``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import j0

from bcfl_env.config import ChannelConfig

__all__ = ["Channel", "path_loss_db", "shannon_rate_bps"]

SPEED_OF_LIGHT_MPS = 299_792_458.0


def path_loss_db(distance_m: np.ndarray | float) -> np.ndarray:
    """3GPP TR 36.885 V2I path loss [dB]; distance floored at 10 m."""
    d_km = np.maximum(np.asarray(distance_m, dtype=np.float64), 10.0) / 1000.0
    return 128.1 + 37.6 * np.log10(d_km)


def shannon_rate_bps(
    distance_m: np.ndarray | float,
    bandwidth_hz: np.ndarray | float,
    cfg: ChannelConfig,
    gain_db: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Shannon rate [bit/s] at ``distance_m`` over ``bandwidth_hz`` with extra ``gain_db``."""
    bw = np.asarray(bandwidth_hz, dtype=np.float64)
    rx_dbm = cfg.tx_power_dbm - path_loss_db(distance_m) + gain_db
    noise_dbm = cfg.noise_psd_dbm_hz + 10 * np.log10(bw) + cfg.noise_figure_db
    snr = 10 ** ((rx_dbm - noise_dbm) / 10)
    return bw * np.log2(1 + snr)


class Channel:
    """Per-slot small- and large-scale fading state, redrawn on every new link (handover)."""

    def __init__(self, cfg: ChannelConfig, num_slots: int, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.rng = rng
        self.shadow_db = np.zeros(num_slots)
        self.fading = np.ones(num_slots, dtype=np.complex128)
        self.link_rsu = np.full(num_slots, -1, dtype=np.int64)

    def new_links(self, slots: np.ndarray) -> None:
        """Independent fading for links that just started (arrival or handover)."""
        if slots.size == 0:
            return
        self.shadow_db[slots] = self.rng.normal(0.0, self.cfg.shadowing_std_db, size=slots.size)
        self.fading[slots] = self._complex_normal(slots.size) if self.cfg.fading else 1.0

    def _complex_normal(self, k: int) -> np.ndarray:
        return (self.rng.normal(size=k) + 1j * self.rng.normal(size=k)) / np.sqrt(2)

    def evolve(
        self, moved_m: np.ndarray, speed_mps: np.ndarray, dt_s: float, serving: np.ndarray
    ) -> None:
        """Advance shadowing over the distance moved and fading over ``dt_s``; redraw on handover."""
        changed = np.flatnonzero(serving != self.link_rsu)
        self.link_rsu = serving.copy()
        n = self.shadow_db.size
        rho_s = np.exp(-moved_m / self.cfg.decorrelation_m)
        self.shadow_db = rho_s * self.shadow_db + np.sqrt(1 - rho_s**2) * self.rng.normal(
            0.0, self.cfg.shadowing_std_db, size=n
        )
        if self.cfg.fading:
            doppler_hz = speed_mps * self.cfg.carrier_hz / SPEED_OF_LIGHT_MPS
            rho_f = j0(2 * np.pi * doppler_hz * dt_s)
            self.fading = rho_f * self.fading + np.sqrt(
                np.maximum(1 - rho_f**2, 0.0)
            ) * self._complex_normal(n)
        self.new_links(changed[serving[changed] >= 0])

    def gain_db(self) -> np.ndarray:
        """Shadowing plus fading power gain [dB] per slot."""
        power = np.abs(self.fading) ** 2 if self.cfg.fading else np.ones_like(self.shadow_db)
        return -self.shadow_db + 10 * np.log10(np.maximum(power, 1e-12))

    def rates_bps(
        self, distance_m: np.ndarray, serving: np.ndarray, sharers: np.ndarray
    ) -> np.ndarray:
        """Uplink rate per slot [bit/s] when ``sharers`` uploads (>= 1) share the serving RSU; 0 unserved."""
        bw = self.cfg.rsu_bandwidth_hz / np.maximum(sharers, 1)
        rate = shannon_rate_bps(
            np.where(serving >= 0, distance_m, 1e3), bw, self.cfg, self.gain_db()
        )
        return np.where(serving >= 0, rate, 0.0)
