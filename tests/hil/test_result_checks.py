"""Incomplete or doctored press results are caught (press_result_problems / trace_problems);
the real result, read from the emulator as the adapter reads it, passes untouched."""
from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid

import pytest

from adapters.opcua import StartAttempt, press_result_problems, start_program, trace_problems, wait_result
from adapters.opcua.results import plain, quality_problems
from tests.hil.hil_helpers import RECIPE, device, scaled, press_nodes, press_session, until

pytestmark = pytest.mark.timeout(900)  # a guard only: the waits inside scale with the load


@pytest.fixture(scope="module")
def real_result(wip_plant) -> tuple[dict, list[str]]:
    """Every field of the Result of one real two-cell WIP cycle (twin keys and units), and its SampleIds."""
    dev = device(wip_plant)
    tag = f"r-{uuid.uuid4().hex[:8]}"
    samples = [f"{tag}-c0", f"{tag}-c1"]

    async def go():
        await until(lambda: dev.active is None, 30, "WIP-1 idle")
        session = press_session(wip_plant.endpoints["WIP-1"])
        try:
            nodes = press_nodes()
            run_id, instance = await start_program(session, nodes, "PressCycle", RECIPE, StartAttempt(f"{tag}-press-1"),
                                                   samples, time.monotonic() + scaled(30), 0.05)
            readings = await wait_result(session, nodes, run_id, instance, time.monotonic() + scaled(60), 0.5)
            assert quality_problems(readings, ("sample_ids", "cell_pressure_mpa", "cell_pressure_cv")) == []
            return plain(readings, nodes.section)
        finally:
            await session.close()

    return asyncio.run(asyncio.wait_for(go(), scaled(120))), samples


def _trace(values: dict) -> dict:
    return json.loads(values["trace"])


def _with_trace(values: dict, trace: dict) -> dict:
    return {**values, "trace": json.dumps(trace)}


def _cut(trace: dict, keep) -> dict:
    """The trace with only the sample indices in `keep` (every per-sample series)."""
    n = len(trace["t_s"])
    return {k: ([v[i] for i in keep] if isinstance(v, list) and len(v) == n else v) for k, v in trace.items()}


def gap_in_the_middle(values, samples):
    trace = _trace(values)
    n = len(trace["t_s"])
    return _with_trace(values, _cut(trace, [i for i in range(n) if not n // 2 <= i < n // 2 + 5]))


def truncated_before_unloading(values, samples):
    trace = _trace(values)
    first_unload = trace["phase"].index(5)
    return _with_trace(values, _cut(trace, range(first_unload)))


def pressure_sample_missing(values, samples):
    trace = _trace(values)
    p = list(trace["p_mpa"])
    p[len(p) // 2] = None  # a dropped gauge sample (NaN is written as null in the JSON)
    return _with_trace(values, dict(trace, p_mpa=p))


def nan_cell_pressure(values, samples):
    return {**values, "cell_pressure_mpa": [float("nan")] + list(values["cell_pressure_mpa"][1:])}


def wrong_sample_ids(values, samples):
    return {**values, "sample_ids": list(reversed(values["sample_ids"]))}


def foreign_sample_id(values, samples):
    return {**values, "sample_ids": [values["sample_ids"][0], "someone-else-c9"]}


def one_cell_pressure_missing(values, samples):
    return {**values, "cell_pressure_cv": list(values["cell_pressure_cv"][:1])}


def trace_missing(values, samples):
    return {k: v for k, v in values.items() if k != "trace"}


def not_completed(values, samples):
    return {**values, "_status": "Aborted"}


def fault_listed(values, samples):
    return {**values, "faults": ["heater"]}


DOCTORED = {
    gap_in_the_middle: "gap of",
    truncated_before_unloading: "before unloading",
    pressure_sample_missing: "pressure samples missing",
    nan_cell_pressure: "not finite",
    wrong_sample_ids: "sample ids differ",
    foreign_sample_id: "sample ids differ",
    one_cell_pressure_missing: "pressures missing",
    trace_missing: "trace missing",
    not_completed: "status Aborted",
    fault_listed: "fault heater",
}


def test_untouched_real_result_has_no_problem(real_result):
    values, samples = real_result
    assert values["_status"] == "Completed" and list(values["sample_ids"]) == samples
    trace = _trace(values)
    assert len(trace["t_s"]) > 20 and trace["phase"][-1] == 5
    assert press_result_problems(values, samples) == []
    assert trace_problems(values["trace"]) == []


@pytest.mark.parametrize("doctor", list(DOCTORED), ids=lambda f: f.__name__)
def test_doctored_result_is_caught(real_result, doctor):
    values, samples = real_result
    original = copy.deepcopy(values)
    bad = doctor(copy.deepcopy(values), samples)
    problems = press_result_problems(bad, samples)
    assert any(DOCTORED[doctor] in p for p in problems), problems
    assert values == original  # the fixture's result is left as read
    if doctor in (gap_in_the_middle, truncated_before_unloading, pressure_sample_missing):
        assert any(DOCTORED[doctor] in p for p in trace_problems(bad["trace"]))


def test_trace_checks_on_edge_cases(real_result):
    values, _ = real_result
    trace = _trace(values)
    assert trace_problems("not json") == ["trace missing or unreadable"]
    assert trace_problems(json.dumps({"t_s": [0, 1]})) == ["trace missing or unreadable"]
    assert trace_problems(json.dumps(_cut(trace, range(2)))) == ["trace too short"]
    backwards = dict(trace, t_s=list(reversed(trace["t_s"])))
    assert "trace time not increasing" in trace_problems(json.dumps(backwards))
    repeated = dict(trace, t_s=[trace["t_s"][0]] + list(trace["t_s"][:-1]))
    assert "trace time not increasing" in trace_problems(json.dumps(repeated))
