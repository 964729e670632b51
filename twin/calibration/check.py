"""Model checks: goodness of fit on the calibration data, and predictions against held-out cells.

Goodness of fit (``goodness``), each test a chi-square over ten bins of the model's prediction:
the mean standardised log residual of R_int per bin (lack of fit of the resistance law), and the
observed against the expected shorts per bin for the cycling test and the CCD ramps (martingale
residuals: the expected count is the cumulative hazard each cell was exposed to).  The data are
flagged as a misfit when any p-value falls below ``alpha`` / number of tests (Bonferroni).

Held-out check (``check_model``), with parameter draws from the file and the fitted noise: the
coverage of the predictive intervals of R_int, the void fraction and the CCD (randomised PIT on
the ramp step), the calibration of the short probability over ``reference_cycles`` cycles
(reliability diagram, log loss, Brier score) and the bias of R_int.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twin.calibration.data import CellData
from twin.calibration.observe import Likelihood

BINS = 10
ALPHA = 0.001


def _bins(order_by: np.ndarray, bins: int = BINS) -> list[np.ndarray]:
    idx = np.argsort(order_by, kind="stable")
    return [b for b in np.array_split(idx, min(bins, max(len(idx) // 20, 1))) if len(b)]


def _chi2_p(stat: float, df: int) -> float:
    from scipy.stats import chi2

    return float(chi2.sf(stat, max(df, 1)))


def goodness(lik: Likelihood, phi: np.ndarray, alpha: float = ALPHA) -> dict[str, Any]:
    """Lack-of-fit tests on the data a fit used (see the module docstring)."""
    pr = lik.predict(phi)
    tests: dict[str, dict[str, float]] = {}
    if len(lik.r_rows) >= 40:
        pred = np.log(pr["r_int_ohm_cm2"][lik.r_rows])
        res = lik.log_r - pred
        s = float(np.sqrt(np.mean(res * res)))
        groups = _bins(pred + 1e-9 * np.arange(len(pred)))
        stat = sum(len(g) * float(res[g].mean()) ** 2 for g in groups) / max(s * s, 1e-300)
        tests["r_int"] = {"chi2": stat, "df": len(groups), "p_value": _chi2_p(stat, len(groups) - 1)}
    if len(lik.s_rows) >= 40:
        # discrete time: E[shorted - q min(K, T)] = 0 for a per-cycle short probability q
        q = -np.expm1(-pr["hazard"][lik.s_rows] / lik.reference_cycles)
        exposure = q * lik.s_cycles * lik.reference_cycles
        tests["short"] = _events(exposure, lik.s_short.astype(float), q)  # bins by the prediction, not the outcome
    if len(lik.ccd_rows) >= 40:
        tests["ccd"] = _uniform(ccd_pit(lik, pr, np.random.default_rng(0)))
    limit = alpha / max(len(tests), 1)
    failed = sorted(k for k, t in tests.items() if t["p_value"] < limit)
    return {"tests": tests, "alpha": alpha, "misfit": bool(failed), "failed": failed,
            "note": ("the data depart from the model in: " + ", ".join(failed)) if failed else
            "no lack of fit detected"}


def ccd_pit(lik: Likelihood, pr: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Randomised probability integral transform of each CCD test (uniform under the model): within the
    ramp step it shorted on, or above the ramp's end when it did not short."""
    f_hi = -np.expm1(-pr["hazard_at_ccd"])
    f_lo = np.where(lik.first_step, 0.0, -np.expm1(-pr["hazard_below"]))
    u = rng.random(len(f_hi))
    return np.where(lik.ccd_censored, f_hi + u * (1.0 - f_hi),
                    np.where(lik.ccd_step > 0, f_lo + u * (f_hi - f_lo), f_hi))


def _uniform(u: np.ndarray, bins: int = BINS) -> dict[str, float]:
    counts = np.histogram(u, bins=bins, range=(0.0, 1.0))[0]
    e = len(u) / bins
    stat = float(np.sum((counts - e) ** 2) / e)
    return {"chi2": stat, "df": bins - 1, "p_value": _chi2_p(stat, bins - 1), "tests": float(len(u))}


def _events(exposure: np.ndarray, events: np.ndarray, order_by: np.ndarray) -> dict[str, float]:
    groups = _bins(order_by)
    stat = 0.0
    for g in groups:
        e = max(float(exposure[g].sum()), 1e-9)
        stat += (float(events[g].sum()) - e) ** 2 / e
    return {"chi2": stat, "df": len(groups), "p_value": _chi2_p(stat, len(groups)),
            "observed": float(events.sum()), "expected": float(exposure.sum())}


