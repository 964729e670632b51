"""Fast closed-form interface-quality model, vectorised over cells.

Per cell the measured hold pressure, its spatial CV, hold time and temperature, the collector
flatness (with the bandwidth it was measured at) and the operating conditions give the
contact fraction (mean and the 5% lowest-pressure region), the void fraction, the interfacial
resistance, a hot-spot factor, the critical current density and a short probability.

Scales, each with its own closed form and source (see the modules named):
* micro (um, below L_ct = R_ct/rho): rough contact under creep hardness (``contact``), charge
  transfer plus spreading over the voids and the micro hot spot (``transport``), all fitted
  to the exact solvers (calibration.json);
* meso (mm, far above L_ct): the pressure map as strata of the cell area in parallel (the
  current follows each stratum's contact share), the waviness (Johnson: closure at
  p* = pi E* W / lambda, contact bands below, a cosine pressure above: the crest factor) and
  the tallest peak (field enhancement of a spheroid, smoothed by charge transfer);
* failure (``failure``): plating (density of the least-dense stratum) and stripping (stack
  pressure) CCDs as competing Weibull links, the hazard (J_local / CCD)^m integrated over the
  strata, plus Li creep into the pores at high stack pressure.
Nested scales multiply the local current density (each factor is relative to the mean at its
own scale: map stratum x wave crest x micro spot x peak).  Every factor is bounded and never
falls as its driver grows, so the short probability never falls as Sq, Sdq, PV, the waviness
or the pressure CV rise (tests/test_interface_properties.py).
"""

from __future__ import annotations

from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np
from pydantic import BaseModel

from . import contact, failure, transport
from .calibration import load_calibration
from .model import Quantity
from .params import InterfaceParams

INPUTS: tuple[Quantity, ...] = (
    Quantity("pressure_mpa", "achieved hold pressure on the cell", 0.0, 3000.0, low_inclusive=False),
    Quantity("pressure_cv", "spatial coefficient of variation of the pressure over the cell", 0.0, 1.0),
    Quantity("hold_s", "cumulative hold time at pressure", 0.0, 1.0e6),
    Quantity("temperature_c", "hold temperature", -40.0, 400.0),
    Quantity("sq_um", "collector RMS height (at cutoff_um)", 0.0, 50.0, low_inclusive=False),
    Quantity("sdq", "collector RMS slope (at cutoff_um; 3 is a 72-degree RMS flank)", 0.0, 3.0, low_inclusive=False),
    Quantity("pv_um", "collector peak-to-valley height (>= sq_um)", 0.0, 500.0),
    Quantity("waviness_um", "waviness amplitude", 0.0, 500.0),
    Quantity("waviness_mm", "waviness wavelength (longer than the 0.08 mm roughness cut-off of ISO 4288)",
             0.08, 1000.0),
    Quantity("current_ma_cm2", "plating current density in operation", 0.0, 100.0),
    Quantity("stack_pressure_mpa", "stack pressure in operation (Doux et al. 2020: 5 MPa cycles stably)",
             0.0, 500.0, default=5.0),
    Quantity("cutoff_um", "short-wavelength cut-off the Sq and Sdq were measured with", 0.01, 1000.0,
             default=2.5),
    Quantity("operating_temperature_c", "cell temperature in operation", -40.0, 150.0, default=25.0),
)
CHUNK = 32768
OUTPUTS: tuple[Quantity, ...] = (
    Quantity("contact_fraction", "mean contact fraction A/A0 over the pressure map", 0.0, 1.0),
    Quantity("contact_fraction_p05", "contact fraction of the 5% lowest-pressure region (<= the mean)", 0.0, 1.0),
    Quantity("void_fraction", "interfacial void fraction 1 - A/A0", 0.0, 1.0),
    Quantity("r_int_ohm_cm2", "interfacial resistance: charge transfer and spreading, regions in parallel", 0.0),
    Quantity("hotspot_factor", "local over nominal current density at the worst spot", 1.0),
    Quantity("ccd_ma_cm2", "critical current density of the cell: plating (its least-dense region) and stripping", 0.0),
    Quantity("p_short", "probability of a short while cycling at the plating current", 0.0, 1.0),
)
OUTPUT_NAMES = tuple(q.name for q in OUTPUTS)


def check_inputs(arrays: dict[str, np.ndarray]) -> None:
    """Cross-input consistency (the single-input bounds are in INPUTS)."""
    bad = arrays["pv_um"] < arrays["sq_um"]
    if np.any(bad):
        i = np.flatnonzero(np.ravel(bad))[0]
        raise ValueError(f"pv_um must be >= sq_um (a peak-to-valley height below the RMS height is impossible; "
                         f"got pv_um={np.ravel(arrays['pv_um'])[i]:g} < sq_um={np.ravel(arrays['sq_um'])[i]:g})")
    bad = arrays["cutoff_um"] >= arrays["waviness_mm"] * 1000.0
    if np.any(bad):
        raise ValueError("cutoff_um must be shorter than the waviness wavelength waviness_mm")


