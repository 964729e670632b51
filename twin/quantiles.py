"""The two scipy.stats computations a run needs, through scipy.special only: importing
scipy.stats costs about a second of start-up, scipy.special a tenth of that.

- `t_ppf`: the Student-t quantile, what `scipy.stats.t.ppf` computes (`stdtrit`);
- `truncnorm_rvs` / `truncnorm_ppf`: draws and quantiles of the truncated normal, the
  operations of `scipy.stats.truncnorm` (inverse CDF in log space) in the same order on the
  same arrays, so the numbers are identical for the same generator.

tests/test_quantiles.py checks both against scipy.stats, bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np


def t_ppf(q: float, df: float) -> float:
    """Quantile `q` of Student's t with `df` degrees of freedom (= scipy.stats.t.ppf)."""
    from scipy.special import stdtrit

    return float(stdtrit(np.asarray(df), np.asarray(q)))


def _log_gauss_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Log of the standard normal mass in [a, b] (as scipy.stats._continuous_distns)."""
    import scipy.special as sc

    a, b = np.broadcast_arrays(a, b)
    case_left = b <= 0
    case_right = a > 0
    case_central = ~(case_left | case_right)

    def mass_case_left(a: Any, b: Any) -> Any:
        return sc.logsumexp([sc.log_ndtr(b), sc.log_ndtr(a) + np.pi * 1j], axis=0)

    def mass_case_right(a: Any, b: Any) -> Any:
        return mass_case_left(-b, -a)

    def mass_case_central(a: Any, b: Any) -> Any:
        return sc.log1p(-sc.ndtr(a) - sc.ndtr(-b))

    out = np.full_like(a, fill_value=np.nan, dtype=np.complex128)
    if a[case_left].size:
        out[case_left] = mass_case_left(a[case_left], b[case_left])
    if a[case_right].size:
        out[case_right] = mass_case_right(a[case_right], b[case_right])
    if a[case_central].size:
        out[case_central] = mass_case_central(a[case_central], b[case_central])
    return np.real(out)


def truncnorm_ppf(q: Any, a: float, b: float) -> np.ndarray:
    """Quantiles of the standard normal truncated to [a, b] (= scipy.stats.truncnorm._ppf)."""
    import scipy.special as sc

    q, a_, b_ = np.broadcast_arrays(np.asarray(q, dtype=float), a, b)
    case_left = a_ < 0
    case_right = ~case_left

    def ppf_left(q: Any, a: Any, b: Any) -> Any:
        log_phi_x = sc.logsumexp([sc.log_ndtr(a), np.log(q) + _log_gauss_mass(a, b)], axis=0)
        return sc.ndtri_exp(log_phi_x)

    def ppf_right(q: Any, a: Any, b: Any) -> Any:
        log_phi_x = sc.logsumexp([sc.log_ndtr(-b), np.log1p(-q) + _log_gauss_mass(a, b)], axis=0)
        return -sc.ndtri_exp(log_phi_x)

    out = np.empty_like(q)
    q_left = q[case_left]
    q_right = q[case_right]
    if q_left.size:
        out[case_left] = ppf_left(q_left, a_[case_left], b_[case_left])
    if q_right.size:
        out[case_right] = ppf_right(q_right, a_[case_right], b_[case_right])
    return out


def truncnorm_rvs(a: float, b: float, loc: float, scale: float, size: int,
                  rng: np.random.Generator) -> np.ndarray:
    """`size` draws of the normal(loc, scale) truncated to [loc + a*scale, loc + b*scale]
    (= scipy.stats.truncnorm.rvs(a, b, loc, scale, size, random_state=rng))."""
    if not a < b or not scale >= 0:
        raise ValueError("truncated normal: need a < b and scale >= 0")
    if scale == 0:
        return loc * np.ones(size, "d")
    u = rng.uniform(size=size)
    return truncnorm_ppf(u, a, b) * scale + loc
