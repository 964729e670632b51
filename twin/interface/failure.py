"""Critical current density and short probability.

Two competing electrochemical failure mechanisms while cycling, each with a critical current
density (CCD) on the nominal area, taken as the median of a Weibull distribution of modulus m
(the scatter of CCDs among nominally equal cells):

* plating: dendrites nucleate at flaws (pores, cracks) of the electrolyte; the denser the
  electrolyte the higher the CCD (Nat. Energy 2025: 9 mA/cm2 at 99% density; Porz et al.
  2017: flaw-controlled penetration);
* stripping: voids open in the Li when stripping outruns the Li supplied by creep under the
  stack pressure, and the next plating focuses current there (Kasemchainan et al. 2019:
  0.2 -> 1 mA/cm2 from 3 to 7 MPa).

Both are thermally activated through Li creep.  Independent weakest links add their hazards,
so the nominal CCD of the cell is (CCD_plating^-m + CCD_stripping^-m)^(-1/m).  A third,
mechanical, mechanism: at high stack pressure Li creeps into the electrolyte's pores and shorts
the cell without current (Doux et al. 2020), a Weibull in the stack pressure.
"""

from __future__ import annotations

import numpy as np

from .params import GAS_CONSTANT_J_MOL_K, InterfaceParams

ZERO_C_IN_K = 273.15
LN2 = float(np.log(2.0))


def creep_acceleration(temperature_c: np.ndarray, params: InterfaceParams) -> np.ndarray:
    """Arrhenius factor of Li creep relative to the CCD reference temperature (> 1 when warmer)."""
    inv_t = 1.0 / (temperature_c + ZERO_C_IN_K) - 1.0 / (params.ccd_ref_temperature_c + ZERO_C_IN_K)
    return np.exp(-params.ccd_activation_kj_mol * 1000.0 / GAS_CONSTANT_J_MOL_K * inv_t)


def density_factor(void_fraction: np.ndarray, params: InterfaceParams) -> np.ndarray:
    """Flaw-controlled strengthening with density: ((phi_ref + phi0) / (phi + phi0))^k (1 at phi_ref)."""
    phi0 = params.ccd_void_floor
    ratio = (params.ccd_plating_ref_void_fraction + phi0) / (np.asarray(void_fraction) + phi0)
    k = params.ccd_density_exponent
    return ratio if k == 1.0 else ratio**k


def plating_ccd_ma_cm2(void_fraction: np.ndarray, temperature_c: np.ndarray, params: InterfaceParams) -> np.ndarray:
    """Plating CCD of an electrolyte with this void fraction (relative density 1 - voids)."""
    return params.ccd_plating_ref_ma_cm2 * density_factor(void_fraction, params) * creep_acceleration(
        temperature_c, params)


def stripping_ccd_ma_cm2(stack_pressure_mpa: np.ndarray, temperature_c: np.ndarray,
                         params: InterfaceParams) -> np.ndarray:
    """Critical stripping current: Li supply by creep under the operating stack pressure."""
    ratio = np.asarray(stack_pressure_mpa) / params.ccd_stripping_ref_stack_mpa
    return params.ccd_stripping_ref_ma_cm2 * ratio**params.ccd_stack_exponent * creep_acceleration(
        temperature_c, params)


def inverse_plating_ccd(void_fraction: np.ndarray, acceleration: np.ndarray, params: InterfaceParams) -> np.ndarray:
    """1 / plating CCD (cm2/mA) with the creep acceleration precomputed: the fast model's form."""
    scale = 1.0 / (params.ccd_plating_ref_ma_cm2 * acceleration)
    k = params.ccd_density_exponent
    ratio = (np.asarray(void_fraction) + params.ccd_void_floor) / (
        params.ccd_plating_ref_void_fraction + params.ccd_void_floor)
    return scale * (ratio if k == 1.0 else ratio**k)


def combined_ccd_ma_cm2(plating: np.ndarray, stripping: np.ndarray, modulus: float) -> np.ndarray:
    """Nominal CCD of two competing Weibull mechanisms of the same modulus."""
    with np.errstate(divide="ignore"):
        return (plating ** -modulus + stripping ** -modulus) ** (-1.0 / modulus)


def li_creep_hazard(stack_pressure_mpa: np.ndarray, void_fraction: np.ndarray, params: InterfaceParams) -> np.ndarray:
    """Cumulative hazard of a mechanical short by Li creeping into the pores (Doux et al. 2020):
    (p_stack / p_c)^m_c, with p_c rising with density like the plating CCD (fewer, smaller pores)."""
    p_c = params.li_creep_short_stack_mpa * density_factor(void_fraction, params) / density_factor(
        np.asarray(params.li_creep_short_ref_void_fraction), params)
    return (np.asarray(stack_pressure_mpa) / p_c) ** params.li_creep_short_modulus


def short_probability(hazard: np.ndarray) -> np.ndarray:
    """1 - exp(-H) for a cumulative hazard H (0 <= P < 1, monotone in H)."""
    return -np.expm1(-hazard)


def weibull_hazard(local_current_ma_cm2: np.ndarray, ccd_ma_cm2: np.ndarray, modulus: float) -> np.ndarray:
    """ln 2 (J / CCD)^m: the CCD is the median (P = 0.5) of a uniform interface."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(local_current_ma_cm2 > 0, local_current_ma_cm2 / ccd_ma_cm2, 0.0)
    return LN2 * (x * x * x if modulus == 3.0 else x**modulus)