@lru_cache(maxsize=16)
def strata(edges: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Normal quantiles at the conditional medians of the area strata, and their area weights."""
    bounds = np.array((0.0, *edges, 1.0))
    weights = np.diff(bounds)
    normal = NormalDist()
    z = np.array([normal.inv_cdf(q) for q in 0.5 * (bounds[:-1] + bounds[1:])])
    return z, weights


class _Cell:
    """Per-cell quantities shared by the strata of one block."""

    def __init__(self, inputs: dict[str, np.ndarray], params: InterfaceParams, cal: dict[str, Any]) -> None:
        self.params = params
        self.cal = cal
        self.e_star = params.e_star_mpa
        self.sdq = contact.sdq_at_cutoff(inputs["sdq"], inputs["cutoff_um"], params.contact_cutoff_um,
                                         params.surface_hurst)
        length_um = inputs["sq_um"] / self.sdq  # lateral scale of the roughness (Sq: long wavelengths)
        beta = params.charge_transfer_length_um / length_um
        self.spread_scale = params.electrolyte_resistivity_ohm_cm * length_um / transport.UM_PER_CM
        self.w_gain = transport.gain_weight(beta, cal["spreading"])
        self.beta_micro = transport.micro_beta(params.charge_transfer_length_um, params.contact_cutoff_um,
                                               cal["micro_hotspot"])
        self.p_star = contact.wave_closure_pressure_mpa(self.e_star, inputs["waviness_um"], inputs["waviness_mm"])

    def local(self, p: np.ndarray, hard: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Contact share and conductance (1/(ohm cm2)) at a local mean pressure p: the wave's contact
        bands (share of the area) carry p / share on micro-contacts."""
        share, _ = contact.wave_contact(p, self.p_star)
        band = p / np.maximum(share, 1e-300)
        a_r = contact.rough_contact_fraction(band / (self.e_star * self.sdq), band / hard, self.cal["contact"])
        r = transport.contact_resistance_fast(a_r, self.spread_scale, self.w_gain, self.params.r_ct_ohm_cm2,
                                              self.cal["spreading"])
        return share * a_r, share / r

    def wave_factor(self, p: np.ndarray, hard: np.ndarray) -> np.ndarray:
        """Current density on the wave crest over that of a flat interface at the same mean pressure
        (>= 1, monotone in W/lambda): A(p_crest) / (share A(p)), the crest carrying the Westergaard
        peak pressure 2 sqrt(p p*) while the wave is open (on bands of that share) and p + p* once
        closed.  While open this bounds the crest-over-band-mean ratio from above (the band's mean
        pressure p/share exceeds p), so it errs on the safe side.  Current follows the contact share
        (the charge-transfer conductance A/R_ct, see quality())."""
        share, crest = contact.wave_contact(p, self.p_star)
        coef = self.cal["contact"]
        e_sdq = self.e_star * self.sdq
        a_crest = contact.rough_contact_fraction(crest / e_sdq, crest / hard, coef)
        a_flat = contact.rough_contact_fraction(p / e_sdq, p / hard, coef)
        return np.maximum(a_crest / np.maximum(share * a_flat, 1e-300), 1.0)


def quality(params: InterfaceParams, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    """All outputs except the decision, for validated arrays of one shape.

    Large inputs are processed in cache-sized chunks: numpy elementwise chains run several
    times faster when their temporaries stay in cache.
    """
    shape = np.shape(inputs["pressure_mpa"])
    size = int(np.prod(shape))
    if size <= CHUNK:
        return _quality_block(inputs, params)
    flat = {k: np.ravel(v) for k, v in inputs.items()}
    out = {k: np.empty(size) for k in OUTPUT_NAMES}
    for i in range(0, size, CHUNK):
        block = _quality_block({k: v[i : i + CHUNK] for k, v in flat.items()}, params)
        for k in OUTPUT_NAMES:
            out[k][i : i + CHUNK] = block[k]
    return {k: v.reshape(shape) for k, v in out.items()}


def _lognormal_nodes(sig: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
    """exp(sig z_k - sig^2/2) per stratum; the shipped strata are symmetric (z_k = -z_(n-1-k)),
    so one exponential serves each pair (the numbers are the same)."""
    if not np.allclose(z, -z[::-1]):
        return [np.exp(sig * (zi - 0.5 * sig)) for zi in z]
    base = np.exp(-0.5 * sig * sig)
    n = len(z)
    out: list[np.ndarray] = [base] * n
    for i in range(n // 2):
        up = np.exp(sig * z[n - 1 - i])
        out[n - 1 - i] = base * up
        out[i] = base / up
    return out


def _pow(x: np.ndarray, m: float) -> np.ndarray:
    """x^m with a multiplication fast path for the shipped Weibull modulus 3."""
    return x * x * x if m == 3.0 else x**m


def _quality_block(inputs: dict[str, np.ndarray], params: InterfaceParams) -> dict[str, np.ndarray]:
    """Outputs except the decision for one block of cells."""
    cal = load_calibration()
    cell = _Cell(inputs, params, cal)
    p_mean = inputs["pressure_mpa"]
    sig = np.sqrt(np.log1p(inputs["pressure_cv"] ** 2))
    z, w = strata(params.pressure_map_strata)
    shapes = _lognormal_nodes(sig, z)
    norm = 1.0 / sum(wi * s for wi, s in zip(w, shapes))  # the map's mean pressure is the measured one
    creep_mean = contact.creep_law_mpa(p_mean, inputs["hold_s"], inputs["temperature_c"], params)
    k = 1.0 / (params.creep_stress_exponent + 1.0)

    areas, conductances = [], []
    for s in shapes:
        rel = s * norm
        creep = creep_mean * (np.sqrt(rel) if k == 0.5 else rel**k)  # creep hardness ~ p^(1/(n+1))
        a, g = cell.local(p_mean * rel, np.minimum(creep, params.yield_hardness_mpa))
        areas.append(a)
        conductances.append(g)
    area = sum(wi * a for wi, a in zip(w, areas))
    g_mean = sum(wi * g for wi, g in zip(w, conductances))
    inv_g_mean = 1.0 / np.maximum(g_mean, 1e-300)

    f_wave = cell.wave_factor(p_mean, np.minimum(creep_mean, params.yield_hardness_mpa))
    f_peak = transport.peak_hotspot_factor(inputs["pv_um"], params.peak_tip_radius_um,
                                           params.charge_transfer_length_um)

    # Plating CCD: set by the electrolyte's worst flaws, i.e. by the density of its least-dense
    # region (the 5% lowest-pressure stratum; Porz et al. 2017: the largest flaw controls Li
    # penetration); the same region's pores admit creeping Li first (Doux et al. 2020).  Stripping
    # CCD: the Li side under the stack pressure.  The local current density varies over the strata
    # of the map: weakest link, the hazard is summed over the area.
    m = params.short_weibull_modulus
    void = 1.0 - area
    void_worst = 1.0 - areas[0]
    accel = failure.creep_acceleration(inputs["operating_temperature_c"], params)
    strip = failure.stripping_ccd_ma_cm2(inputs["stack_pressure_mpa"], inputs["operating_temperature_c"], params)
    inv_ccd_m = _pow(failure.inverse_plating_ccd(void_worst, accel, params), m) + _pow(1.0 / strip, m)
    # between mm-scale regions the current follows the charge-transfer conductance A/R_ct (the
    # spreading part, <= 4% of R at beta >= 3, is left out of the redistribution so that the short
    # risk depends on the roughness through the contact share only)
    # the micro hot spot is taken where it is largest: the least-dense region, at its total contact
    # share (below its micro-contact share inside the wave bands, so never smaller)
    f_micro = transport.micro_hotspot_factor(np.asarray(cell.beta_micro), areas[0], cal["micro_hotspot"])
    current = inputs["current_ma_cm2"] * f_wave * f_peak * f_micro / np.maximum(area, 1e-300)
    spread = sum(wi * _pow(current * a, m) for wi, a in zip(w, areas))
    hazard = failure.LN2 * spread * inv_ccd_m + failure.li_creep_hazard(inputs["stack_pressure_mpa"], void_worst,
                                                                         params)
    ccd_cell = inv_ccd_m ** (-1.0 / m)
    with np.errstate(divide="ignore"):
        r_int = np.where(g_mean > 0, inv_g_mean, np.inf)
    return {
        "contact_fraction": area,
        "contact_fraction_p05": areas[0],
        "void_fraction": void,
        "r_int_ohm_cm2": r_int,
        "hotspot_factor": areas[-1] / np.maximum(area, 1e-300) * f_wave * f_micro * f_peak,
        "ccd_ma_cm2": ccd_cell,
        "p_short": failure.short_probability(hazard),
    }


class FastModel:
    """The shipped interface model: the calibrated closed form of this module."""

    name: str = "fast"
    inputs: tuple[Quantity, ...] = INPUTS
    outputs: tuple[Quantity, ...] = OUTPUTS
    params_type: type[BaseModel] = InterfaceParams

    def check_inputs(self, arrays: dict[str, np.ndarray]) -> None:
        """Cross-input checks on validated, broadcast arrays (ValueError with the reason)."""
        check_inputs(arrays)

    def evaluate(self, params: Any, **arrays: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for validated arrays of one shape."""
        return quality(params, **arrays)


FAST_MODEL = FastModel()
