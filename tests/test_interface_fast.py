"""The fast closed form: calibration against the exact solver, seed claims, contract."""

from __future__ import annotations

import numpy as np
import pytest

from twin.interface import InterfaceParams, evaluate, load_params
from twin.interface import reference as ref
from twin.interface.fast import OUTPUT_NAMES, load_calibration, rough_contact_fraction

WIP = dict(pressure_mpa=490.0, pressure_cv=0.02, hold_s=1800.0, temperature_c=80.0, sq_um=0.2, sdq=0.075,
           pv_um=1.5, waviness_um=1.0, waviness_mm=5.0, current_ma_cm2=1.0)
UNIAXIAL = {**WIP, "pressure_mpa": 375.0, "pressure_cv": 0.10, "temperature_c": 25.0}  # lab uniaxial, cold
ROUGH = {**WIP, "sq_um": 0.6, "sdq": 0.3, "pv_um": 6.0}


def run(**kw: float) -> dict[str, float]:
    return {k: float(v) for k, v in evaluate(**{**WIP, **kw}).items()}


def sweep(name: str, values: np.ndarray, base: dict, **kw: float) -> dict[str, np.ndarray]:
    return evaluate(**{**base, **kw, name: values})


def test_closed_form_within_003_of_stored_exact_points() -> None:
    cal = load_calibration()
    pts = cal["points"]
    assert len(pts) >= 20 and {p["hn"] is None for p in pts} == {True, False}
    pn = np.array([p["pn"] for p in pts])
    x = pn / np.array([np.inf if p["hn"] is None else p["hn"] for p in pts])
    exact = np.array([p["contact_fraction"] for p in pts])
    assert pn.min() <= 0.02 and pn.max() >= 1.0
    assert np.abs(rough_contact_fraction(pn, x, cal["contact"]) - exact).max() < 0.03


@pytest.mark.parametrize("pn,hn", [(0.05, None), (0.5, None), (0.1, 0.25), (0.35, 1.0)])
def test_closed_form_within_003_of_live_exact_solve(pn: float, hn: float | None) -> None:
    """Re-run the exact solver on two fresh surfaces (seeds not used in calibration)."""
    cal = load_calibration()
    s = cal["solver"]
    e_star, sdq = 1000.0, 0.1
    areas = []
    for seed in (11, 12):
        surf = ref.self_affine_surface(s["grid"], 1.0, s["hurst"], s["rolloff_px"], s["cutoff_px"], sdq=sdq, seed=seed)
        hard = np.inf if hn is None else hn * e_star * sdq
        areas.append(ref.solve_contact(surf, pn * e_star * sdq, e_star, hardness_mpa=hard, stiffness=False).contact_fraction)
    x = 0.0 if hn is None else pn / hn
    fast = float(rough_contact_fraction(np.array(pn), np.array(x), cal["contact"]))
    assert fast == pytest.approx(np.mean(areas), abs=0.03)


def test_typical_wip_cell_is_accepted_with_near_full_contact() -> None:
    q = run()
    assert q["contact_fraction"] > 0.98 and q["contact_fraction_min"] > 0.95
    assert 1.0 < q["r_int_ohm_cm2"] < 6.0
    assert q["p_short"] < 0.01
    assert q["decision"] == 0


def test_uniaxial_and_rough_lot_are_worse() -> None:
    wip, uni, rough = run(), run(**UNIAXIAL), run(**ROUGH)
    assert uni["contact_fraction_min"] < wip["contact_fraction_min"] - 0.05
    assert uni["p_short"] > 2 * wip["p_short"]
    assert rough["hotspot_factor"] > 2 * wip["hotspot_factor"]
    assert rough["p_short"] > 10 * wip["p_short"]
    assert rough["decision"] == 2


@pytest.mark.parametrize("name,values", [("sdq", np.linspace(0.03, 0.4, 12)), ("pv_um", np.linspace(0.5, 8, 12))])
def test_rougher_collector_raises_hotspot_and_short_risk(name: str, values: np.ndarray) -> None:
    q = sweep(name, values, WIP)
    for key in ("hotspot_factor", "p_short"):
        assert np.all(np.diff(q[key]) >= 0)
        assert q[key][-1] > q[key][0] * 1.2


