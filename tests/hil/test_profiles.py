"""Device profiles: the shipped LADS profile says exactly what adapters/vocabulary.py (and so
docs/opcua.md) says; a profile file is validated with errors naming the field; units convert
both ways; and a press of another shape (tests/hil/acme_press.py) is driven end to end by
`twin hil` through its profile alone, in its own units, with run ids holding "/", ":" and " "."""
from __future__ import annotations

import asyncio
import math

import pytest
import yaml

from adapters import vocabulary as v
from adapters.opcua.paths import join, substitute
from adapters.opcua.profiles import ProfileError, load_profile, to_device, to_twin
from adapters.opcua.programs import JOB, STOPPED, ProgramNodes
from tests.hil.acme_helpers import PROFILE, acme_run, acme_scenario, with_acme
from tests.hil.hil_helpers import cells, db_rows, summary

pytestmark = pytest.mark.timeout(180)


def test_lads_profile_is_the_vocabulary():
    prof = load_profile(None)
    assert prof.profile == "lads" and prof.version == v.CONTRACT_VERSION
    dev = "WIP/1: a press"  # any characters in a name
    assert substitute(prof.path(prof.device), device=dev) == v.device_path(dev)
    assert prof.press is not None and prof.profilometer is not None and prof.glovebox is not None
    press = ProgramNodes.of(prof, prof.press)
    unit = v.unit_path(dev, v.Unit.PRESS_CHAMBER)[len(v.device_path(dev)):]
    assert press.unit == unit
    assert press.state == unit + v.UNIT_CURRENT_STATE
    assert press.start_method == unit + v.UNIT_START_PROGRAM and press.start_object == unit + v.UNIT_STATE
    assert press.clear == (unit + v.UNIT_STATE, unit + v.UNIT_CLEAR)
    assert press.active_runtime == unit + v.active_program("EstimatedRuntime")
    run = "run/7:x y"
    assert press.result(run) == unit + v.result_path(run)
    assert press.template("PressCycle") == unit + v.template_path(v.Template.PRESS_CYCLE.value)
    assert prof.path(prof.press.estimated_runtime.path) == v.TEMPLATE_ESTIMATED_RUNTIME
    assert press.result_fields[STOPPED] == v.RESULT_STOPPED and press.result_fields[JOB] == v.RESULT_JOB_ID
    expected = {"sample_ids": v.ResultVar.SAMPLE_IDS, "faults": v.ResultVar.FAULTS, "trace": v.ResultVar.TRACE,
                "duration_s": v.ResultVar.DURATION, "cell_pressure_mpa": v.ResultVar.CELL_PRESSURES,
                "cell_pressure_cv": v.ResultVar.CELL_PRESSURE_CV, "hold_duration_s": v.ResultVar.HOLD_DURATION,
                "mean_temperature_c": v.ResultVar.MEAN_TEMPERATURE, "peak_pressure_mpa": v.ResultVar.PEAK_PRESSURE}
    for key, var in expected.items():
        assert press.result_fields[key] == v.result_variable(var.value), key
    assert press.result_fields["_status"] == v.result_variable(v.ResultVar.OUTCOME.value)
    assert prof.press.completed == [v.Outcome.COMPLETED.value]
    assert set(prof.press.running_states) <= {s.value for s in v.UnitState}
    assert [p.key for p in prof.press.recipe.values()] == list(v.PRESS_KEYS)
    assert prof.path(prof.press.capacity.path) == v.UNIT_CAPACITY
    assert prof.path(prof.press.pressure_range.path) == v.function_path(v.Function.PRESSURE.value) + (
        v.TARGET_VALUE, v.EU_RANGE)
    assert prof.path(prof.press.disposition.method) == v.UNIT_SET_DISPOSITION
    meter = ProgramNodes.of(prof, prof.profilometer)
    assert meter.unit == v.unit_path(dev, v.Unit.PROFILER)[len(v.device_path(dev)):]
    for key, var in {"sq_um": v.ResultVar.SQ, "sdq": v.ResultVar.SDQ, "pv_um": v.ResultVar.PV,
                     "waviness_um": v.ResultVar.WAVINESS, "waviness_mm": v.ResultVar.WAVINESS_WAVELENGTH}.items():
        assert meter.result_fields[key] == v.result_variable(var.value), key
    gb_unit = v.unit_path(dev, v.Unit.MAIN_CHAMBER)[len(v.device_path(dev)):]
    assert prof.path(prof.glovebox.max_between.method) == join(gb_unit, v.UNIT_MAX_BETWEEN)


