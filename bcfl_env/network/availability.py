"""Which nodes are online: a per-node on/off process with a daily rhythm.

A cross-device FL client takes part only while it is *online* in the FL sense: idle, charging
and on an unmetered network (Bonawitz et al., "Towards federated learning at scale", SysML 2019).
The FLASH trace of 136k smartphones (Yang et al., WWW 2021) shows what that looks like: most
phones are online for a small share of the day, a few for much of it; online sessions are short
and heavy-tailed (median minutes, mean over half an hour); more phones come online at some hours
than at others. ``model="trace"`` reproduces those statistics (fitted in ``docs/scenarios.md``):

* each node i draws its share of time online ``f_i ~ Beta(a, b)``;
* its online sessions are log-normal (``session_median_s``, ``session_mean_s``), its offline
  gaps log-normal (``gap_median_s``, ``gap_mean_s``) scaled by ``c_i`` so that, over a day, the
  node is online for the share ``f_i`` of the time;
* nodes come online faster at some hours: an offline node's gap runs on a clock whose pace is
  ``1 + A cos(2 pi (h - peak_hour) / 24)`` (A and the peak hour are calibrated so that the
  share online swings as the trace's does; docs/world.md).

``time_scale`` runs the trace's clock faster (every length and the day divided by it): this
simulator's FL rounds take seconds where a phone's take minutes, so an episode spans a short
part of the trace's day unless its clock is compressed. An episode starts at ``start_hour``
(drawn uniformly when None); each node starts online with probability ``f_i`` times the pace
there, partway through a session or gap. A node that goes
offline while it trains or uploads loses its job (reason ``offline``); an offline node is
neither seen nor selectable (:meth:`bcfl_env.world.World.view`). ``model="always"`` keeps every
node online and draws nothing, so the presets' dynamics are unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from bcfl_env.config.schema import AvailabilityConfig

__all__ = ["Availability", "lognormal_sigma"]


def lognormal_sigma(median: float, mean: float) -> float:
    """The log-normal sigma with this median and mean (mean = median x exp(sigma^2 / 2))."""
    return math.sqrt(2.0 * math.log(mean / median))


class Availability:
    """The online state of every identity of the fleet, advanced with the network's clock.

    Args:
        cfg: the ``network.availability`` section.
        fleet_size: identities.
        rng: the world's ``availability`` stream (drawn from only with ``model="trace"``).
    """

    def __init__(
        self, cfg: AvailabilityConfig, fleet_size: int, rng: np.random.Generator | None
    ) -> None:
        self.cfg = cfg
        self.enabled = cfg.model == "trace"
        self.online = np.ones(fleet_size, dtype=bool)
        self.time_s = 0.0
        self.share = np.ones(fleet_size)
        self.start_hour = 0.0
        if not self.enabled:
            return
        if rng is None:
            raise ValueError(
                "network.availability.model='trace' needs a random generator: pass rngs['availability']"
            )
        self._rng = rng
        self._session_sigma = lognormal_sigma(cfg.session_median_s, cfg.session_mean_s)
        self._gap_sigma = lognormal_sigma(cfg.gap_median_s, cfg.gap_mean_s)
        self.share = np.clip(rng.beta(cfg.share_beta_a, cfg.share_beta_b, fleet_size), 1e-4, 0.99)
        # c_i: the gap scale that makes the node online for the share f_i of the time; a gap's
        # clock runs at the day's pace, which averages to its harmonic mean sqrt(1 - A^2) over
        # the time spent offline (slow hours hold nodes offline longer): the scale takes it back
        self._gap_scale = (
            cfg.session_mean_s * (1 - self.share) / (self.share * cfg.gap_mean_s)
        ) * math.sqrt(1.0 - cfg.daily_amplitude**2)
        self.start_hour = float(rng.uniform(0, 24)) if cfg.start_hour is None else cfg.start_hour
        everyone = np.arange(fleet_size)
        self.online = rng.random(fleet_size) < np.clip(self.share * self.rhythm(0.0), 0.0, 1.0)
        # partway through the current session or gap: a moment of a stationary process falls in
        # an interval drawn length-biased (for a log-normal: the median times exp(sigma^2))
        lengths = self._draw(everyone, self.online, length_biased=True)
        # what is left of it: seconds online, or the gap's "daytime" (seconds weighted by the
        # rhythm, so nodes come online faster at busy hours)
        self.remaining = rng.random(fleet_size) * lengths

    def rhythm(self, t_s: float) -> float:
        """The daily factor on the rate of coming online at simulated time ``t_s`` (mean 1)."""
        cfg = self.cfg
        hour = (self.start_hour + 24.0 * t_s * cfg.time_scale / cfg.day_length_s) % 24.0
        return 1.0 + cfg.daily_amplitude * math.cos(2 * math.pi * (hour - cfg.peak_hour) / 24.0)

    def _draw(
        self, nodes: np.ndarray, online: np.ndarray, length_biased: bool = False
    ) -> np.ndarray:
        """Length of the next session (online nodes, seconds) or gap (offline nodes, daytime)."""
        cfg = self.cfg
        s_sigma, g_sigma = self._session_sigma, self._gap_sigma
        s_shift, g_shift = (s_sigma**2, g_sigma**2) if length_biased else (0.0, 0.0)
        normal = self._rng.standard_normal(nodes.size)
        session = cfg.session_median_s * np.exp(s_sigma * normal + s_shift)
        gap = cfg.gap_median_s * np.exp(g_sigma * normal + g_shift) * self._gap_scale[nodes]
        return np.where(online, session, gap) / cfg.time_scale

    def advance(self, dt_s: float) -> np.ndarray:
        """Advance by ``dt_s`` seconds; returns the identities that went offline meanwhile (a
        job there is lost, even if the node is back online by now)."""
        middle = self.time_s + dt_s / 2
        self.time_s += dt_s
        if not self.enabled:
            return np.zeros(0, dtype=np.int64)
        pace = self.rhythm(middle)
        self.remaining -= np.where(self.online, dt_s, pace * dt_s)
        went_offline = np.zeros(self.online.size, dtype=bool)
        due = np.flatnonzero(self.remaining <= 0)
        while due.size:  # a short session or gap can end inside the same tick
            # the overshoot carries into the next interval, converted to its units
            overshoot = np.where(
                self.online[due], self.remaining[due] * pace, self.remaining[due] / pace
            )
            self.online[due] = ~self.online[due]
            went_offline[due] |= ~self.online[due]
            self.remaining[due] = self._draw(due, self.online[due]) + overshoot
            due = due[self.remaining[due] <= 0]
        return np.flatnonzero(went_offline)
