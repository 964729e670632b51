"""The calibration tables of the closed forms (calibration.json) and their fast-vs-exact errors.

calibration.json is written by tools/calibrate_interface.py: the coefficients of the contact,
spreading and micro hot-spot closed forms and the seed-averaged exact points they were fitted
to.  ``error_tables`` prints the fast-vs-exact comparison (the calibration tool, the benchmark
and the tests use the same function).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .contact import rough_contact_fraction
from .transport import micro_hotspot_factor, spreading_shape, uniformity_gain

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
BETA = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # L_ct / (Sq/Sdq) of the exact current solves
PHYSICAL_BETA = (3.0, 10.0, 30.0, 100.0)  # L_ct = 20-200 um over Sq/Sdq = 2-7 um (PHYSICS.md)


@lru_cache(maxsize=4)
def load_calibration(path: str | None = None) -> dict[str, Any]:
    """Coefficients and exact points written by tools/calibrate_interface.py."""
    with open(path or CALIBRATION_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def regime_inputs(points: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pn, p/H, exact contact fraction) of the stored points."""
    pn = np.array([p["pn"] for p in points])
    hn = np.array([np.inf if p["hn"] is None else p["hn"] for p in points])
    return pn, pn / hn, np.array([p["contact_fraction"] for p in points])


def flat(points: list[dict], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(area, beta, value) over every point and beta."""
    area = np.repeat([p["contact_fraction"] for p in points], len(BETA))
    beta = np.tile(BETA, len(points))
    return area, beta, np.concatenate([p[key] for p in points])


def _rows(label_masks: list[tuple[str, np.ndarray]], err: np.ndarray) -> list[str]:
    return [f"  {label:<22}{mask.sum():>7}{err[mask].max():>10.4f}{err[mask].mean():>10.4f}"
            for label, mask in label_masks if mask.any()]


def error_tables(points: list[dict], coef: dict) -> str:
    """Fast-vs-exact tables: contact fraction, spreading, gain, micro hot spot, total R_int."""
    pn, x, area = regime_inputs(points)
    hn = np.array([np.inf if p["hn"] is None else p["hn"] for p in points])
    head = f"  {'regime':<22}{'points':>7}{'max':>10}{'mean':>10}"
    regimes = [("elastic", np.isinf(hn)), ("plastic", ~np.isinf(hn)), ("all", np.ones_like(hn, bool))]
    out = ["contact fraction |fast - exact|", head]
    out += _rows(regimes, np.abs(rough_contact_fraction(pn, x, coef["contact"]) - area))
    c = np.array([p["spreading"] for p in points])
    out += ["spreading resistance, equipotential spots |fast/exact - 1|", head]
    out += _rows(regimes, np.abs(spreading_shape(area, coef["spreading"]) / c - 1.0))
    barber = np.array([p["barber_ratio"] for p in points if p["barber_ratio"] is not None])
    out.append(f"  Barber check (elastic): exact r_c / (E* rho / 2K) = {barber.min():.4f} .. {barber.max():.4f}")
    a_f, b_f, phi = flat(points, "phi")
    _, _, q99 = flat(points, "q99")
    hn_f = np.repeat(hn, len(BETA))
    phys = np.isin(b_f, PHYSICAL_BETA)
    by_beta = [("beta 0.1-1", b_f <= 1.0), ("beta 3-100 (physical)", phys),
               ("  of which plastic", phys & ~np.isinf(hn_f)), ("all", np.ones_like(b_f, bool))]
    out += ["charge-transfer gain phi |fast/exact - 1|", head]
    out += _rows(by_beta, np.abs(uniformity_gain(b_f, a_f, coef["spreading"]) / phi - 1.0))
    out += ["micro hot-spot factor (q99/mean on the spots) |fast - exact|", head]
    out += _rows(by_beta, np.abs(micro_hotspot_factor(b_f, a_f, coef["micro_hotspot"]) - q99))
    c_f = np.repeat(c, len(BETA))
    exact_r = b_f / a_f + c_f * phi  # r / (rho Sq/Sdq): R_ct/A + spreading
    fast_r = b_f / a_f + spreading_shape(a_f, coef["spreading"]) * uniformity_gain(b_f, a_f, coef["spreading"])
    out += ["interfacial resistance R_ct/A + spreading |fast/exact - 1|", head]
    out += _rows(by_beta, np.abs(fast_r / exact_r - 1.0))
    return "\n".join(out)
