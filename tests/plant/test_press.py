"""Press physics: recipe limits, cycle time, trace dynamics, per-cell spread, faults."""
import numpy as np
import pytest

from plant.press import (FAULT_KINDS, PRESS_KINDS, PressProgram, Recipe, RecipeError,
                         check_recipe, load_press_spec, nominal_cycle_s, simulate_cycle)


def _recipe(**kw) -> Recipe:
    base = dict(target_pressure_mpa=375.0, ramp_rate_mpa_s=2.0, hold_s=600.0,
                temperature_c=80.0, decompression_rate_mpa_s=5.0)
    base.update(kw)
    return Recipe(**base)


@pytest.mark.parametrize("kind", PRESS_KINDS)
def test_shipped_specs_load(kind):
    spec = load_press_spec(kind)
    assert spec.kind == kind
    assert spec.max_pressure_mpa > 0


def test_spec_from_path_and_extra_forbidden(tmp_path):
    import yaml
    data = load_press_spec("cip").model_dump()
    p = tmp_path / "x.yaml"
    p.write_text(yaml.safe_dump(data))
    assert load_press_spec(str(p)) == load_press_spec("cip")
    data["bogus_field"] = 1
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError):
        load_press_spec(str(p))


@pytest.mark.parametrize("field,value", [("target_pressure_mpa", 900.0), ("ramp_rate_mpa_s", 50.0),
                                         ("temperature_c", 400.0), ("hold_s", 1e6),
                                         ("decompression_rate_mpa_s", 100.0)])
def test_check_recipe_names_field(field, value):
    with pytest.raises(RecipeError) as err:
        check_recipe(load_press_spec("wip"), _recipe(**{field: value}))
    assert err.value.field == field
    assert field in str(err.value)


def test_nominal_cycle_matches_phases():
    spec = load_press_spec("wip")
    r = _recipe()
    expect = (spec.load_unload_s + (80.0 - spec.ambient_temperature_c) / spec.heating_rate_c_s
              + 375.0 / 2.0 + 600.0 + 375.0 / 5.0)
    assert nominal_cycle_s(spec, r) == pytest.approx(expect)
    res = simulate_cycle(spec, r, 10, np.random.default_rng(0))
    assert res.duration_s == pytest.approx(expect, abs=1.0 / spec.sample_rate_hz)


def test_completed_cycle_statistics():
    spec = load_press_spec("wip")
    res = simulate_cycle(spec, _recipe(), 20, np.random.default_rng(1))
    assert res.status == "Completed" and res.faults == []
    assert res.hold_pressure_mean_mpa == pytest.approx(375.0 * (1 + spec.pressure_bias_frac), rel=0.01)
    assert res.hold_duration_s == pytest.approx(600.0, abs=1.0)
    assert res.mean_temperature_c == pytest.approx(80.0, abs=1.0)
    assert res.cell_pressure_mpa.shape == (20,) and res.cell_pressure_cv.shape == (20,)
    assert np.all(res.cell_pressure_cv > 0)
    assert res.peak_pressure_mpa >= res.hold_pressure_mean_mpa
    s = res.summary()
    assert set(s) == {"PeakPressure_MPa", "HoldPressureMean_MPa", "HoldPressureStd_MPa",
                      "PressureCV", "HoldDuration_s", "MeanTemperature_C", "Status"}
    assert res.trace_t_s.shape == res.trace_p_mpa.shape == res.trace_temp_c.shape


def test_uniaxial_less_uniform_than_isostatic():
    r = _recipe(temperature_c=22.0, ramp_rate_mpa_s=5.0)
    rng = np.random.default_rng(2)
    uni = simulate_cycle(load_press_spec("automatic_uniaxial"), r, 1, rng)
    iso = simulate_cycle(load_press_spec("cip"), r, 40, rng)
    assert uni.pressure_cv > 0.05 > iso.pressure_cv


def test_controller_lag_never_overshoots_setpoint_much():
    spec = load_press_spec("automatic_uniaxial")
    res = simulate_cycle(spec, _recipe(temperature_c=22.0), 1, np.random.default_rng(3), sample_hz=20)
    target = 375.0 * (1 + spec.pressure_bias_frac)
    assert res.peak_pressure_mpa < target * (1 + 6 * spec.pressure_noise_frac) + 6 * spec.sensor_noise_mpa


def test_same_seed_reproducible():
    spec = load_press_spec("cip")
    r = _recipe(temperature_c=22.0)
    a = simulate_cycle(spec, r, 5, np.random.default_rng(7))
    b = simulate_cycle(spec, r, 5, np.random.default_rng(7))
    np.testing.assert_array_equal(a.trace_p_mpa, b.trace_p_mpa)
    np.testing.assert_array_equal(a.cell_pressure_mpa, b.cell_pressure_mpa)


def test_faults():
    spec = load_press_spec("wip")
    r = _recipe()
    base = simulate_cycle(spec, r, 5, np.random.default_rng(4))
    leak = simulate_cycle(spec, r, 5, np.random.default_rng(4), faults=["leak"])
    assert leak.status == "Fault" and leak.faults == ["leak"]
    assert leak.hold_pressure_mean_mpa < base.hold_pressure_mean_mpa * (1 - spec.hold_tolerance_frac)
    over = simulate_cycle(spec, r, 5, np.random.default_rng(4), faults=["overpressure"])
    assert over.status == "Fault" and "overpressure" in over.faults
    assert over.peak_pressure_mpa > 375.0 * (1 + spec.overpressure_trip_frac) * 0.98
    assert over.duration_s < base.duration_s
    heat = simulate_cycle(spec, r, 5, np.random.default_rng(4), faults=["heater"])
    assert heat.status == "Fault" and heat.mean_temperature_c < 80.0 - 10.0
    comm = simulate_cycle(spec, r, 5, np.random.default_rng(4), faults=["comm_loss"])
    assert comm.status == "Fault" and comm.trace_t_s.size < base.trace_t_s.size
    with pytest.raises(ValueError):
        simulate_cycle(spec, r, 5, np.random.default_rng(4), faults=["meteor"])
    assert set(FAULT_KINDS) == {"leak", "overpressure", "heater", "comm_loss"}


def test_abort_reproduces_prefix():
    spec = load_press_spec("wip")
    r = _recipe()
    full = simulate_cycle(spec, r, 5, np.random.default_rng(5))
    ab = simulate_cycle(spec, r, 5, np.random.default_rng(5), abort_at_s=1200.0)
    assert ab.status == "Aborted"
    k = int(np.searchsorted(full.trace_t_s, 1200.0))
    np.testing.assert_array_equal(full.trace_p_mpa[:k], ab.trace_p_mpa[:k])
    assert ab.duration_s < full.duration_s
    assert ab.trace_p_mpa[-1] < 1.0


def test_program_replay_matches_result():
    spec = load_press_spec("cip")
    res = simulate_cycle(spec, _recipe(temperature_c=22.0), 3, np.random.default_rng(6))
    prog = PressProgram(res)
    t, p, temp, phase = prog.at(400.0)
    i = int(np.searchsorted(res.trace_t_s, 400.0, side="right")) - 1
    assert (t, p, temp) == (res.trace_t_s[i], res.trace_p_mpa[i], res.trace_temp_c[i])
    assert phase in ("Ramping", "Holding")
    assert prog.done(res.duration_s + 1.0) and not prog.done(0.0)


def test_empty_and_single_cell():
    spec = load_press_spec("manual_uniaxial")
    res = simulate_cycle(spec, _recipe(temperature_c=22.0, hold_s=0.0), 1, np.random.default_rng(8))
    assert res.cell_pressure_mpa.shape == (1,)