def _write(tmp, data) -> str:
    path = tmp / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_profile_errors_name_the_file_and_field(tmp_path):
    base = yaml.safe_load(PROFILE.read_text())
    bad_unit = yaml.safe_load(PROFILE.read_text())
    bad_unit["press"]["values"]["duration_s"]["unit"] = "fortnights"
    with pytest.raises(ProfileError, match=r"p\.yaml: press\.values\.duration_s\.unit: .*fortnights"):
        load_profile(_write(tmp_path, bad_unit))
    bad_alias = dict(base, device=["nowhere:Presses", "acme:{device}"])
    with pytest.raises(ProfileError, match=r"device: .*alias 'nowhere' is not declared"):
        load_profile(_write(tmp_path, bad_alias))
    extra = dict(base, colour="red")
    with pytest.raises(ProfileError, match="colour"):
        load_profile(_write(tmp_path, extra))
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(str(tmp_path / "missing.yaml"))


def test_units_convert_both_ways():
    assert to_twin(1000.0, "bar", "target_pressure_mpa") == pytest.approx(100.0)
    assert to_twin(97000.0, "kPa", "cell_pressure_mpa") == pytest.approx(97.0)
    assert to_twin(295.15, "K", "temperature_c") == pytest.approx(22.0)
    assert to_twin(1500.0, "ms", "duration_s") == pytest.approx(1.5)
    assert to_device(5.0, "bar/s", "ramp_rate_mpa_s") == pytest.approx(50.0)
    assert to_device(22.0, "K", "temperature_c") == pytest.approx(295.15)
    for unit, key in (("bar", "target_pressure_mpa"), ("K", "temperature_c"), ("min", "hold_s")):
        assert to_twin(to_device(12.5, unit, key), unit, key) == pytest.approx(12.5)
    with pytest.raises(ValueError, match="not a"):
        to_twin(1.0, "bar", "hold_s")


def test_a_press_of_another_shape_is_driven_through_its_profile(tmp_path, operator_env):
    out = tmp_path / "out"

    async def go(press):
        await acme_run(tmp_path, out, press, acme_scenario(press.endpoint, n_cells=4))
        return press

    press = asyncio.run(with_acme(go))
    s = summary(out)
    hw = s["hardware"]
    assert s["cells_started"] == 4 and s["cells_accepted"] == 4 and hw["runs_quarantined"] == 0
    assert hw["devices"]["press"]["profile"] == "acme" and hw["devices"]["press"]["capacity"] == 2
    assert hw["devices"]["press"]["nominal_source"] == "binding nominal_duration_s"
    # the recipe arrived in the vendor's units and keys
    for run in press.runs.values():
        assert run.params == pytest.approx({"pressure_bar": 1000.0, "ramp_bar_per_s": 50.0, "hold_ms": 30000.0,
                                            "temp_K": 295.15, "vent_bar_per_s": 100.0})
        assert "/" in run.run_id and ":" in run.run_id and " " in run.run_id
    # the result came back in the twin's: kPa -> MPa per cell, K -> degC, ms -> s
    rows = cells(out)
    assert sorted(rows) == [0, 1, 2, 3]
    for row in rows.values():
        assert row["pressure_mpa"] in (pytest.approx(97.0), pytest.approx(98.0))
        assert row["temperature_c"] == pytest.approx(22.0) and row["hold_s"] == pytest.approx(30.0)
    runs = db_rows(out, "SELECT run_id, ok, device_duration_s FROM device_runs")
    assert sorted(r for r, _, _ in runs) == sorted(press.runs) and all(ok == 1 for _, ok, _ in runs)
    assert all(math.isclose(d, 90.0) for _, _, d in runs)
    # every decision reached the device, addressed by the run id with its odd characters
    assert hw["dispositions_sent"] == 4 and hw["dispositions_pending"] == 0
    assert sorted(sid for r in press.runs.values() for sid in r.verdicts) == sorted(
        f"{hw['tag']}-c{i}" for i in range(4))
