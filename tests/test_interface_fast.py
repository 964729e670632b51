"""The fast closed form: calibration against the exact solvers, contract, bounds, trends."""

from __future__ import annotations

import numpy as np
import pytest

from twin.interface import InterfaceParams, evaluate, load_params
from twin.interface import reference as ref
from twin.interface.calibration import PHYSICAL_BETA, error_tables, flat, load_calibration, regime_inputs
from twin.interface.contact import rough_contact_fraction, sdq_at_cutoff
from twin.interface.fast import FAST_MODEL, INPUTS, OUTPUT_NAMES
from twin.interface.transport import (contact_resistance_fast, contact_resistance_ohm_cm2, gain_weight,
                                      micro_hotspot_factor, spreading_shape, uniformity_gain)

WIP = dict(pressure_mpa=490.0, pressure_cv=0.02, hold_s=1800.0, temperature_c=80.0, sq_um=0.2, sdq=0.06,
           pv_um=1.5, waviness_um=1.0, waviness_mm=5.0, current_ma_cm2=0.1)
COLD = {**WIP, "pressure_mpa": 375.0, "pressure_cv": 0.10, "temperature_c": 25.0, "hold_s": 300.0}  # uniaxial, cold
ROUGH = {**WIP, "sq_um": 0.45, "sdq": 0.2, "pv_um": 3.5, "waviness_um": 1.3, "waviness_mm": 2.0}


def run(**kw: float) -> dict[str, float]:
    return {k: float(v) for k, v in evaluate(**{**WIP, **kw}).items()}


def sweep(name: str, values: np.ndarray, base: dict, **kw: float) -> dict[str, np.ndarray]:
    return evaluate(**{**base, **kw, name: values})


# --- calibration against the exact solvers ------------------------------------------------------

