"""Typed probability distributions for scenario files, and fast buffered samplers.

A distribution is unitless; the unit lives in the name of the field that holds it
(`process_time_h`, `sq_um`, ...). Samplers draw in blocks from their own numpy
Generator, so a scalar draw in the simulation's hot path costs one `next()`.
"""

from __future__ import annotations

import math
from typing import Annotated, Callable, Iterator, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

BLOCK = 512


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} cannot draw")

    @property
    def mean_value(self) -> float:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} has no mean")

    def from_normal(self, z: np.ndarray) -> np.ndarray:
        """Values with this distribution from standard-normal scores `z` (the inverse CDF at
        Phi(z)): how a Gaussian copula gives correlated draws with these marginals."""
        from scipy.special import ndtr

        return self._ppf(ndtr(z))

    def _ppf(self, u: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} has no quantile function")


class Fixed(_Dist):
    """Always the same value."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(ge=0)

    def draw(self, rng, n):
        return np.full(n, self.value)

    @property
    def mean_value(self):
        return self.value

    def from_normal(self, z):
        return np.full(np.shape(z), self.value)


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self

    def draw(self, rng, n):
        return rng.uniform(self.low, self.high, n)

    def _ppf(self, u):
        return self.low + (self.high - self.low) * u

    @property
    def mean_value(self):
        return 0.5 * (self.low + self.high)


class Triangular(_Dist):
    dist: Literal["triangular"]
    low: float = Field(ge=0)
    mode: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if not (self.low <= self.mode <= self.high) or self.low == self.high:
            raise ValueError("need low <= mode <= high and low < high")
        return self

    def draw(self, rng, n):
        return rng.triangular(self.low, self.mode, self.high, n)

    def _ppf(self, u):
        from scipy.stats import triang

        width = self.high - self.low
        return triang.ppf(u, (self.mode - self.low) / width, loc=self.low, scale=width)

    @property
    def mean_value(self):
        return (self.low + self.mode + self.high) / 3.0


class Normal(_Dist):
    """Normal, truncated to [low, high] (default: non-negative) by resampling."""

    dist: Literal["normal"]
    mean: float
    sd: float = Field(ge=0)
    low: float = 0.0
    high: float = math.inf

    @model_validator(mode="after")
    def _window(self):
        if self.high <= self.low:
            raise ValueError("high must be > low")
        if self.sd == 0 and not (self.low <= self.mean <= self.high):
            raise ValueError("mean must lie in [low, high] when sd is 0")
        return self

    def draw(self, rng, n):
        if self.sd == 0:
            return np.full(n, self.mean)
        from twin.quantiles import truncnorm_rvs  # scipy.stats.truncnorm's numbers without its import

        a = (self.low - self.mean) / self.sd
        b = (self.high - self.mean) / self.sd
        return truncnorm_rvs(a, b, self.mean, self.sd, n, rng)

    def _ppf(self, u):
        if self.sd == 0:
            return np.full(np.shape(u), self.mean)
        from scipy.stats import truncnorm

        a = (self.low - self.mean) / self.sd
        b = (self.high - self.mean) / self.sd
        return truncnorm.ppf(u, a, b, loc=self.mean, scale=self.sd)

    @property
    def mean_value(self):
        if self.sd == 0:
            return self.mean
        from scipy.stats import truncnorm

        a = (self.low - self.mean) / self.sd
        b = (self.high - self.mean) / self.sd
        return float(truncnorm.mean(a, b, loc=self.mean, scale=self.sd))


class Lognormal(_Dist):
    """Lognormal, given the mean and standard deviation of the variable itself, or its median
    and geometric standard deviation (gsd >= 1)."""

    dist: Literal["lognormal"]
    mean: float | None = Field(default=None, gt=0)
    sd: float | None = Field(default=None, ge=0)
    median: float | None = Field(default=None, gt=0)
    gsd: float | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_form(self):
        by_moments = self.mean is not None and self.sd is not None
        by_median = self.median is not None and self.gsd is not None
        given = [k for k in ("mean", "sd", "median", "gsd") if getattr(self, k) is not None]
        if by_moments == by_median or len(given) != 2:
            raise ValueError("give either mean and sd, or median and gsd")
        return self

    def _mu_sigma(self) -> tuple[float, float]:
        if self.median is not None and self.gsd is not None:
            return math.log(self.median), math.log(self.gsd)
        assert self.mean is not None and self.sd is not None
        s2 = math.log1p((self.sd / self.mean) ** 2)
        return math.log(self.mean) - 0.5 * s2, math.sqrt(s2)

    def draw(self, rng, n):
        mu, sigma = self._mu_sigma()
        return rng.lognormal(mu, sigma, n)

    def from_normal(self, z):
        mu, sigma = self._mu_sigma()
        return np.exp(mu + sigma * np.asarray(z, dtype=float))

    @property
    def mean_value(self):
        if self.mean is not None:
            return self.mean
        mu, sigma = self._mu_sigma()
        return math.exp(mu + 0.5 * sigma * sigma)


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    def draw(self, rng, n):
        return rng.exponential(self.mean, n)

    def from_normal(self, z):
        from scipy.special import log_ndtr

        return -self.mean * log_ndtr(-np.asarray(z, dtype=float))

    @property
    def mean_value(self):
        return self.mean


class Weibull(_Dist):
    dist: Literal["weibull"]
    shape: float = Field(gt=0)
    scale: float = Field(gt=0)

    def draw(self, rng, n):
        return self.scale * rng.weibull(self.shape, n)

    def from_normal(self, z):
        from scipy.special import log_ndtr

        return self.scale * (-log_ndtr(-np.asarray(z, dtype=float))) ** (1.0 / self.shape)

    @property
    def mean_value(self):
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)


class Empirical(_Dist):
    """Draws from observed values, with optional weights."""

    dist: Literal["empirical"]
    values: list[float] = Field(min_length=1)
    weights: list[float] | None = None

    @model_validator(mode="after")
    def _weights(self):
        if any(v < 0 for v in self.values):
            raise ValueError("values must be >= 0")
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("weights must have one entry per value")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be >= 0 and not all zero")
        return self

    def _p(self):
        if self.weights is None:
            return None
        w = np.asarray(self.weights, dtype=float)
        return w / w.sum()

    def draw(self, rng, n):
        return rng.choice(np.asarray(self.values, dtype=float), size=n, p=self._p())

    def _ppf(self, u):
        v = np.asarray(self.values, dtype=float)
        p = self._p()
        w = np.full(v.size, 1.0 / v.size) if p is None else p
        order = np.argsort(v, kind="stable")
        cum = np.cumsum(w[order])
        cum[-1] = 1.0
        return v[order][np.searchsorted(cum, u, side="right").clip(0, v.size - 1)]

    @property
    def mean_value(self):
        p = self._p()
        v = np.asarray(self.values, dtype=float)
        return float(v.mean() if p is None else (v * p).sum())


Distribution = Annotated[
    Union[Fixed, Uniform, Triangular, Normal, Lognormal, Exponential, Weibull, Empirical],
    Field(discriminator="dist"),
]


class Sampler:
    """Scalar draws from a distribution, generated in blocks from one Generator."""

    __slots__ = ("_dist", "_rng", "_it")

    def __init__(self, dist: _Dist, rng: np.random.Generator):
        self._dist = dist
        self._rng = rng
        self._it: Iterator[float] = iter(())

    def __call__(self) -> float:
        value = next(self._it, None)
        if value is None:
            self._it = iter(self._dist.draw(self._rng, BLOCK).tolist())
            value = next(self._it)
        return value


def sampler(dist: _Dist, rng: np.random.Generator) -> Callable[[], float]:
    """A zero-argument callable returning one draw; fixed values skip the generator."""
    if isinstance(dist, Fixed):
        value = dist.value
        return lambda: value
    return Sampler(dist, rng)
