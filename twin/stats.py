"""Statistics users can trust: time-weighted monitors, tallies with warm-up deletion,
and Student-t confidence intervals across replications."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


class TimeWeighted:
    """Time integral of a piecewise-constant level (WIP, busy servers), from `reset` on."""

    __slots__ = ("level", "area", "last", "start")

    def __init__(self, level: float = 0.0, now: float = 0.0):
        self.level = level
        self.area = 0.0
        self.last = now
        self.start = now

    def add(self, now: float, delta: float) -> None:
        self.area += self.level * (now - self.last)
        self.last = now
        self.level += delta

    def reset(self, now: float) -> None:
        """Forget the past (warm-up deletion); the current level carries on."""
        self.area = 0.0
        self.last = now
        self.start = now

    def mean(self, now: float) -> float:
        span = now - self.start
        if span <= 0:
            return self.level
        return (self.area + self.level * (now - self.last)) / span


class Tally:
    """Running mean and variance (Welford) of observations."""

    __slots__ = ("n", "_mean", "_m2")

    def __init__(self):
        self.n = 0
        self._mean = 0.0
        self._m2 = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self._mean
        self._mean += d / self.n
        self._m2 += d * (x - self._mean)

    @property
    def mean(self) -> float:
        return self._mean if self.n else math.nan

    @property
    def variance(self) -> float:
        return self._m2 / (self.n - 1) if self.n > 1 else math.nan


def format_estimate(value, halfwidth=None) -> str:
    """A KPI as text for tables: 4 significant digits, '± hw' when an interval exists, '–' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    if halfwidth is not None and halfwidth == halfwidth:
        text += f" ± {halfwidth:.2g}"
    return text


def t_halfwidth(values: Iterable[float], confidence: float = 0.95) -> float:
    """Half-width of the Student-t confidence interval of the mean (nan for n < 2)."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if x.size < 2:
        return math.nan
    from twin.quantiles import t_ppf  # = scipy.stats.t.ppf, without importing scipy.stats

    return float(t_ppf(0.5 + confidence / 2.0, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def finite_mean(values: Iterable[float]) -> float:
    """Mean over the finite values (replications where a KPI is defined); nan when there is none."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def across_replications(per_rep: Sequence[Mapping[str, Any]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and 95% half-width of each numeric key across replication results."""
    keys = [k for k, v in per_rep[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    means = {}
    halfwidths = {}
    for k in keys:
        vals = [float(r[k]) for r in per_rep]
        means[k] = finite_mean(vals)
        halfwidths[k] = t_halfwidth(vals)
    return means, halfwidths