def test_closed_forms_within_tolerance_of_stored_exact_points() -> None:
    cal = load_calibration()
    pts = cal["points"]
    assert len(pts) >= 30 and {p["hn"] is None for p in pts} == {True, False}
    pn, x, exact = regime_inputs(pts)
    assert pn.min() <= 0.02 and pn.max() >= 1.0
    assert np.abs(rough_contact_fraction(pn, x, cal["contact"]) - exact).max() < 0.02
    c = np.array([p["spreading"] for p in pts])
    assert np.abs(spreading_shape(exact, cal["spreading"]) / c - 1.0).max() < 0.2
    area, beta, phi = flat(pts, "phi")
    _, _, q99 = flat(pts, "q99")
    phys = np.isin(beta, PHYSICAL_BETA)
    assert np.abs(uniformity_gain(beta, area, cal["spreading"]) / phi - 1.0)[phys].max() < 0.06
    assert np.abs(micro_hotspot_factor(beta, area, cal["micro_hotspot"]) - q99)[phys].max() < 0.08
    # the whole interfacial resistance R_ct/A + spreading, over rho Sq/Sdq, at physical beta
    exact_r = beta / area + np.repeat(c, len(beta) // len(c)) * phi
    fast_r = beta / area + spreading_shape(area, cal["spreading"]) * uniformity_gain(beta, area, cal["spreading"])
    assert np.abs(fast_r / exact_r - 1.0)[phys].max() < 0.04
    barber = [p["barber_ratio"] for p in pts if p["barber_ratio"] is not None]
    assert max(abs(b - 1.0) for b in barber) < 0.03
    assert "interfacial resistance" in error_tables(pts, cal)


@pytest.mark.parametrize("pn,hn", [(0.05, None), (0.5, None), (0.1, 0.25), (0.35, 1.0)])
def test_closed_forms_within_tolerance_of_live_exact_solves(pn: float, hn: float | None) -> None:
    """Re-run the exact contact and current solvers on two fresh surfaces (seeds not used in calibration)."""
    cal = load_calibration()
    s = cal["solver"]
    e_star, sdq, beta = 1000.0, 0.1, 18.0  # beta: L_ct 60 um over Sq/Sdq 3.3 um, the shipped collector
    areas, r_exact = [], []
    for seed in (11, 12):
        surf = ref.self_affine_surface(s["grid"], 1.0, s["hurst"], s["rolloff_px"], s["cutoff_px"], sdq=sdq, seed=seed)
        hard = np.inf if hn is None else hn * e_star * sdq
        c = ref.solve_contact(surf, pn * e_star * sdq, e_star, hardness_mpa=hard, stiffness=False)
        ell = surf.sq_um / surf.sdq
        cur = ref.solve_current(c.pressure_mpa, 1.0, 1.0, beta * ell * 1e-4)
        areas.append(c.contact_fraction)
        r_exact.append(cur.r_int_ohm_cm2 * 1e4 / ell)  # over rho Sq/Sdq
    x = 0.0 if hn is None else pn / hn
    area = float(rough_contact_fraction(np.array(pn), np.array(x), cal["contact"]))
    assert area == pytest.approx(np.mean(areas), abs=0.03)
    fast_r = float(contact_resistance_ohm_cm2(np.array(np.mean(areas)), np.array(1.0), np.array(beta), beta, 1e4,
                                              cal["spreading"]))
    assert fast_r == pytest.approx(np.mean(r_exact), rel=0.05)


def test_fast_resistance_path_equals_the_reference_closed_form() -> None:
    cal = load_calibration()["spreading"]
    a = np.linspace(0.02, 1.0, 50)
    beta = np.full_like(a, 18.0)
    slow = contact_resistance_ohm_cm2(a, np.full_like(a, 3.3), beta, 3.0, 500.0, cal)
    fast = contact_resistance_fast(a, 500.0 * 3.3e-4, gain_weight(beta, cal), 3.0, cal)
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


# --- contract ------------------------------------------------------------------------------------

def test_outputs_broadcast_and_stay_in_bounds() -> None:
    q = evaluate(**{**WIP, "pressure_mpa": np.array([[100.0], [300.0], [500.0]]),
                    "sdq": np.array([0.05, 0.1, 0.2, 0.3])})
    assert set(q) == set(OUTPUT_NAMES) | {"decision"}
    assert all(v.shape == (3, 4) for v in q.values())
    assert q["decision"].dtype.kind == "i"
    for out in FAST_MODEL.outputs:
        assert not np.any(out.outside(q[out.name])), out.name
    assert np.all(q["contact_fraction_p05"] <= q["contact_fraction"])


def test_new_inputs_have_defaults_and_change_the_answer() -> None:
    base = run()
    assert base == run(stack_pressure_mpa=5.0, cutoff_um=2.5, operating_temperature_c=25.0)
    assert run(stack_pressure_mpa=10.0)["ccd_ma_cm2"] > base["ccd_ma_cm2"]
    assert run(operating_temperature_c=45.0)["ccd_ma_cm2"] > base["ccd_ma_cm2"]
    defaults = {q.name for q in INPUTS if q.default is not None}
    assert defaults == {"stack_pressure_mpa", "cutoff_um", "operating_temperature_c"}


def test_bandwidth_travels_with_sdq() -> None:
    """The same surface measured with a finer cut-off shows a steeper Sdq (self-affine, H = 0.8);
    the model rescales it to its reference cut-off and gives the same interface."""
    p = load_params()
    fine = 0.5
    sdq_fine = float(sdq_at_cutoff(np.array(0.08), np.array(p.contact_cutoff_um), fine, p.surface_hurst))
    assert sdq_fine > 0.08
    cold = {**COLD, "sdq": 0.08}
    assert run(**{**cold, "sdq": sdq_fine, "cutoff_um": fine}) == pytest.approx(run(**cold))
    assert run(**{**cold, "sdq": sdq_fine})["contact_fraction"] < run(**cold)["contact_fraction"]


def test_chunked_evaluation_matches_small_batches() -> None:
    rng = np.random.default_rng(1)
    n = 70_000
    big = {**COLD, "pressure_mpa": rng.uniform(50, 550, n), "sdq": rng.uniform(0.03, 0.4, n),
           "pressure_cv": rng.uniform(0, 0.2, n)}
    q = evaluate(**big)
    pick = rng.choice(n, 50, replace=False)
    small = evaluate(**{k: (v[pick] if np.ndim(v) else v) for k, v in big.items()})
    for k in q:
        np.testing.assert_allclose(q[k][pick], small[k], rtol=1e-12)


@pytest.mark.parametrize(
    "bad,name",
    [({"pressure_mpa": -1.0}, "pressure_mpa"), ({"pressure_mpa": 0.0}, "pressure_mpa"), ({"sdq": np.nan}, "sdq"),
     ({"hold_s": [1.0, np.inf]}, "hold_s"), ({"sq_um": 0.0}, "sq_um"), ({"temperature_c": -273.0}, "temperature_c"),
     ({"pressure_cv": -0.1}, "pressure_cv"), ({"pressure_cv": 1000.0}, "pressure_cv"), ({"sdq": 10.0}, "sdq"),
     ({"waviness_mm": 1e-9}, "waviness_mm"), ({"pv_um": 0.1, "sq_um": 0.2}, "pv_um"),
     ({"stack_pressure_mpa": -1.0}, "stack_pressure_mpa"), ({"cutoff_um": 0.0}, "cutoff_um"),
     ({"operating_temperature_c": 300.0}, "operating_temperature_c"), ({"current_ma_cm2": -0.1}, "current_ma_cm2")],
)
def test_invalid_inputs_raise_naming_the_input(bad: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        evaluate(**{**WIP, **bad})


def test_every_input_has_physical_bounds() -> None:
    for q in INPUTS:
        assert np.isfinite(q.low) and np.isfinite(q.high), q.name


def test_missing_or_unknown_inputs_raise() -> None:
    with pytest.raises(ValueError, match="missing"):
        evaluate(**{k: v for k, v in WIP.items() if k != "sdq"})
    with pytest.raises(ValueError, match="unknown"):
        evaluate(**WIP, pressure_psi=1.0)


def test_params_are_validated_data_with_sources() -> None:
    from twin.interface.params import SOURCES

    p = load_params()
    assert p == InterfaceParams()
    assert 20_000 < p.e_star_mpa < 25_000  # Cu on Li6PS5Cl, PHYSICS.md: ~23 GPa
    assert 20.0 <= p.charge_transfer_length_um <= 200.0  # PHYSICS.md: R_ct/rho ~ 20-200 um
    assert set(SOURCES) == set(InterfaceParams.model_fields), "every parameter names its source"
    with pytest.raises(ValueError):
        InterfaceParams(hardness_mpa=1.0)
    with pytest.raises(ValueError, match="pressure_map_strata"):
        InterfaceParams(pressure_map_strata=(0.1, 0.3, 0.7, 0.95))
    softer = load_params(creep_hardness_ref_mpa=200.0)
    assert run(**COLD)["contact_fraction"] < float(evaluate(**COLD, params=softer)["contact_fraction"])


# --- physics trends --------------------------------------------------------------------------------

def test_typical_wip_cell_is_dense_and_accepted() -> None:
    q = run()
    assert q["contact_fraction"] > 0.99 and q["contact_fraction_p05"] > 0.99
    assert q["r_int_ohm_cm2"] == pytest.approx(load_params().r_ct_ohm_cm2, rel=0.02)  # R_ct-dominated, A ~ 1
    assert q["p_short"] < 0.01
    assert q["decision"] == 0


def test_cold_uneven_press_and_rough_lot_are_worse() -> None:
    wip, cold, rough = run(), run(**COLD), run(**ROUGH)
    assert cold["contact_fraction_p05"] < wip["contact_fraction_p05"] - 0.05
    assert cold["r_int_ohm_cm2"] > wip["r_int_ohm_cm2"]
    assert cold["p_short"] > wip["p_short"]
    assert rough["hotspot_factor"] > wip["hotspot_factor"]
    assert rough["p_short"] > wip["p_short"]


@pytest.mark.parametrize(
    "name,values,base",
    [
        ("pressure_mpa", np.linspace(50, 500, 10), {**WIP, "temperature_c": 25.0, "hold_s": 60.0}),
        ("hold_s", np.array([1, 10, 60, 300, 1800, 3600.0]), {**WIP, "temperature_c": 25.0, "pressure_mpa": 300.0}),
        ("temperature_c", np.linspace(20, 120, 6), {**WIP, "hold_s": 10.0, "pressure_mpa": 250.0}),
    ],
)
def test_more_pressure_longer_warmer_hold_lower_resistance_and_voids(name: str, values: np.ndarray, base: dict) -> None:
    q = sweep(name, values, base)
    for key in ("r_int_ohm_cm2", "void_fraction"):
        assert np.all(np.diff(q[key]) <= 1e-12)
        assert q[key][0] > q[key][-1]
    assert q["void_fraction"][0] > 0.05


def test_resistance_is_charge_transfer_over_contact_plus_a_small_spreading_term() -> None:
    """L_ct = 60 um >> Sq/Sdq = 3.3 um: R_int ~ R_ct/A (arXiv:2501.00600's -1), spreading a few %."""
    q = sweep("pressure_mpa", np.geomspace(80, 400, 8), {**WIP, "temperature_c": 25.0, "hold_s": 60.0})
    ratio = q["r_int_ohm_cm2"] * q["contact_fraction"] / load_params().r_ct_ohm_cm2
    assert np.all(ratio >= 1.0) and np.all(ratio < 1.06)
    # a more resistive electrolyte (shorter L_ct) spreads more
    q2 = sweep("pressure_mpa", np.geomspace(80, 400, 8), {**WIP, "temperature_c": 25.0, "hold_s": 60.0},
               params=load_params(electrolyte_resistivity_ohm_cm=5000.0))
    assert np.all(q2["r_int_ohm_cm2"] > q["r_int_ohm_cm2"])


def test_less_precise_press_lowers_low_region_contact_and_raises_risk() -> None:
    q = sweep("pressure_cv", np.linspace(0.0, 0.25, 11), COLD, hold_s=120.0)
    assert np.all(np.diff(q["contact_fraction_p05"]) < 0)
    assert np.all(np.diff(q["p_short"]) > 0)
    assert np.all(np.diff(q["hotspot_factor"]) >= 0)
    assert q["hotspot_factor"][0] < q["hotspot_factor"][-1]


def test_operating_stack_pressure_has_a_window() -> None:
    """Stripping CCD rises with stack pressure (Kasemchainan 2019) until Li creeps into the pores
    (Doux 2020): the short risk of a porous cell falls, then rises again."""
    q = sweep("stack_pressure_mpa", np.array([2.0, 5.0, 8.0, 30.0, 60.0]), COLD, current_ma_cm2=0.3)
    assert np.all(np.diff(q["ccd_ma_cm2"]) > 0)
    assert q["p_short"][1] < q["p_short"][0] and q["p_short"][-1] > q["p_short"][2]
