"""Closed forms of the current through the interface: resistance and hot-spot factors.

The interfacial resistance of a contact is charge transfer over the real contact plus the
spreading (constriction) of the ionic current over the voids,

    r = R_ct / A + rho (Sq/Sdq) c(A) phi(beta, A),      beta = L_ct / (Sq/Sdq),  L_ct = R_ct/rho,

where rho (Sq/Sdq) c(A) is the constriction of the contact set with equipotential spots (Holm
and Barber's r_c = E* rho / (2K)) and phi >= 1 its growth when charge transfer makes the
current on the spots uniform.  c, phi and the micro hot-spot factor (99th percentile of the
local current density on the spots over its mean) are fitted to the exact current solver
(twin.interface.current) by tools/calibrate_interface.py.  In the R_ct-dominated limit
(beta >> 1, micro-contacts far smaller than L_ct) r -> R_ct / A: the current spreads evenly
over the micro-voids and only the contact share matters (arXiv:2501.00600, exponent -1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

UM_PER_CM = 1.0e4


def spreading_shape(area: np.ndarray, coef: dict[str, Any]) -> np.ndarray:
    """c(A) = r_spread / (rho Sq/Sdq) with equipotential spots: A^d1 (1-A)^d2 exp(d0 + d3 A) (0 at A = 1)."""
    d0, d1, d2, d3 = coef["shape"]
    a = np.clip(area, 1e-12, 1.0)
    with np.errstate(divide="ignore"):
        return np.exp(d0 + d3 * a + d1 * np.log(a) + d2 * np.log1p(-a))


def gain_weight(beta: np.ndarray, coef: dict[str, Any]) -> np.ndarray:
    """beta^k / (beta^k + b^k): how far charge transfer has evened the current over the spots (0..1)."""
    bk = beta ** coef["gain_exponent"]
    return bk / (bk + coef["gain_beta"] ** coef["gain_exponent"])


def uniformity_gain(beta: np.ndarray, area: np.ndarray, coef: dict[str, Any]) -> np.ndarray:
    """phi = 1 + (phi_inf(A) - 1) beta^k / (beta^k + b^k): the spreading resistance grows as charge
    transfer evens the current over the spots (1 for equipotential spots, phi_inf for uniform flux)."""
    e0, e1 = coef["gain_inf"]
    return 1.0 + np.exp(e0 + e1 * area) * gain_weight(beta, coef)


def micro_weight(beta: np.ndarray, coef: dict[str, Any]) -> np.ndarray:
    """1 / (1 + (beta/b)^k): the share of the equipotential-spot current peaks left by charge transfer."""
    return 1.0 / (1.0 + (beta / coef["beta"]) ** coef["exponent"])


def micro_beta(charge_transfer_length_um: float, cutoff_um: float, coef: dict[str, Any]) -> float:
    """beta of the micro-contacts: L_ct over the spot scale, which the short-wavelength cut-off sets
    (Sq/Sdq = spot_over_cutoff x lambda_s on the calibration surfaces).  The micro-contacts are the
    finest features in contact, so their current uniformity does not depend on Sq or Sdq."""
    return charge_transfer_length_um / (coef["spot_over_cutoff"] * cutoff_um)


def micro_hotspot_factor(beta: np.ndarray, area: np.ndarray, coef: dict[str, Any]) -> np.ndarray:
    """99th-percentile over mean current density on the micro-contacts:
    1 + exp(g0 + g1 A) (1-A)^g2 / (1 + (beta/b)^k) (1 at full contact or beta -> inf; g1 <= g2, so
    it never falls as the contact share falls)."""
    g0, g1, g2 = coef["amplitude"]
    a = np.clip(area, 0.0, 1.0)
    return 1.0 + np.exp(g0 + g1 * a) * (1.0 - a) ** g2 * micro_weight(beta, coef)


def spreading_resistance_ohm_cm2(
    area: np.ndarray, length_um: np.ndarray, beta: np.ndarray, resistivity_ohm_cm: float, coef: dict[str, Any]
) -> np.ndarray:
    """Spreading resistance of the ionic current over the voids of a contact of share ``area``."""
    scale = resistivity_ohm_cm * length_um / UM_PER_CM
    return scale * spreading_shape(area, coef) * uniformity_gain(beta, area, coef)


def contact_resistance_ohm_cm2(
    area: np.ndarray, length_um: np.ndarray, beta: np.ndarray, r_ct_ohm_cm2: float, resistivity_ohm_cm: float,
    coef: dict[str, Any],
) -> np.ndarray:
    """R_ct / A + spreading over the voids, for a micro-contact share ``area`` (inf at A = 0)."""
    with np.errstate(divide="ignore"):
        ct = np.where(area > 0, r_ct_ohm_cm2 / np.maximum(area, 1e-300), np.inf)
    return ct + spreading_resistance_ohm_cm2(area, length_um, beta, resistivity_ohm_cm, coef)


def contact_resistance_fast(
    area: np.ndarray, spread_scale_ohm_cm2: np.ndarray, w_gain: np.ndarray, r_ct_ohm_cm2: float,
    spreading: dict[str, Any],
) -> np.ndarray:
    """contact_resistance_ohm_cm2 with the per-cell parts precomputed (rho Sq/Sdq and the beta weight
    gain_weight): the fast model's inner loop."""
    d0, d1, d2, d3 = spreading["shape"]
    e0, e1 = spreading["gain_inf"]
    a = np.clip(area, 1e-12, 1.0)
    with np.errstate(divide="ignore"):
        spread = spread_scale_ohm_cm2 * np.exp(d0 + d3 * a + d1 * np.log(a) + d2 * np.log1p(-a)) * (
            1.0 + np.exp(e0 + e1 * a) * w_gain)
    return r_ct_ohm_cm2 / a + spread


def spheroid_field_enhancement(aspect: np.ndarray) -> np.ndarray:
    """Tip field over the far field of a conducting half-spheroid on a conducting plane, aspect
    m = height / base radius: 1/N with N its depolarisation factor along the axis (prolate m > 1,
    oblate m < 1); 3 for a hemisphere, 1 for a flat disc, ~m^2/(ln 2m - 1) for a needle."""
    m = np.maximum(np.asarray(aspect, dtype=float), 1e-9)
    out = np.full(m.shape, 3.0)
    pro, obl = m > 1.0 + 1e-6, m < 1.0 - 1e-6
    mp = m[pro]
    s = np.sqrt(mp * mp - 1.0)
    out[pro] = (mp * mp - 1.0) / (mp / s * np.arccosh(mp) - 1.0)
    mo = m[obl]
    s = np.sqrt(1.0 - mo * mo)
    out[obl] = (1.0 - mo * mo) / (1.0 - mo / s * np.arccos(mo))
    return out


def peak_hotspot_factor(pv_um: np.ndarray, tip_radius_um: float, charge_transfer_length_um: float) -> np.ndarray:
    """Current enhancement at the tallest peak or burr.

    The peak stands PV/2 above the mean plane with tip radius r: a half-spheroid of height
    h = PV/2 and base radius sqrt(h r) (aspect sqrt(h/r)) enhances the primary current by
    beta(aspect).  Charge transfer smooths current variations on scales below L_ct (Wagner
    number Wa = L_ct / h; Newman, Electrochemical Systems): f = 1 + (beta - 1)/(1 + Wa).
    Monotone in PV, 1 for a flat collector, bounded by beta."""
    h = 0.5 * np.asarray(pv_um, dtype=float)
    beta = spheroid_field_enhancement(np.sqrt(h / tip_radius_um))
    return 1.0 + (beta - 1.0) * h / (h + charge_transfer_length_um)