def check_model(cells: CellData, pf: Any, draws: int = 200, seed: int = 0) -> dict[str, Any]:
    """Held-out predictions of a parameter file (twin.calibration.paramfile.ParamFile)."""
    from twin.calibration.observe import PARAMETERS
    from twin.interface.params import InterfaceParams

    base = InterfaceParams.model_validate(pf.values)
    names = [k for k in pf.parameters if k in PARAMETERS]
    lik = Likelihood(cells, names, base, pf.reference_cycles)
    rng = np.random.default_rng(seed)
    sets = pf.draws(draws, seed)
    level = pf.level
    lo_q, hi_q = 0.5 * (1 - level), 0.5 * (1 + level)
    preds = [lik.predict(np.log([*(d[k] for k in names), *(pf.noise.get("void_sd", 0.02) for _ in lik.nuisance)]))
             for d in sets]
    out: dict[str, Any] = {"cells": cells.counts(), "draws": draws, "level": level}
    if len(lik.r_rows):
        s = pf.noise.get("r_int_log_sd", 0.0)
        logr = np.array([np.log(p["r_int_ohm_cm2"][lik.r_rows]) for p in preds])
        sim = logr + s * rng.standard_normal(logr.shape)
        lo, hi = np.quantile(sim, lo_q, axis=0), np.quantile(sim, hi_q, axis=0)
        median = np.median(logr, axis=0)
        out["r_int"] = {"coverage": float(np.mean((lik.log_r >= lo) & (lik.log_r <= hi))),
                        "log_bias": float(np.mean(lik.log_r - median)),
                        "relative_bias": float(np.mean(np.exp(lik.log_r - median)) - 1.0),
                        "measured": np.exp(lik.log_r).tolist(), "predicted": np.exp(median).tolist(),
                        "low": np.exp(lo).tolist(), "high": np.exp(hi).tolist()}
    if len(lik.v_rows):
        sd = pf.noise.get("void_sd", 0.02)
        v = np.array([p["void_fraction"][lik.v_rows] for p in preds])
        sim = np.maximum(v + sd * rng.standard_normal(v.shape), 0.0)
        lo, hi = np.quantile(sim, lo_q, axis=0), np.quantile(sim, hi_q, axis=0)
        y = cells.void[lik.v_rows]
        out["void"] = {"coverage": float(np.mean((y >= lo - 1e-12) & (y <= hi + 1e-12))),
                       "bias": float(np.mean(y - np.median(v, axis=0)))}
    if len(lik.s_rows):
        horizon = pf.reference_cycles
        cycles = cells.cycles[lik.s_rows]
        known = lik.s_short & (cycles <= horizon) | (cycles >= horizon)
        y = (lik.s_short & (cycles <= horizon)).astype(float)[known]
        p = np.mean([-np.expm1(-pr["hazard"][lik.s_rows] * horizon / pf.reference_cycles) for pr in preds], axis=0)
        p = np.clip(p[known], 1e-12, 1 - 1e-12)
        out["short"] = {"horizon_cycles": horizon, "cells": int(known.sum()),
                        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))),
                        "brier": float(np.mean((p - y) ** 2)), "observed_rate": float(y.mean()) if len(y) else math.nan,
                        "predicted_rate": float(p.mean()) if len(p) else math.nan,
                        "reliability": reliability(p, y)}
    if len(lik.ccd_rows):
        mean_pred = {k: np.mean([pr[k] for pr in preds], axis=0) for k in ("hazard_at_ccd", "hazard_below")}
        # the predictive CDF mixes the draws: average the CDFs, not the hazards
        mix = {k: -np.log(np.maximum(np.mean([np.exp(-pr[k]) for pr in preds], axis=0), 1e-300)) for k in mean_pred}
        u = ccd_pit(lik, mix, rng)
        out["ccd"] = {"coverage": float(np.mean((u >= lo_q) & (u <= hi_q))), "tests": int(len(lik.ccd_rows)),
                      "censored": int(lik.ccd_censored.sum())}
    return out


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Reliability diagram rows: mean predicted probability and observed frequency per bin of p."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        m = which == b
        if m.any():
            rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "cells": int(m.sum()),
                         "predicted": float(p[m].mean()), "observed": float(y[m].mean())})
    return rows
