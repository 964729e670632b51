"""Glovebox atmosphere: O2 and H2O (ppm) under a purifier, leaks and antechamber cycles.

Each species obeys dC/dt = -(C - floor)/tau + ingress(t), with piecewise-constant ingress
(baseline permeation plus any injected leak). Between events the solution is exact,
C(t) = C_eq + (C0 - C_eq) exp(-(t - t0)/tau) with C_eq = floor + ingress * tau, so the model
advances by any dt in closed form and each piece is monotone: limit crossings are solved
analytically, and the maximum over an interval lies at piece boundaries. Antechamber cycles
add instantaneous spikes. Excursions above the limits are recorded (start, end, peak).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

SPECIES: tuple[str, str] = ("o2_ppm", "h2o_ppm")


class GloveboxSpec(BaseModel):
    """Behaviour of one argon glovebox with its purifier; every number carries its unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    manufacturer: str
    model: str
    serial_prefix: str = "GB"
    capacity_cells: int = Field(ge=1, description="cells that can be worked on at once")
    o2_limit_ppm: float = Field(gt=0)
    h2o_limit_ppm: float = Field(gt=0)
    o2_floor_ppm: float = Field(ge=0, description="purifier equilibrium without ingress")
    h2o_floor_ppm: float = Field(ge=0)
    o2_purifier_tau_s: float = Field(gt=0, description="first-order removal time constant")
    h2o_purifier_tau_s: float = Field(gt=0)
    o2_ingress_ppm_s: float = Field(ge=0, description="baseline permeation through gloves/seals")
    h2o_ingress_ppm_s: float = Field(ge=0)
    o2_initial_ppm: float = Field(ge=0)
    h2o_initial_ppm: float = Field(ge=0)
    antechamber_o2_spike_ppm: float = Field(ge=0, description="jump per antechamber cycle")
    antechamber_h2o_spike_ppm: float = Field(ge=0)
    antechamber_cycle_s: float = Field(gt=0, description="duration of one evacuate/refill cycle")
    leak_o2_ppm_s: float = Field(ge=0, description="default injected leak ingress")
    leak_h2o_ppm_s: float = Field(ge=0)
    leak_duration_s: float = Field(gt=0, description="default injected leak duration")
    o2_sensor_noise_ppm: float = Field(ge=0)
    h2o_sensor_noise_ppm: float = Field(ge=0)
    sample_rate_hz: float = Field(gt=0)


def load_glovebox_spec(name_or_path: str | Path = "glovebox", base_dir: Path | None = None) -> GloveboxSpec:
    """The shipped glovebox spec (``glovebox``) or a YAML file path (see plant.spec_files)."""
    from plant.spec_files import load_spec

    return load_spec(GloveboxSpec, name_or_path, base_dir)


@dataclass
class Excursion:
    """One period with a species above its limit; ``end_s`` is None while still open."""

    species: str
    limit_ppm: float
    start_s: float
    end_s: float | None
    peak_ppm: float

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return {"species": self.species, "limit_ppm": self.limit_ppm, "start_s": self.start_s,
                "end_s": self.end_s, "peak_ppm": self.peak_ppm}


@dataclass
class _Leak:
    end_s: float
    rate_ppm_s: np.ndarray


