"""Maximum likelihood calibration of the interface parameters, with uncertainty.

The log-parameters maximise the likelihood of ``twin.calibration.observe`` (scipy L-BFGS-B from
the shipped values).  Intervals (``level``, default 95%):

* ``wald``: phi_hat +- z se from the inverse observed information (central differences), on the
  log scale (so positive and asymmetric in natural units) - the least-squares path;
* ``profile``: the points where the profile likelihood (the others re-maximised) has fallen by
  chi2_1(level)/2, found by root finding from the Wald interval;
* ``bootstrap``: percentile intervals of refits on cells resampled with replacement (the refits are
  kept as samples of the parameter file);
* ``emcee``: a posterior (flat prior on the log scale inside the search bounds) sampled by
  emcee's affine-invariant ensemble (optional: ``pip install 'anodeless-twin[calibration]'``).

Parameters the data cannot pin (``twin.calibration.identify``) keep their shipped values and the
others are refitted without them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from twin.calibration import identify
from twin.calibration.data import CellData
from twin.calibration.observe import Likelihood, informed
from twin.interface.params import InterfaceParams

METHODS = ("wald", "profile", "bootstrap", "emcee")
SEARCH_FACTOR = 30.0  # the search spans the shipped value / 30 .. x 30
HESSIAN_STEP = 1e-3


@dataclass
class FitResult:
    """What a calibration found: estimates, their uncertainty and what could not be fitted."""

    names: list[str]  # fitted parameters, then fitted noise scales (e.g. void_sd)
    parameters: list[str]  # the interface parameters among names
    phi: np.ndarray  # log estimates over names
    nll: float
    cov: np.ndarray | None  # covariance of phi (log scale)
    intervals: dict[str, tuple[float, float]]  # natural units
    method: str
    level: float
    samples: np.ndarray | None  # natural units over `parameters` (bootstrap refits, posterior draws)
    noise: dict[str, float]
    fixed: dict[str, str]  # parameter -> why it keeps its shipped value
    verdicts: dict[str, dict[str, Any]]
    terms: dict[str, float]
    counts: dict[str, int]
    evaluations: int = 0
    converged: bool = True
    reference_cycles: float = 100.0
    notes: list[str] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        """Estimates in natural units (parameters and noise scales)."""
        return {k: float(v) for k, v in zip(self.names, np.exp(self.phi))}

    def param_cov(self) -> np.ndarray | None:
        """Covariance of the log estimates of the interface parameters only."""
        if self.cov is None:
            return None
        k = len(self.parameters)
        return self.cov[:k, :k]


def _bounds(start: np.ndarray) -> list[tuple[float, float]]:
    w = math.log(SEARCH_FACTOR)
    return [(float(s - w), float(s + w)) for s in start]


def maximize(f: Callable[[np.ndarray], float], x0: np.ndarray, bounds: list[tuple[float, float]]
             ) -> tuple[np.ndarray, float, bool]:
    """Minimise a negative log-likelihood (L-BFGS-B, finite-difference gradient)."""
    from scipy.optimize import minimize

    if len(x0) == 0:
        return np.asarray(x0, dtype=float), float(f(np.asarray(x0, dtype=float))), True
    res = minimize(f, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": 400, "ftol": 1e-12, "gtol": 1e-6})
    return np.asarray(res.x, dtype=float), float(res.fun), bool(res.success)


def hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = HESSIAN_STEP) -> np.ndarray:
    """Central-difference Hessian of f at x."""
    n = len(x)
    f0 = f(x)
    out = np.zeros((n, n))
    e = np.eye(n) * h
    plus = [f(x + e[i]) for i in range(n)]
    minus = [f(x - e[i]) for i in range(n)]
    for i in range(n):
        out[i, i] = (plus[i] - 2.0 * f0 + minus[i]) / (h * h)
        for j in range(i + 1, n):
            v = (f(x + e[i] + e[j]) - f(x + e[i] - e[j]) - f(x - e[i] + e[j]) + f(x - e[i] - e[j])) / (4 * h * h)
            out[i, j] = out[j, i] = v
    return out


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def fit(cells: CellData, names: list[str] | None = None, method: str = "wald", *,
        base: InterfaceParams | None = None, level: float = 0.95, reference_cycles: float = 100.0,
        bootstrap: int = 100, seed: int = 0, emcee_steps: int = 600, emcee_walkers: int | None = None,
        max_log_sd: float = identify.MAX_LOG_SD) -> FitResult:
    """Calibrate ``names`` (default: every parameter the data's outcome types inform)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    if not 0.5 <= level < 1.0:
        raise ValueError("level must lie in [0.5, 1)")
    base = base or InterfaceParams()
    cells = cells.measured()
    keep, fixed = informed(cells, tuple(names) if names else None)
    if not keep:
        raise ValueError("the data hold no outcome that informs any parameter (R_int, voids, shorts or CCD tests)")
    evaluations = 0
    while True:
        lik = Likelihood(cells, keep, base, reference_cycles)
        bounds = _bounds(lik.start)
        phi, nll, ok = maximize(lik, lik.start, bounds)
        hess = hessian(lik, phi)
        verdicts = identify.assess(hess, lik.all_names, max_log_sd)
        evaluations += lik.evaluations
        drop = [v for v in verdicts if v.status == "not_identified" and v.name in keep]
        if not drop:
            break
        worst = max(drop, key=lambda v: v.log_sd)  # drop one at a time: the others may recover
        fixed[worst.name] = f"not identified: {worst.reason}; shipped value kept"
        keep = [k for k in keep if k != worst.name]
        if not keep:
            raise ValueError("no parameter is identified by the data: " + "; ".join(f"{k}: {v}" for k, v in
                                                                                   fixed.items()))
    cov = identify.covariance(hess)
    names_all = lik.all_names
    z = _z(level)
    sd = np.sqrt(np.diag(cov)) if cov is not None else np.full(len(phi), np.inf)
    intervals = {k: (float(np.exp(p - z * s)), float(np.exp(p + z * s))) for k, p, s in zip(names_all, phi, sd)}
    samples = None
    notes: list[str] = []
    if method == "profile":
        intervals, flat = profile_intervals(lik, phi, nll, cov, bounds, level)
        for k in flat:
            verdicts[names_all.index(k)] = identify.Verdict(k, "not_identified", math.inf,
                                                            "profile likelihood flat inside the search bounds")
            notes.append(f"{k}: profile likelihood flat on one side inside the search bounds (x/÷ {SEARCH_FACTOR:g})")
    elif method == "bootstrap":
        samples, intervals = bootstrap_intervals(cells, keep, base, reference_cycles, phi, bounds, level, bootstrap,
                                                 seed)
    elif method == "emcee":
        samples, intervals = posterior(lik, phi, cov, bounds, level, emcee_steps, emcee_walkers, seed)
    n_params = len(keep)
    return FitResult(names_all, list(keep), phi, nll, cov, intervals, method, level,
                     None if samples is None else samples[:, :n_params], lik.noise(phi), fixed,
                     {v.name: v.as_dict() for v in verdicts}, lik.terms(phi), cells.counts(),
                     evaluations + lik.evaluations, ok, reference_cycles, notes)


def profile_intervals(lik: Likelihood, phi: np.ndarray, nll: float, cov: np.ndarray | None,
                      bounds: list[tuple[float, float]], level: float
                      ) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Profile-likelihood intervals (natural units) and the parameters whose profile stays flat."""
    from scipy.optimize import brentq
    from scipy.stats import chi2

    drop = 0.5 * float(chi2.ppf(level, 1))
    n = len(phi)
    out: dict[str, tuple[float, float]] = {}
    flat: list[str] = []
    for j, name in enumerate(lik.all_names):
        others = [i for i in range(n) if i != j]
        sub_bounds = [bounds[i] for i in others]
        slope = cov[others, j] / cov[j, j] if cov is not None else np.zeros(n - 1)
        warm = {"x": phi[others]}

        def profile(t: float) -> float:
            guess = np.clip(phi[others] + slope * (t - phi[j]), [b[0] for b in sub_bounds], [b[1] for b in sub_bounds])
            start = guess if lik(_put(guess, j, t)) <= lik(_put(warm["x"], j, t)) else warm["x"]
            x, value, _ = maximize(lambda y: lik(_put(y, j, t)), start, sub_bounds)
            warm["x"] = x
            return value - nll - drop

        ends = []
        sd = math.sqrt(cov[j, j]) if cov is not None else 0.5
        for side in (-1.0, 1.0):
            warm["x"] = phi[others]
            limit = bounds[j][0] if side < 0 else bounds[j][1]
            step = max(1.5 * sd, 0.02)
            inner, t = phi[j], phi[j] + side * step
            while True:
                t = min(max(t, bounds[j][0]), bounds[j][1])
                if profile(t) > 0:
                    ends.append(brentq(profile, min(inner, t), max(inner, t), xtol=1e-3))
                    break
                if t == limit:
                    ends.append(limit)
                    flat.append(name)
                    break
                inner, step = t, step * 2.0
                t = phi[j] + side * (abs(t - phi[j]) + step)
        out[name] = (float(np.exp(ends[0])), float(np.exp(ends[1])))
    return out, sorted(set(flat))


def _put(rest: np.ndarray, j: int, value: float) -> np.ndarray:
    return np.insert(np.asarray(rest, dtype=float), j, value)


def _percentile_intervals(names: list[str], samples: np.ndarray, level: float) -> dict[str, tuple[float, float]]:
    lo, hi = 50.0 * (1.0 - level), 50.0 * (1.0 + level)
    return {k: (float(np.percentile(samples[:, i], lo)), float(np.percentile(samples[:, i], hi)))
            for i, k in enumerate(names)}


def bootstrap_intervals(cells: CellData, names: list[str], base: InterfaceParams, reference_cycles: float,
                        phi: np.ndarray, bounds: list[tuple[float, float]], level: float, rounds: int, seed: int
                        ) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Refits on resampled cells: (natural-unit samples over names and noise, percentile intervals)."""
    if rounds < 20:
        raise ValueError("bootstrap needs at least 20 rounds")
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(rounds):
        lik = Likelihood(cells.subset(rng.integers(0, len(cells), len(cells))), names, base, reference_cycles)
        x, _, _ = maximize(lik, phi, bounds)
        rows.append(np.exp(x))
    samples = np.array(rows)
    return samples, _percentile_intervals(Likelihood(cells, names, base, reference_cycles).all_names, samples, level)


def posterior(lik: Likelihood, phi: np.ndarray, cov: np.ndarray | None, bounds: list[tuple[float, float]],
              level: float, steps: int, walkers: int | None, seed: int
              ) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """emcee posterior draws (natural units) and equal-tailed credible intervals."""
    try:
        import emcee
    except ImportError as exc:
        raise RuntimeError("--method emcee needs emcee: pip install 'anodeless-twin[calibration]'") from exc
    n = len(phi)
    lo, hi = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])

    def log_prob(x: np.ndarray) -> float:
        if np.any(x < lo) or np.any(x > hi):
            return -math.inf
        return -lik(x)

    nwalkers = walkers or max(2 * n + 2, 8)
    rng = np.random.default_rng(seed)
    spread = np.sqrt(np.diag(cov)) if cov is not None else np.full(n, 0.05)
    start = phi + 0.3 * spread * rng.standard_normal((nwalkers, n))
    sampler = emcee.EnsembleSampler(nwalkers, n, log_prob, seed=seed)
    sampler.run_mcmc(np.clip(start, lo, hi), steps, progress=False)
    burn = steps // 4
    chain = sampler.get_chain(discard=burn, thin=max(1, steps // 200), flat=True)
    samples = np.exp(chain)
    return samples, _percentile_intervals(lik.all_names, samples, level)
