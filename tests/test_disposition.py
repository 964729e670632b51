"""Disposition: accept / rework only when the re-press is predicted to pass / reject."""

from __future__ import annotations

import numpy as np
import pytest

from twin.disposition import REASONS, DispositionPolicy, dispose
from twin.interface import evaluate

WIP = dict(pressure_mpa=490.0, pressure_cv=0.02, hold_s=1800.0, temperature_c=80.0, sq_um=0.2, sdq=0.075,
           pv_um=1.5, waviness_um=1.0, waviness_mm=5.0, current_ma_cm2=0.4, stack_pressure_mpa=10.0)
POLICY = DispositionPolicy()


def cells(n: int = 1, **kw: float) -> dict[str, np.ndarray]:
    return {k: np.full(n, float(kw.get(k, v))) for k, v in WIP.items()}


def test_typical_cell_accepted() -> None:
    d = dispose(cells(3), np.zeros(3), POLICY)
    assert d.decision.tolist() == [0, 0, 0] and d.reason.tolist() == ["ok"] * 3
    assert d.quality["contact_fraction"].shape == (3,)


def test_pv_peak_rejected_whatever_the_pressure() -> None:
    d = dispose(cells(pv_um=POLICY.max_pv_um + 1.0), np.zeros(1), POLICY)
    assert d.decision[0] == 2 and d.reason[0] == "pv_peak"


def test_fixable_failure_is_reworked_with_changed_recipe() -> None:
    m = cells(pressure_mpa=300.0, temperature_c=25.0, hold_s=60.0)
    d = dispose(m, np.zeros(1), POLICY, press_max_pressure_mpa=600.0)
    assert d.decision[0] == 1 and d.reason[0] in ("low_contact", "short_risk", "hotspot", "high_resistance")
    assert d.quality["contact_fraction_p05"][0] < POLICY.min_contact_fraction_p05
    assert d.rework_pressure_mpa[0] == pytest.approx(300.0 + POLICY.rework_pressure_step_mpa)
    assert d.rework_hold_s[0] == pytest.approx(POLICY.rework_extra_hold_s)
    # the prediction holds: the re-pressed cell (cumulative hold) passes
    after = {**m, "pressure_mpa": d.rework_pressure_mpa, "hold_s": m["hold_s"] + d.rework_hold_s}
    assert dispose(after, np.ones(1), POLICY).decision[0] == 0


def test_press_limit_caps_the_recipe() -> None:
    m = cells(pressure_mpa=150.0, temperature_c=25.0, hold_s=60.0)
    d = dispose(m, np.zeros(1), POLICY, press_max_pressure_mpa=150.0)
    assert d.rework_pressure_mpa[0] == 150.0


def test_what_no_re_press_can_fix_is_rejected_with_its_mechanism() -> None:
    """At 3 MPa stack pressure the stripping CCD (~0.2 mA/cm2, Kasemchainan 2019) is below the
    plating current: no pressing lowers that short risk, so the cell is scrapped as short_risk;
    a short-risk cell whose re-press would densify it is reworked instead."""
    dense = dispose(cells(stack_pressure_mpa=3.0), np.zeros(1), POLICY, press_max_pressure_mpa=600.0)
    assert dense.decision[0] == 2 and dense.reason[0] == "short_risk"
    porous = cells(pressure_mpa=300.0, temperature_c=25.0, hold_s=60.0)
    assert dispose(porous, np.zeros(1), POLICY, press_max_pressure_mpa=600.0).decision[0] == 1


def test_rework_limit() -> None:
    m = cells(2, pressure_mpa=300.0, temperature_c=25.0, hold_s=60.0)
    d = dispose(m, np.array([POLICY.max_reworks - 1, POLICY.max_reworks]), POLICY)
    assert d.decision.tolist() == [1, 2] and d.reason[1] == "rework_limit"


def test_evaluate_uses_the_same_decision() -> None:
    rng = np.random.default_rng(0)
    n = 400
    m = {**cells(n), "pressure_mpa": rng.uniform(100, 550, n), "sdq": rng.uniform(0.03, 0.4, n),
         "pv_um": rng.uniform(0.5, 7.0, n), "temperature_c": rng.uniform(20, 100, n),
         "hold_s": rng.uniform(10, 1800, n)}
    d = dispose(m, np.zeros(n), POLICY)
    assert np.array_equal(evaluate(**m, policy=POLICY)["decision"], d.decision)
    assert set(d.reason) <= set(REASONS) and len(set(d.decision.tolist())) == 3