def test_less_precise_press_lowers_worst_contact_and_raises_risk() -> None:
    q = sweep("pressure_cv", np.linspace(0.0, 0.25, 11), UNIAXIAL, temperature_c=25.0)
    assert np.all(np.diff(q["contact_fraction_min"]) < 0)
    assert np.all(np.diff(q["p_short"]) > 0)
    assert np.all(np.diff(q["hotspot_factor"]) > 0)


@pytest.mark.parametrize(
    "name,values,base",
    [
        ("pressure_mpa", np.linspace(50, 500, 10), {**WIP, "temperature_c": 25.0}),
        ("hold_s", np.array([1, 10, 60, 300, 1800, 3600.0]), {**WIP, "temperature_c": 25.0, "pressure_mpa": 300.0}),
        ("temperature_c", np.linspace(20, 120, 6), {**WIP, "hold_s": 60.0, "pressure_mpa": 250.0}),
    ],
)
def test_more_pressure_longer_warmer_hold_lower_resistance_and_voids(name: str, values: np.ndarray, base: dict) -> None:
    q = sweep(name, values, base)
    for key in ("r_int_ohm_cm2", "void_fraction"):
        assert np.all(np.diff(q[key]) <= 1e-12)
        assert q[key][0] > q[key][-1]
    assert q["void_fraction"][0] > 0.05


def test_outputs_broadcast() -> None:
    q = evaluate(**{**WIP, "pressure_mpa": np.array([[300.0], [400.0], [500.0]]), "sdq": np.array([0.05, 0.1, 0.2, 0.3])})
    assert set(q) == set(OUTPUT_NAMES) | {"decision"}
    assert all(v.shape == (3, 4) for v in q.values())
    assert q["decision"].dtype.kind == "i"


def test_chunked_evaluation_matches_small_batches() -> None:
    rng = np.random.default_rng(1)
    n = 70_000
    big = {**WIP, "pressure_mpa": rng.uniform(50, 550, n), "sdq": rng.uniform(0.03, 0.4, n), "pressure_cv": rng.uniform(0, 0.2, n)}
    q = evaluate(**big)
    pick = rng.choice(n, 50, replace=False)
    small = evaluate(**{k: (v[pick] if np.ndim(v) else v) for k, v in big.items()})
    for k in q:
        np.testing.assert_allclose(q[k][pick], small[k], rtol=1e-12)


@pytest.mark.parametrize(
    "bad,name",
    [({"pressure_mpa": -1.0}, "pressure_mpa"), ({"sdq": np.nan}, "sdq"), ({"hold_s": [1.0, np.inf]}, "hold_s"),
     ({"sq_um": 0.0}, "sq_um"), ({"temperature_c": -300.0}, "temperature_c"), ({"pressure_cv": -0.1}, "pressure_cv")],
)
def test_invalid_inputs_raise_naming_the_input(bad: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        evaluate(**{**WIP, **bad})


def test_missing_or_unknown_inputs_raise() -> None:
    with pytest.raises(ValueError, match="missing"):
        evaluate(**{k: v for k, v in WIP.items() if k != "sdq"})
    with pytest.raises(ValueError, match="unknown"):
        evaluate(**WIP, pressure_psi=1.0)


def test_params_are_validated_data() -> None:
    p = load_params()
    assert p == InterfaceParams()
    assert 20_000 < p.e_star_mpa < 25_000  # Cu on Li6PS5Cl, PHYSICS.md: ~23 GPa
    with pytest.raises(ValueError):
        InterfaceParams(hardness_mpa=1.0)
    softer = load_params(hardness_ref_mpa=500.0)
    assert run(pressure_mpa=200.0)["contact_fraction"] < float(
        evaluate(**{**WIP, "pressure_mpa": 200.0}, params=softer)["contact_fraction"]
    )
