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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import ndtri

from .params import GAS_CONSTANT_J_MOL_K, InterfaceParams, load_params

if TYPE_CHECKING:
    from twin.disposition import DispositionPolicy

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")
INPUTS = (
    "pressure_mpa",
    "pressure_cv",
    "hold_s",
    "temperature_c",
    "sq_um",
    "sdq",
    "pv_um",
    "waviness_um",
    "waviness_mm",
    "current_ma_cm2",
)
# name -> (lower bound, bound is strict)
_BOUNDS: dict[str, tuple[float, bool]] = {
    "pressure_mpa": (0.0, False),
    "pressure_cv": (0.0, False),
    "hold_s": (0.0, False),
    "temperature_c": (-273.15, True),
    "sq_um": (0.0, True),
    "sdq": (0.0, True),
    "pv_um": (0.0, False),
    "waviness_um": (0.0, False),
    "waviness_mm": (0.0, True),
    "current_ma_cm2": (0.0, False),
}
CHUNK = 32768
OUTPUTS = (
    "contact_fraction",
    "contact_fraction_min",
    "void_fraction",
    "r_int_ohm_cm2",
    "hotspot_factor",
    "p_short",
)


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


def _validate(arrays: dict[str, Any]) -> list[np.ndarray]:
    """Check names, finiteness and bounds; return float arrays broadcast to one shape."""
    missing = [k for k in INPUTS if k not in arrays]
    extra = [k for k in arrays if k not in INPUTS]
    if missing or extra:
        raise ValueError(f"interface inputs: missing {missing}, unknown {extra}")
    out = []
    for name in INPUTS:
        try:
            a = np.asarray(arrays[name], dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: not numeric ({exc})") from None
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: must be finite (got NaN or inf)")
        lo, strict = _BOUNDS[name]
        bad = a <= lo if strict else a < lo
        if np.any(bad):
            rel = ">" if strict else ">="
            raise ValueError(f"{name}: must be {rel} {lo} (got {a[bad].flat[0]})")
        out.append(a)
    try:
        return list(np.broadcast_arrays(*out))
    except ValueError as exc:
        raise ValueError(f"interface inputs do not broadcast: {exc}") from None


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
    out = {k: np.empty(size) for k in OUTPUTS}
    for i in range(0, size, CHUNK):
        block = _quality_block(**{k: v[i : i + CHUNK] for k, v in flat.items()}, params=params)
        for k in OUTPUTS:
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
    p_min = pressure_mpa * np.exp(sig * ndtri(params.pressure_map_quantile) - 0.5 * sig2)
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


def evaluate(
    *,
    params: InterfaceParams | None = None,
    policy: DispositionPolicy | None = None,
    **arrays: Any,
) -> dict[str, np.ndarray]:
    """Evaluate the interface-quality model for broadcastable arrays of cells (contract).

    Inputs (named units): pressure_mpa, pressure_cv, hold_s, temperature_c, sq_um, sdq,
    pv_um, waviness_um, waviness_mm, current_ma_cm2.  Returns contact_fraction,
    contact_fraction_min, void_fraction, r_int_ohm_cm2, hotspot_factor, p_short and decision
    (0 accept, 1 rework, 2 reject under ``policy``, for a cell not yet reworked).
    """
    from twin.disposition import DispositionPolicy, decide

    inputs = dict(zip(INPUTS, _validate(arrays)))
    params = params or load_params()
    policy = policy or DispositionPolicy()
    out = quality(**inputs, params=params)
    out["decision"] = decide(inputs, out, np.zeros(out["p_short"].shape), policy, params, np.inf)[0]
    return out