class GloveboxAtmosphere:
    """Exact piecewise-exponential atmosphere model with an excursion record."""

    def __init__(self, spec: GloveboxSpec, rng: np.random.Generator, t0_s: float = 0.0) -> None:
        self.spec = spec
        self.rng = rng
        self.t_s = float(t0_s)
        self._tau = np.array([spec.o2_purifier_tau_s, spec.h2o_purifier_tau_s])
        self._floor = np.array([spec.o2_floor_ppm, spec.h2o_floor_ppm])
        self._base_ingress = np.array([spec.o2_ingress_ppm_s, spec.h2o_ingress_ppm_s])
        self._limit = np.array([spec.o2_limit_ppm, spec.h2o_limit_ppm])
        self._noise = np.array([spec.o2_sensor_noise_ppm, spec.h2o_sensor_noise_ppm])
        self._c = np.array([spec.o2_initial_ppm, spec.h2o_initial_ppm], dtype=float)
        self._leaks: list[_Leak] = []
        self.excursions: list[Excursion] = []
        self._open: list[Excursion | None] = [None, None]
        # Piece history: start time, start value, equilibrium value (per species).
        self._seg_t: list[float] = []
        self._seg_c0: list[np.ndarray] = []
        self._seg_ceq: list[np.ndarray] = []
        self._new_segment()
        self._open_if_above()

    # ----- state -------------------------------------------------------------------
    def _ingress(self) -> np.ndarray:
        rate = self._base_ingress.copy()
        for leak in self._leaks:
            rate = rate + leak.rate_ppm_s
        return rate

    def _c_eq(self) -> np.ndarray:
        return self._floor + self._ingress() * self._tau

    def _new_segment(self) -> None:
        self._seg_t.append(self.t_s)
        self._seg_c0.append(self._c.copy())
        self._seg_ceq.append(self._c_eq())

    def true_ppm(self) -> tuple[float, float]:
        """Current (O2, H2O) without sensor noise."""
        return float(self._c[0]), float(self._c[1])

    def leak_active(self) -> bool:
        """True while an injected leak adds ingress."""
        return bool(self._leaks)

    def active_excursions(self) -> list[Excursion]:
        """Excursions that have not ended yet."""
        return [e for e in self._open if e is not None]

    # ----- events ------------------------------------------------------------------
    def antechamber_cycle(self) -> None:
        """Instantaneous ingress of the antechamber's residual gas (a spike in both species)."""
        self._c = self._c + np.array([self.spec.antechamber_o2_spike_ppm,
                                      self.spec.antechamber_h2o_spike_ppm])
        self._new_segment()
        self._open_if_above()

    def inject_leak(self, o2_ppm_s: float | None = None, h2o_ppm_s: float | None = None,
                    duration_s: float | None = None) -> None:
        """Add a leak (ingress rates in ppm/s) lasting ``duration_s``; defaults from the spec."""
        rate = np.array([self.spec.leak_o2_ppm_s if o2_ppm_s is None else o2_ppm_s,
                         self.spec.leak_h2o_ppm_s if h2o_ppm_s is None else h2o_ppm_s])
        dur = self.spec.leak_duration_s if duration_s is None else duration_s
        self._leaks.append(_Leak(self.t_s + dur, rate))
        self._new_segment()

    # ----- time --------------------------------------------------------------------
    def step(self, dt_s: float) -> tuple[float, float]:
        """Advance by ``dt_s`` (any size, exact) and return measured (O2, H2O) ppm."""
        self.advance(dt_s)
        noisy = self._c + self._noise * self.rng.standard_normal(2)
        noisy = np.maximum(noisy, 0.0)
        return float(noisy[0]), float(noisy[1])

    def advance(self, dt_s: float) -> None:
        """Advance by ``dt_s`` like ``step``, without taking a (noisy) reading: the model's
        state, excursions and history are the same; only the sensor's noise is not drawn."""
        t_goal = self.t_s + dt_s
        while True:
            ends = [lk.end_s for lk in self._leaks if lk.end_s <= t_goal]
            t_next = min(ends) if ends else t_goal
            self._advance_to(t_next)
            if not ends:
                break
            self._leaks = [lk for lk in self._leaks if lk.end_s > self.t_s]
            self._new_segment()

    def _advance_to(self, t1: float) -> None:
        """Exact advance within one piece, tracking limit crossings and peaks."""
        dt = t1 - self.t_s
        if dt <= 0.0:
            return
        c0, ceq = self._c, self._c_eq()
        c1 = ceq + (c0 - ceq) * np.exp(-dt / self._tau)
        for i, name in enumerate(SPECIES):
            lim = self._limit[i]
            exc = self._open[i]
            up, down = c0[i] <= lim < c1[i], c0[i] > lim >= c1[i]
            t_cross = self.t_s
            if (up or down) and (c0[i] - ceq[i]) / (lim - ceq[i]) > 0.0:
                t_cross += float(self._tau[i] * np.log((c0[i] - ceq[i]) / (lim - ceq[i])))
            if exc is not None:
                exc.peak_ppm = max(exc.peak_ppm, float(c0[i]), float(c1[i]))
                if down:
                    exc.end_s = t_cross
                    self._open[i] = None
            elif up:
                exc = Excursion(name, float(lim), t_cross, None, float(c1[i]))
                self.excursions.append(exc)
                self._open[i] = exc
        self._c = c1
        self.t_s = t1

    def _open_if_above(self) -> None:
        for i, name in enumerate(SPECIES):
            if self._c[i] > self._limit[i]:
                exc = self._open[i]
                if exc is None:
                    exc = Excursion(name, float(self._limit[i]), self.t_s, None, float(self._c[i]))
                    self.excursions.append(exc)
                    self._open[i] = exc
                exc.peak_ppm = max(exc.peak_ppm, float(self._c[i]))

    # ----- queries -----------------------------------------------------------------
    def value_at(self, t_s: float) -> np.ndarray:
        """True (O2, H2O) at a past time ``t_s`` (between the model start and now)."""
        k = max(bisect.bisect_right(self._seg_t, t_s) - 1, 0)
        t_s = min(t_s, self.t_s)
        return self._seg_ceq[k] + (self._seg_c0[k] - self._seg_ceq[k]) * np.exp(
            -(t_s - self._seg_t[k]) / self._tau)

    def max_between(self, t0_s: float, t1_s: float) -> dict[str, float]:
        """Maximum true O2 and H2O over [t0, t1] (each piece is monotone: check its ends)."""
        t1_s = min(t1_s, self.t_s)
        t0_s = min(t0_s, t1_s)
        cands = [self.value_at(t0_s), self.value_at(t1_s)]
        first = bisect.bisect_right(self._seg_t, t0_s)
        last = bisect.bisect_right(self._seg_t, t1_s)
        for k in range(first, last):
            cands.append(self._seg_c0[k])
            prev = k - 1
            dt = self._seg_t[k] - self._seg_t[prev]
            cands.append(self._seg_ceq[prev] + (self._seg_c0[prev] - self._seg_ceq[prev])
                         * np.exp(-dt / self._tau))
        # the maximum is exact however it is taken: plain floats are cheaper than a stacked array
        return {"o2_ppm": max(float(c[0]) for c in cands), "h2o_ppm": max(float(c[1]) for c in cands)}

    def any_excursion_between(self, t0_s: float, t1_s: float) -> bool:
        """``bool(excursions_between(t0, t1))`` in O(1) for a recent window: a species' excursions
        follow one another (each starts after the previous one ended), so only its latest one
        starting by ``t1`` can reach ``t0``."""
        pending = set(SPECIES)
        for e in reversed(self.excursions):
            if e.species not in pending or e.start_s > t1_s:
                continue
            if e.end_s is None or e.end_s >= t0_s:
                return True
            pending.discard(e.species)
            if not pending:
                return False
        return False

    def excursions_between(self, t0_s: float, t1_s: float) -> list[Excursion]:
        """Excursions overlapping [t0, t1]."""
        return [e for e in self.excursions
                if e.start_s <= t1_s and (e.end_s is None or e.end_s >= t0_s)]
