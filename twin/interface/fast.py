"""Fast closed-form interface-quality model, vectorised over cells.

Per cell: the measured hold pressure, its spatial CV, hold time and temperature, and the
collector flatness give the contact fraction (mean and worst region), the void fraction,
the interfacial resistance, a hot-spot factor and a short probability.  The rough-contact
closed form is calibrated against the exact solver in ``reference.py``; its coefficients
are read from ``calibration.json`` and the material constants from ``materials.yaml``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from statistics import NormalDist
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from .model import Quantity
from .params import GAS_CONSTANT_J_MOL_K, InterfaceParams

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
INPUTS: tuple[Quantity, ...] = (
    Quantity("pressure_mpa", "achieved hold pressure on the cell", low=0.0),
    Quantity("pressure_cv", "spatial coefficient of variation of the pressure over the cell", low=0.0),
    Quantity("hold_s", "cumulative hold time at pressure", low=0.0),
    Quantity("temperature_c", "hold temperature", low=-273.15, low_inclusive=False),
    Quantity("sq_um", "collector RMS height", low=0.0, low_inclusive=False),
    Quantity("sdq", "collector RMS slope", low=0.0, low_inclusive=False),
    Quantity("pv_um", "collector peak-to-valley height", low=0.0),
    Quantity("waviness_um", "waviness amplitude", low=0.0),
    Quantity("waviness_mm", "waviness wavelength", low=0.0, low_inclusive=False),
    Quantity("current_ma_cm2", "plating current density", low=0.0),
)
CHUNK = 32768
OUTPUTS: tuple[Quantity, ...] = (
    Quantity("contact_fraction", "mean contact fraction A/A0 over the pressure map", 0.0, 1.0),
    Quantity("contact_fraction_min", "contact fraction of the low-pressure region of the map", 0.0, 1.0),
    Quantity("void_fraction", "interfacial void fraction 1 - A/A0", 0.0, 1.0),
    Quantity("r_int_ohm_cm2", "interfacial resistance", 0.0),
    Quantity("hotspot_factor", "local over mean current density at the worst spot", 1.0),
    Quantity("p_short", "probability of a short while plating", 0.0, 1.0),
)
OUTPUT_NAMES = tuple(q.name for q in OUTPUTS)


@lru_cache(maxsize=4)
def load_calibration(path: str | None = None) -> dict[str, Any]:
    """Coefficients written by tools/calibrate_interface.py."""
    with open(path or CALIBRATION_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def _power_mean(a: np.ndarray, b: np.ndarray, m: int) -> np.ndarray:
    """(a^m + b^m)^(1/m) for m in 2, 3, 4 by multiplications and roots (fast paths)."""
    if m == 2:
        return np.sqrt(a * a + b * b)
    if m == 3:
        return np.cbrt(a * a * a + b * b * b)
    a2, b2 = a * a, b * b
    return np.sqrt(np.sqrt(a2 * a2 + b2 * b2))


def rough_contact_fraction(pn: np.ndarray, x: np.ndarray, coef: dict[str, Any]) -> np.ndarray:
    """Contact fraction of a rough interface, elastic-plastic closed form.

    pn = p/(E* Sdq) drives elastic contact, u_e = a1 pn + a2 pn^2 + a3 pn^3 with
    A = 1 - exp(-u); x = p/H drives plastic flow, u_p = -c ln(1 - x) (A -> p/H when fully
    plastic, 1 at x >= 1).  The two combine as a power mean u = (u_e^m + u_p^m)^(1/m).
    """
    a1, a2, a3 = coef["poly"]
    c = coef["plastic_weight"]
    u_e = pn * (a1 + pn * (a2 + pn * a3))
    u_p = -c * np.log1p(-np.minimum(x, 1.0 - 1e-12))
    u = _power_mean(u_e, u_p, int(coef["mix_exponent"]))
    return np.where(x >= 1.0, 1.0, -np.expm1(-u))


def stiffness_ratio(area: np.ndarray, coef: dict[str, Any]) -> np.ndarray:
    """Dimensionless contact stiffness K Sq / p = exp(c0 + c2 A) (1 - A)^(-c1)."""
    void = np.maximum(1.0 - area, 1e-12)
    return np.exp(coef["c0"] + coef["c2"] * area - coef["c1"] * np.log(void))


def effective_hardness_mpa(
    hold_s: np.ndarray, temperature_c: np.ndarray, params: InterfaceParams
) -> np.ndarray:
    """Indentation-creep hardness H ~ t^(-1/n) exp(Q/(nRT)): longer, warmer holds soften."""
    n = params.creep_exponent
    t_eff = (hold_s + params.hold_ramp_s) / params.hardness_ref_hold_s
    inv_t = 1.0 / (temperature_c + 273.15) - 1.0 / (params.hardness_ref_temperature_c + 273.15)
    q_over_r = params.creep_activation_kj_mol * 1000.0 / GAS_CONSTANT_J_MOL_K
    return params.hardness_ref_mpa * t_eff ** (-1.0 / n) * np.exp(q_over_r / n * inv_t)


def _local(
    p: np.ndarray,
    e_star: float,
    hard: np.ndarray,
    sq: np.ndarray,
    sdq: np.ndarray,
    p_wave: np.ndarray,
    params: InterfaceParams,
    cal: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Contact fraction and interfacial resistance at a local pressure p.

    Waviness closes first (Johnson: A_w = (2/pi) arcsin sqrt(p/p*)); roughness then sees the
    band pressure p/A_w.  Resistance = R_ct/A + Barber constriction E* rho / (2K).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        a_w = np.where(p >= p_wave, 1.0, (2.0 / np.pi) * np.arcsin(np.sqrt(p / p_wave)))
        p_band = np.where(a_w > 0, p / a_w, 0.0)
        a_r = rough_contact_fraction(p_band / (e_star * sdq), p_band / hard, cal["contact"])
        area = a_w * a_r
        k = stiffness_ratio(a_r, cal["stiffness"]) * p_band / sq  # MPa/um
        r_c = e_star * params.electrolyte_resistivity_ohm_cm * 1e-4 / (2.0 * k)
        r = np.where(area > 0, params.r_ct_ohm_cm2 / area + r_c, np.inf)
    return area, r


@lru_cache(maxsize=16)
def _nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / w.sum()


def quality(params: InterfaceParams, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    """All outputs except the decision, for validated arrays of one shape.

    Large inputs are processed in cache-sized chunks: numpy elementwise chains run several
    times faster when their temporaries stay in cache.
    """
    shape = np.shape(inputs["pressure_mpa"])
    size = int(np.prod(shape))
    if size <= CHUNK:
        return _quality_block(**inputs, params=params)
    flat = {k: np.ravel(v) for k, v in inputs.items()}
    out = {k: np.empty(size) for k in OUTPUT_NAMES}
    for i in range(0, size, CHUNK):
        block = _quality_block(**{k: v[i : i + CHUNK] for k, v in flat.items()}, params=params)
        for k in OUTPUT_NAMES:
            out[k][i : i + CHUNK] = block[k]
    return {k: v.reshape(shape) for k, v in out.items()}


def _quality_block(
    pressure_mpa: np.ndarray,
    pressure_cv: np.ndarray,
    hold_s: np.ndarray,
    temperature_c: np.ndarray,
    sq_um: np.ndarray,
    sdq: np.ndarray,
    pv_um: np.ndarray,
    waviness_um: np.ndarray,
    waviness_mm: np.ndarray,
    current_ma_cm2: np.ndarray,
    params: InterfaceParams,
) -> dict[str, np.ndarray]:
    """Outputs except the decision for one block of cells."""
    cal = load_calibration()
    e_star = params.e_star_mpa
    hard = effective_hardness_mpa(hold_s, temperature_c, params)
    p_wave = np.pi * e_star * waviness_um / (waviness_mm * 1000.0)
    sig2 = np.log1p(pressure_cv**2)
    sig = np.sqrt(sig2)
    args = (e_star, hard, sq_um, sdq, p_wave, params, cal)

    z, w = _nodes(params.quadrature_nodes)
    area_mean = np.zeros_like(pressure_mpa)
    conductance = np.zeros_like(pressure_mpa)
    for zi, wi in zip(z, w):
        a_i, r_i = _local(pressure_mpa * np.exp(sig * zi - 0.5 * sig2), *args)
        area_mean += wi * a_i
        conductance += wi / r_i
    p_min = pressure_mpa * np.exp(sig * NormalDist().inv_cdf(params.pressure_map_quantile) - 0.5 * sig2)
    a_min, _ = _local(p_min, *args)

    peak = np.maximum(pv_um - params.peak_free_sq_multiple * sq_um, 0.0)
    hotspot = (
        (1.0 + params.hotspot_map_per_cv * pressure_cv)
        * (1.0 + params.hotspot_void_edge * (1.0 - a_min))
        * (1.0 + 2.0 * np.pi * waviness_um / (waviness_mm * 1000.0))
        * (1.0 + params.hotspot_slope_per_sdq * sdq)
        * (1.0 + params.hotspot_peak_per_um * peak)
    )
    ccd = params.ccd_max_ma_cm2 * -np.expm1(-p_min / params.ccd_pressure_scale_mpa)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ccd > 0, current_ma_cm2 * hotspot / ccd, np.inf)
        ratio = np.where(current_ma_cm2 > 0, ratio, 0.0)
        r_int = np.where(conductance > 0, 1.0 / conductance, np.inf)
    p_short = -np.expm1(-(ratio**params.short_weibull_modulus))
    return {
        "contact_fraction": area_mean,
        "contact_fraction_min": a_min,
        "void_fraction": 1.0 - area_mean,
        "r_int_ohm_cm2": r_int,
        "hotspot_factor": hotspot,
        "p_short": p_short,
    }


class FastModel:
    """The shipped interface model: the calibrated closed form of this module."""

    name: str = "fast"
    inputs: tuple[Quantity, ...] = INPUTS
    outputs: tuple[Quantity, ...] = OUTPUTS
    params_type: type[BaseModel] = InterfaceParams

    def evaluate(self, params: Any, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for validated arrays of one shape."""
        return quality(params, **arrays)


FAST_MODEL = FastModel()
