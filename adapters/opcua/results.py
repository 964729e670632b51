"""Whether a Result can be trusted, and what it says in the twin's units.

Every value read carries its StatusCode: a value that is Uncertain or Bad is a problem
named with its status (``cell_pressure_mpa: UncertainSensorNotAccurate``), so the cells of
the run are quarantined with the reason. A press result must say it completed, carry no
fault, name the samples that were sent in order, give a finite pressure and CV per
sample, and (when the profile maps a trace) a trace that parses, is evenly sampled and
runs to the unloading phase.
"""
from __future__ import annotations

import json
import math

import numpy as np
from typing import Any, Mapping, Sequence

from adapters.opcua.linklog import Reading
from adapters.opcua.profiles import Program, to_twin
from adapters.opcua.programs import JOB, STATUS, STOPPED

TRACE_GAP_FACTOR = 2.5  # a sample interval this many times the median is a gap
LAST_PHASE = 5  # the press trace's unloading phase code (docs/opcua.md)
PRESS_REQUIRED = ("sample_ids", "cell_pressure_mpa", "cell_pressure_cv")


def quality_problems(values: Mapping[str, Reading], required: Sequence[str]) -> list[str]:
    """Fields that are missing (required ones) or whose StatusCode is not Good."""
    out = []
    for key, r in values.items():
        if r.status in ("BadNoMatch", "BadNodeIdUnknown", "BadNotFound"):
            if key in required:
                out.append(f"{key.lstrip('_')} missing")
        elif not r.good:
            out.append(f"{key.lstrip('_')}: {r.status}")
    return out


def plain(values: Mapping[str, Reading], section: Program) -> dict[str, Any]:
    """Field -> value in the twin's units (numbers and arrays converted, text as it is)."""
    out: dict[str, Any] = {}
    for key, r in values.items():
        v = r.value
        spec = section.values.get(key)
        if v is None or spec is None or spec.unit == "1":
            out[key] = v
        elif isinstance(v, (list, tuple)):
            out[key] = [to_twin(float(x), spec.unit, key) for x in v]
        else:
            out[key] = to_twin(float(v), spec.unit, key)
    return out


def status_text(values: Mapping[str, Any]) -> str:
    v = values.get(STATUS)
    return str(getattr(v, "Text", v)) if v is not None else "Completed"


def press_result_problems(values: Mapping[str, Any], samples: Sequence[str], section: Program | None = None,
                          job: str | None = None) -> list[str]:
    """Why a press result (field -> value, twin units) cannot be trusted (empty: clean)."""
    problems = []
    completed = section.completed if section is not None else ["Completed"]
    status = status_text(values)
    if status not in completed:
        problems.append(f"status {status}")
    if job is not None and values.get(JOB) not in (None, job):
        problems.append(f"result of job {values.get(JOB)!r}, not {job!r}")
    faults = [f for f in values.get("faults") or [] if f]
    if faults:
        problems.append("fault " + ",".join(faults))
    if list(values.get("sample_ids") or []) != list(samples):
        problems.append("sample ids differ from those sent")
    pressures = values.get("cell_pressure_mpa") or []
    cvs = values.get("cell_pressure_cv") or []
    if len(pressures) != len(samples) or len(cvs) != len(samples):
        problems.append("per-cell pressures missing")
    elif not all(math.isfinite(x) for x in list(pressures) + list(cvs)):
        problems.append("per-cell pressures not finite")
    if section is None or "trace" in section.values:
        problems.extend(trace_problems(values.get("trace")))
    return problems


def trace_problems(trace_json: Any) -> list[str]:
    """A press trace must parse, be evenly sampled (no gap) and run to the unloading phase."""
    try:
        trace = json.loads(trace_json)
        t = np.asarray(trace["t_s"], dtype=float)
        phase = list(trace["phase"])
        p = np.asarray([math.nan if x is None else x for x in trace["p_mpa"]], dtype=float)
    except (TypeError, ValueError, KeyError):
        return ["trace missing or unreadable"]
    if len(t) < 3 or len(phase) != len(t) or len(p) != len(t):
        return ["trace too short"]
    if not np.isfinite(np.asarray(p, dtype=float)).all():
        return ["pressure samples missing from the trace"]
    steps = np.sort(np.diff(np.asarray(t, dtype=float)))
    median = float(steps[len(steps) // 2])
    out = []
    if median <= 0 or steps[0] <= 0:
        out.append("trace time not increasing")
    elif steps[-1] > TRACE_GAP_FACTOR * median:
        out.append(f"gap of {float(steps[-1]):.3g} s in the trace (sampled every {median:.3g} s)")
    if phase[-1] != LAST_PHASE:
        out.append("trace ends before unloading")
    return out


def finite(x: Any, default: float = math.nan) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


__all__ = ["JOB", "STATUS", "STOPPED", "finite", "plain", "press_result_problems", "quality_problems",
           "status_text", "trace_problems"]