def test_policy_is_strict_data() -> None:
    with pytest.raises(ValueError):
        DispositionPolicy(max_short=0.1)
    with pytest.raises(ValueError):
        DispositionPolicy(min_contact_fraction_min=0.9)  # renamed: the 5% lowest-pressure region
    assert DispositionPolicy().max_reworks == 2


def _first_pass_yield(rng: np.random.Generator, p: float, cv: float, t_c: float, hold: float, sdq: float,
                      pv: float) -> float:
    n = 3000
    m = {**cells(n, temperature_c=t_c, hold_s=hold), "pressure_mpa": rng.normal(p, 0.01 * p, n),
         "pressure_cv": cv * rng.lognormal(0, 0.3, n), "sq_um": 0.2 * rng.lognormal(0, 0.2, n) * (sdq / 0.06) ** 0.5,
         "sdq": sdq * rng.lognormal(0, 0.25, n), "pv_um": pv * rng.lognormal(0, 0.25, n)}
    return float(np.mean(dispose(m, np.zeros(n), POLICY).decision == 0))


def test_line_cases_give_clearly_different_yields() -> None:
    """Pilot WIP ~all good; a 10%-CV uniaxial press at the closure edge and a rough lot clearly worse."""
    rng = np.random.default_rng(7)
    wip = _first_pass_yield(rng, 490.0, 0.02, 80.0, 1800.0, 0.06, 1.5)
    uni = _first_pass_yield(rng, 300.0, 0.10, 60.0, 170.0, 0.06, 1.5)
    rough = _first_pass_yield(rng, 490.0, 0.02, 80.0, 1800.0, 0.3, 6.0)
    assert wip > 0.95
    assert 0.3 < uni < 0.9
    assert rough < 0.5


def _line_of(path: str):
    from twin.line import Line
    from twin.scenario import load_scenario

    return Line(load_scenario(path))


def test_repress_recipe_applies_the_cell_pressure_through_the_tooling_within_limits():
    """A re-press asks for a pressure on the cell; a uniaxial die passes 90% of what the press
    applies, so the press must apply more, and never beyond its own limits."""
    from types import SimpleNamespace

    line = _line_of("scenarios/whatif_isostatic_vs_uniaxial.yaml")
    uni = line.stations["uniaxial_press"]
    cell = SimpleNamespace(rework_pressure_mpa=440.0, rework_hold_s=600.0)
    recipe = uni._recipe_for([cell])
    assert recipe.target_pressure_mpa == pytest.approx(440.0 / uni.spec.transmission_frac)
    assert recipe.hold_s == 600.0
    greedy = SimpleNamespace(rework_pressure_mpa=5000.0, rework_hold_s=1e6)
    capped = uni._recipe_for([greedy])
    assert capped.target_pressure_mpa == uni.spec.max_pressure_mpa
    assert capped.hold_s == uni.spec.max_hold_s
    plain = SimpleNamespace(rework_pressure_mpa=0.0, rework_hold_s=0.0)
    assert uni._recipe_for([plain]) is uni.recipe


def test_repress_is_predicted_on_the_press_that_pressed_the_cell():
    """Each press caps the predicted re-press at what it can put on a cell (limit x transmission)."""
    line = _line_of("scenarios/whatif_isostatic_vs_uniaxial.yaml")
    caps = line.stations["wip_inspection"].quality.cell_pressure_cap_mpa
    wip, uni = line.stations["wip_press"].spec, line.stations["uniaxial_press"].spec
    assert caps["wip_press"] == pytest.approx(wip.max_pressure_mpa * wip.transmission_frac)
    assert caps["uniaxial_press"] == pytest.approx(uni.max_pressure_mpa * uni.transmission_frac)
    m = {k: np.array([v, v]) for k, v in dict(
        pressure_mpa=580.0, pressure_cv=0.2, hold_s=60.0, temperature_c=25.0, sq_um=0.3, sdq=0.1, pv_um=2.0,
        waviness_um=1.0, waviness_mm=5.0, current_ma_cm2=1.0).items()}
    d = dispose(m, np.zeros(2), POLICY, press_max_pressure_mpa=np.array([caps["wip_press"], caps["uniaxial_press"]]))
    assert d.rework_pressure_mpa[0] == pytest.approx(min(630.0, caps["wip_press"]))
    assert d.rework_pressure_mpa[1] == pytest.approx(min(630.0, caps["uniaxial_press"]))
