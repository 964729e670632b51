"""The probe's pure rules (no server): the trace layout of docs/opcua.md section 7, OPC UA's
null DateTime, the dry-run recipe inside a device's limits, and the report's verdicts."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from adapters.probe.dryrun import dry_recipe, is_set, trace_problems
from adapters.probe.report import ProbeReport


def _trace(**over):
    tr = {"t_s": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5], "p_mpa": [0.0, 10.0, 20.0, 20.0, 10.0, 0.0],
          "temp_c": [22.0] * 6, "phase": [0, 2, 3, 3, 4, 5]}
    tr.update(over)
    return json.dumps(tr)


def test_a_conforming_trace_has_no_problems():
    assert trace_problems(_trace(), 20.0, 20.0) == []


def test_each_broken_trace_rule_is_named():
    assert "last phase 4" in " ".join(trace_problems(_trace(phase=[0, 2, 3, 3, 4, 4]), 20.0, 20.0))
    assert "decrease" in " ".join(trace_problems(_trace(phase=[0, 3, 2, 3, 4, 5]), 20.0, 20.0))
    assert "strictly increasing" in " ".join(trace_problems(_trace(t_s=[0, 0.5, 0.5, 1.5, 2, 2.5]), 20.0, 20.0))
    assert "gap" in " ".join(trace_problems(_trace(t_s=[0, 0.5, 1.0, 1.5, 2.0, 9.0]), 20.0, 20.0))
    assert "different lengths" in " ".join(trace_problems(_trace(temp_c=[22.0]), 20.0, 20.0))
    assert "missing" in " ".join(trace_problems(json.dumps({"t_s": [0.0]}), 20.0, 20.0))
    assert "RFC 8259" in " ".join(trace_problems('{"t_s": [NaN]}', 20.0, 20.0))
    assert "HoldPressureMean_MPa" in " ".join(trace_problems(_trace(), 19.0, 20.0))
    assert "PeakPressure_MPa" in " ".join(trace_problems(_trace(), 20.0, 25.0))


def test_rounded_trace_numbers_are_within_tolerance():
    assert trace_problems(_trace(p_mpa=[0.0, 10.0, 20.00004, 19.99996, 10.0, 0.0]), 20.0, 20.00004) == []


def test_the_null_datetime_is_not_set():
    assert not is_set(None)
    assert not is_set(datetime(1601, 1, 1, tzinfo=timezone.utc))
    assert is_set(datetime(2026, 12, 2, tzinfo=timezone.utc))


def test_the_dry_recipe_stays_inside_ranges_and_limits():
    r = dry_recipe(600.0, 15.0, 150.0, {})
    assert 0 < r["target_pressure_mpa"] <= 120.0 and 15.0 <= r["temperature_c"] <= 150.0
    r = dry_recipe(600.0, 60.0, 150.0, {}, {"ramp_rate_mpa_s.max": 0.5, "hold_s.min": 30.0})
    assert r["ramp_rate_mpa_s"] == 0.5 and r["hold_s"] == 30.0 and r["temperature_c"] == 60.0
    assert dry_recipe(None, None, None, {"hold_s": 1.0})["hold_s"] == 1.0  # --set wins


def test_a_report_passes_only_with_no_failure_and_some_pass():
    rep = ProbeReport("opc.tcp://x:1", "lads", "1.0")
    assert not rep.passed
    rep.add("S1", "a", True)
    rep.add("S4", "b", None, "not checked")
    assert rep.passed and rep.to_dict()["counts"] == {"pass": 1, "fail": 0, "skip": 1}
    rep.add("F2", "c", False, "no EngineeringUnits")
    assert not rep.passed and [c.rule for c in rep.failed] == ["F2"]
