"""Closed forms of the interface mechanics: rough contact, creep hardness, waviness closure.

Each function is vectorised over cells and takes its coefficients as arguments (from
``calibration.json`` or ``materials.yaml``), so the same code serves the fast model, the
calibration tools and the literature checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .params import GAS_CONSTANT_J_MOL_K, InterfaceParams

ZERO_C_IN_K = 273.15


def _power_mean(a: np.ndarray, b: np.ndarray, m: int) -> np.ndarray:
    """(a^m + b^m)^(1/m) for m in 2, 3, 4 by multiplications and roots (fast paths)."""
    if m == 2:
        return np.sqrt(a * a + b * b)
    if m == 3:
        return np.cbrt(a * a * a + b * b * b)
    a2, b2 = a * a, b * b
    return np.sqrt(np.sqrt(a2 * a2 + b2 * b2))


def rough_contact_fraction(pn: np.ndarray, x: np.ndarray, coef: dict[str, Any]) -> np.ndarray:
    """Contact fraction of a rough interface, elastic-plastic closed form (fitted to the exact solver).

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


def sdq_at_cutoff(sdq: np.ndarray, cutoff_um: np.ndarray, reference_cutoff_um: float, hurst: float) -> np.ndarray:
    """RMS slope rescaled from the measurement's short-wavelength cut-off to the model's reference.

    For a self-affine surface Sdq ~ lambda_s^(H-1): a finer cut-off sees steeper slopes
    (PHYSICS.md: roughness parameters depend on the bandwidth)."""
    return sdq * (cutoff_um / reference_cutoff_um) ** (1.0 - hurst)


def effective_hardness_mpa(
    pressure_mpa: np.ndarray, hold_s: np.ndarray, temperature_c: np.ndarray, params: InterfaceParams
) -> np.ndarray:
    """Effective hardness of the electrolyte after a hold: the creep hardness, at most the
    instantaneous flow pressure (short holds are limited by plasticity, not creep)."""
    return np.minimum(creep_law_mpa(pressure_mpa, hold_s, temperature_c, params), params.yield_hardness_mpa)


def creep_law_mpa(
    pressure_mpa: np.ndarray, hold_s: np.ndarray, temperature_c: np.ndarray, params: InterfaceParams
) -> np.ndarray:
    """Creep hardness p/A of the asperity contacts after a hold at pressure p (uncapped).

    Power-law creep of the asperity contacts (strain rate ~ (sigma/sigma0)^n on spots of a
    fixed lateral scale, sigma = p/A) integrates at constant p to A^(n+1) ~ p^n t exp(-Q/RT),
    i.e. an effective hardness H = p/A ~ p^(1/(n+1)) t^(-1/(n+1)) exp(Q/((n+1)RT)) (the
    indentation-creep form of PHYSICS.md with the stress dependence kept).  n, the reference
    hardness and Q are fitted to the literature table (tools/fit_literature.py)."""
    k = 1.0 / (params.creep_stress_exponent + 1.0)
    t_eff = (hold_s + params.hold_ramp_s) / params.creep_ref_hold_s
    inv_t = 1.0 / (temperature_c + ZERO_C_IN_K) - 1.0 / (params.creep_ref_temperature_c + ZERO_C_IN_K)
    q_over_r = params.creep_activation_kj_mol * 1000.0 / GAS_CONSTANT_J_MOL_K
    ratio = np.maximum(pressure_mpa, 1e-300) / params.creep_ref_pressure_mpa
    return params.creep_hardness_ref_mpa * np.exp(k * (np.log(ratio) - np.log(t_eff) + q_over_r * inv_t))


def wave_closure_pressure_mpa(e_star_mpa: float, waviness_um: np.ndarray, waviness_mm: np.ndarray) -> np.ndarray:
    """Pressure that flattens a sinusoidal wave of amplitude W and wavelength lambda:
    p* = pi E* W / lambda (Johnson, Contact Mechanics, ch. 13)."""
    return np.pi * e_star_mpa * waviness_um / (waviness_mm * 1000.0)


def wave_contact(pressure_mpa: np.ndarray, p_star_mpa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contact share of a 1-D wave and its crest pressure (Westergaard / Johnson ch. 13).

    Below closure (p < p*) the wave touches on bands of share (2/pi) arcsin sqrt(p/p*) whose
    peak pressure is 2 sqrt(p p*); once closed the pressure is p + p* cos(2 pi x / lambda),
    so the crest carries p + p*.  Returns (share, crest pressure)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(p_star_mpa > 0, pressure_mpa / p_star_mpa, np.inf)
        if np.all(ratio >= 1.0):  # every wave closed: the common case, no arcsin needed
            return np.ones_like(ratio), pressure_mpa + p_star_mpa
        closed = ratio >= 1.0
        share = np.where(closed, 1.0, (2.0 / np.pi) * np.arcsin(np.sqrt(np.minimum(ratio, 1.0))))
        crest = np.where(closed, pressure_mpa + p_star_mpa, 2.0 * np.sqrt(pressure_mpa * p_star_mpa))
    return share, crest
