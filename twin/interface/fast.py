"""The fast interface-quality model: measured pressure and flatness -> contact fraction,
voids, interfacial resistance, hot-spot factor, short probability and a decision.

Closed forms, vectorised over any broadcastable numpy arrays:
- rough contact: A = erf(sqrt(pi)/2 kappa pn) (slope kappa at small pn, kappa from the exact
  solver), combined with hardness-capped plastic flow A >= p/H, where the effective hardness
  falls with hold time and temperature (indentation creep);
- waviness closes at p* = pi E* W / lambda: the macro contact share is (2/pi) arcsin(sqrt(p/p*));
- the spatial pressure map is lognormal with the given CV: the mean contact is its
  expectation (Gauss-Hermite), the worst region is its low quantile;
- constriction resistance from the gap-pressure relation (Barber): r_c = E* rho / (2K);
- short risk: Weibull in J hotspot / CCD, with the CCD falling as contact is lost.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from twin.interface.params import InterfaceParams

GAS_CONSTANT_J_MOL_K = 8.314462618
KELVIN = 273.15
INPUTS = ("pressure_mpa", "pressure_cv", "hold_s", "temperature_c", "sq_um", "sdq", "pv_um", "waviness_um",
          "waviness_mm", "current_ma_cm2")
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(7)
_GH_W = _GH_W / _GH_W.sum()


def _check(name: str, x: np.ndarray, positive: bool = False) -> None:
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: must be finite numbers")
    if np.any(x < 0) or (positive and np.any(x <= 0)):
        raise ValueError(f"{name}: must be {'> 0' if positive else '>= 0'}")


def effective_hardness_mpa(hold_s, temperature_c, params: InterfaceParams):
    """Creep-softened hardness: H_ref (t/t_ref)^(-1/n) exp(Q/(nR) (1/T - 1/T_ref))."""
    n = params.creep_stress_exponent
    t = np.maximum(hold_s, params.hardness_ref_hold_s)
    q = params.creep_activation_kj_mol * 1000.0 / (n * GAS_CONSTANT_J_MOL_K)
    inv_t = 1.0 / (np.asarray(temperature_c) + KELVIN) - 1.0 / (params.hardness_ref_temperature_c + KELVIN)
    return params.hardness_ref_mpa * (t / params.hardness_ref_hold_s) ** (-1.0 / n) * np.exp(q * inv_t)


def rough_contact(pressure_mpa, sdq, hardness_mpa, params: InterfaceParams):
    """Contact fraction of a rough surface at nominal pressure p (elastic with hardness cap)."""
    e_star = params.effective_modulus_mpa
    pn = pressure_mpa / (e_star * np.maximum(sdq, 1e-9))
    elastic = erf(0.5 * np.sqrt(np.pi) * params.contact_slope_kappa * pn)
    plastic = np.minimum(pressure_mpa / hardness_mpa, 1.0)
    return 1.0 - (1.0 - elastic) * (1.0 - plastic)


def contact_at(pressure_mpa, sdq, waviness_um, waviness_mm, hardness_mpa, params: InterfaceParams):
    """Contact fraction including waviness: rough contact inside the closed part of the wave."""
    e_star = params.effective_modulus_mpa
    p_close = np.pi * e_star * waviness_um / np.maximum(waviness_mm * 1000.0, 1e-9)
    share = np.where(p_close > 0, (2.0 / np.pi) * np.arcsin(np.sqrt(np.clip(pressure_mpa / np.maximum(p_close, 1e-12), 0, 1))), 1.0)
    share = np.maximum(share, 1e-6)
    return share * rough_contact(pressure_mpa / share, sdq, hardness_mpa, params), share


def evaluate(pressure_mpa, pressure_cv, hold_s, temperature_c, sq_um, sdq, pv_um, waviness_um, waviness_mm,
             current_ma_cm2, params: InterfaceParams | None = None, policy=None) -> dict[str, np.ndarray]:
    """Interface quality of cells; inputs are broadcastable arrays in the named units."""
    params = params or InterfaceParams()
    arrays = {k: np.asarray(v, dtype=float) for k, v in zip(INPUTS, (
        pressure_mpa, pressure_cv, hold_s, temperature_c, sq_um, sdq, pv_um, waviness_um, waviness_mm, current_ma_cm2))}
    for k, v in arrays.items():
        if k != "temperature_c":
            _check(k, v, positive=k in ("sdq", "waviness_mm"))
    _check("temperature_c + 273.15", arrays["temperature_c"] + KELVIN, positive=True)
    a = np.broadcast_arrays(*arrays.values())
    p, cv, hold, temp, sq, slope, pv, wav, wav_mm, current = a
    hard = effective_hardness_mpa(hold, temp, params)
    # lognormal pressure map with the given CV, unit mean
    sigma = np.sqrt(np.log1p(cv**2))
    mu = -0.5 * sigma**2
    mean_contact = np.zeros_like(p)
    for x, w in zip(_GH_X, _GH_W):
        c, _ = contact_at(p * np.exp(mu + sigma * x), slope, wav, wav_mm, hard, params)
        mean_contact += w * c
    z = params.worst_region_z
    p_low = p * np.exp(mu - z * sigma)
    p_high = p * np.exp(mu + z * sigma)
    contact_min, share_min = contact_at(p_low, slope, wav, wav_mm, hard, params)
    contact_high, _ = contact_at(p_high, slope, wav, wav_mm, hard, params)
    contact_min = np.minimum(contact_min, mean_contact)
    # gap-pressure relation u = a Sq ln(b/pn) -> stiffness K = p / (a Sq); r_c = E* rho / (2K)
    e_star = params.effective_modulus_mpa
    pn = p / (e_star * slope)
    gap_um = np.where(mean_contact < 1.0, params.gap_log_a * sq * np.log(np.maximum(params.gap_log_b / np.maximum(pn, 1e-12), 1.0)), 0.0)
    r_c = e_star * params.resistivity_ohm_cm * params.gap_log_a * sq * 1e-4 / (2.0 * np.maximum(p, 1e-9)) * (1.0 - mean_contact)
    r_int = params.rct_ohm_cm2 / np.maximum(mean_contact, 1e-6) + r_c
    # hot spots: current crowding into well-pressed regions, unclosed waviness, protrusions
    crowding = np.maximum(contact_high / np.maximum(mean_contact, 1e-6), 1.0)
    waviness = 1.0 + params.waviness_gain * (1.0 - share_min)
    peaks = 1.0 + params.peak_gain_per_um * pv * slope
    hotspot = crowding * waviness * peaks / np.maximum(contact_min, 1e-6) ** 0.5
    ccd = params.ccd_dense_ma_cm2 * np.maximum(contact_min, 1e-6) ** params.ccd_contact_exponent
    p_short = -np.expm1(-((current * hotspot / ccd) ** params.short_weibull_shape))
    out = {
        "contact_fraction": mean_contact,
        "contact_fraction_min": contact_min,
        "void_fraction": 1.0 - mean_contact,
        "mean_gap_um": gap_um,
        "r_int_ohm_cm2": r_int,
        "hotspot_factor": hotspot,
        "p_short": p_short,
    }
    from twin.disposition import DispositionPolicy, decide

    out["decision"] = decide(out, pv, policy or DispositionPolicy())
    return out
