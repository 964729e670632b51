"""Property: the report never crashes on a run or sweep output, whatever it holds.

Hypothesis writes output directories in the documented layouts with the awkward cases real runs
produce (empty tables, single rows, constant and all-NaN columns, missing KPIs and intervals,
absent optional files and tables, text where numbers are expected in a corrupted trace) and
checks that build_report writes a page and that no figure fell back to its error guard. The
fast lane draws a few dozen examples; the slow lane many more."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.interface.fast import OUTPUT_NAMES
from twin.report import build_report
from twin.store import cell_columns

CELL_COLUMNS = cell_columns(OUTPUT_NAMES)
NAMES = st.sampled_from(["prep", "wip_press", "uniaxial_press", "a b", "ü-station", "<b>x</b>", "x" * 40])
LOTS = st.sampled_from(["cu_shiny", "cu_matte", "", "lot/1"])
OUTCOMES = st.sampled_from(["accepted", "rejected", "in_process", "weird"])
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**6), st.none(),
                   st.just(0.0), st.just(1.0))
FRACTION = st.one_of(st.floats(0, 1), st.just(math.nan), st.none(), st.just(1.0))
HALFWIDTH = st.one_of(st.floats(0, 5), st.just(math.nan), st.none(), st.just(1e9))
SCALARS = ("cells_started", "cells_accepted", "cells_rejected", "cells_reworked", "throughput_per_h",
           "first_pass_yield", "final_yield", "mean_cycle_time_h", "mean_wip", "wip_start", "wip_end",
           "cost_per_good_cell", "sim_time_h", "duration_h", "warmup_h", "replications", "seed")
STATES = ("busy", "blocked", "starved", "down", "off_shift")


LIKELY = st.integers(0, 9).map(lambda i: i < 7)


def per_key(keys, values):
    return st.dictionaries(keys, values, max_size=4)


@st.composite
def summaries(draw) -> dict:
    s: dict = {k: draw(NUMBER) for k in SCALARS if draw(LIKELY)}
    s["duration_h"] = draw(st.one_of(st.none(), st.floats(0, 100), st.floats(0, 100), st.just(math.nan)))
    ci = {k: draw(HALFWIDTH) for k in s}
    for group in ("utilisation", "availability", "yield_by_press", "yield_by_lot"):
        if draw(st.booleans()):
            s[group] = draw(per_key(NAMES, FRACTION))
            ci[group] = draw(per_key(NAMES, HALFWIDTH))
    if draw(st.booleans()):
        s["reject_reasons"] = draw(per_key(st.sampled_from(["pv_peak", "low_contact", ""]), NUMBER))
    if draw(st.booleans()):
        s["station_states"] = draw(per_key(NAMES, st.dictionaries(st.sampled_from(STATES), FRACTION)))
    if draw(st.booleans()):
        s["cost_breakdown"] = {**draw(st.dictionaries(st.sampled_from(["equipment", "materials", "scrap", "rework",
                                                                       "overhead"]), NUMBER)),
                               **({"currency": "EUR"} if draw(st.booleans()) else {})}
    if draw(st.booleans()):
        s["expectations"] = [{"kpi": "final_yield", "min": draw(NUMBER), "max": None, "value": draw(NUMBER),
                              "passed": draw(st.booleans())}]
    if draw(st.booleans()):
        s["ci95"] = ci
    return s


@st.composite
def column(draw, n: int, kind: str):
    """A column of n values in one of the shapes that broke plots: varied, constant, all-NaN, mostly None."""
    shape = draw(st.sampled_from(["varied", "constant", "nan", "none", "near-constant"]))
    if kind == "TEXT":
        return [draw(LOTS) for _ in range(n)] if shape == "varied" else [draw(LOTS)] * n
    if kind == "INTEGER":
        return [draw(st.integers(0, 3)) for _ in range(n)] if shape == "varied" else [0] * n
    if shape == "constant":
        return [draw(st.floats(-1e6, 1e6))] * n
    if shape == "nan":
        return [math.nan] * n
    if shape == "none":
        return [None] * n
    if shape == "near-constant":
        return [3.0 + i * 1e-15 for i in range(n)]
    return [draw(st.floats(allow_nan=True, allow_infinity=False, width=32)) for _ in range(n)]


@st.composite
def cell_tables(draw):
    n = draw(st.sampled_from([0, 1, 2, 17]))
    names = [name for name, _ in CELL_COLUMNS]
    keep = [name for name in names if draw(LIKELY)]
    cols = {}
    for name, kind in CELL_COLUMNS:
        if name not in keep and name not in ("outcome", "replication"):
            continue
        if name == "outcome":
            cols[name] = pa.array([draw(OUTCOMES) for _ in range(n)], pa.string())
        elif name == "press_station":
            cols[name] = pa.array([draw(st.sampled_from(["", "wip_press", "uniaxial_press"])) for _ in range(n)],
                                  pa.string())
        elif name == "press_runs":
            cols[name] = pa.array([draw(st.sampled_from(["", "sim-wip_press-1", "sim-prepress-2,sim-wip_press-3",
                                                         '["sim-wip_press-4"]', '["a,b", 3]', "[broken",
                                                         "boot-7-run"])) for _ in range(n)], pa.string())
        else:
            typ = {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string()}[kind]
            cols[name] = pa.array(draw(column(n, kind)), typ)
    return pa.table(cols)


TRACE_LAYOUTS = {
    "station_states": ("replication", "station", "t_h", *STATES),
    "buffer_levels": ("replication", "station", "t_h", "waiting"),
    "press_traces": ("replication", "station", "run_id", "t_s", "p_mpa", "temp_c", "phase"),
    "visits": ("replication", "cell_id", "station", "t_arrive_h", "t_start_h", "t_end_h", "t_leave_h"),
    "device_runs": ("run_id", "station"),
}
TRACE_VALUE = st.one_of(*(st.floats(-10, 100), st.integers(0, 4)) * 4, st.none(), st.just(math.nan), st.just("text"))


@st.composite
def trace_tables(draw) -> dict[str, list[tuple]]:
    out = {}
    for name, cols in TRACE_LAYOUTS.items():
        if draw(st.booleans()):
            rows = draw(st.lists(st.tuples(*(NAMES if c == "station" else
                                              st.sampled_from(["sim-wip_press-1", "r2"]) if c == "run_id" else
                                              st.sampled_from(["ramp", "hold", None]) if c == "phase" else
                                              TRACE_VALUE for c in cols)), max_size=12))
            out[name] = rows
    return out


def write_run(d: Path, summary: dict, cells, trace: dict | None) -> None:
    (d / "summary.json").write_text(json.dumps(summary))
    if cells is not None:
        pq.write_table(cells, d / "cells.parquet")
    if trace is not None:
        db = sqlite3.connect(d / "trace.sqlite")
        for name, rows in trace.items():
            cols = TRACE_LAYOUTS[name]
            db.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
            db.executemany(f"INSERT INTO {name} VALUES ({','.join('?' * len(cols))})",
                           [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows])
        db.commit()
        db.close()


SETTING_VALUES = st.one_of(
    st.lists(st.integers(0, 6), min_size=1, max_size=4, unique=True),
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=4, unique=True),
    st.lists(st.sampled_from(["scenarios/presses/a.yaml", "b", "x" * 60, "p/q/r.yml"]), min_size=1, max_size=3,
             unique=True),
    st.lists(st.one_of(st.booleans(), st.none(), st.just([1, 2])), min_size=1, max_size=2),
)
SWEEP_KPIS = ("throughput_per_h", "final_yield", "cost_per_good_cell", "mean_wip", "utilisation.prep",
              "blocked.prep", "cells_started")


@st.composite
def sweeps(draw) -> tuple[dict, list[dict]]:
    import itertools

    settings_ = [{"path": p, "values": draw(SETTING_VALUES)} for p in
                 draw(st.lists(st.sampled_from(["stations.p.servers", "stations.p.press.spec", "x.hold_s"]),
                               unique=True, max_size=2))]
    grid = list(itertools.product(*(s["values"] for s in settings_))) or [()]
    points = [{"point": i, "label": f"p{i}", "values": list(v)} for i, v in enumerate(grid)]
    kpis = draw(st.lists(st.sampled_from(SWEEP_KPIS), unique=True))
    rows = [{"point": p["point"], "label": p["label"], "kpi": k, "n": 2, "mean": draw(NUMBER), "ci95": draw(NUMBER),
             "diff_mean": draw(NUMBER), "diff_ci95": draw(NUMBER)}
            for p in points for k in kpis if draw(st.integers(0, 9))]
    meta = {"scenario": "gen", "source": "<scenario>", "seed": 1, "replications": 2, "settings": settings_,
            "points": points if draw(st.integers(0, 9)) else [], "kpis": kpis}
    return meta, rows


def write_sweep(d: Path, meta: dict, rows: list[dict]) -> None:
    (d / "sweep.json").write_text(json.dumps(meta))
    names = ("point", "label", "kpi", "n", "mean", "ci95", "diff_mean", "diff_ci95")
    types = (pa.int64(), pa.string(), pa.string(), pa.int64(), *(pa.float64(),) * 4)
    table = pa.table({n: pa.array([_clean(r[n]) for r in rows], t) for n, t in zip(names, types)})
    pq.write_table(table, d / "sweep.parquet")


def _clean(v):
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**62:
        return None
    return v


OPT_KPIS = st.sampled_from(["cost_per_good_cell", "final_yield", "mean_wip", "utilisation.prep"])
PARAM_PATHS = st.sampled_from(["stations.p.servers", "stations.p.press.recipe.hold_s", "stations.p.press.spec",
                               "source.interarrival_h.mean"])
PARAM_VALUE = st.one_of(st.integers(0, 3600), st.floats(allow_nan=True, allow_infinity=False, width=32), st.none(),
                        st.sampled_from(["a.yaml", "presses/b.yaml"]))


@st.composite
def optimisations(draw) -> tuple[dict, "pa.Table"]:
    objectives = draw(st.lists(st.tuples(OPT_KPIS, st.sampled_from(["minimize", "maximize"])), max_size=2,
                               unique_by=lambda o: o[0]))
    params = draw(st.lists(PARAM_PATHS, unique=True, max_size=3))
    constraints = draw(st.lists(st.sampled_from(["final_yield>=0.95", "mean_wip<=5@0.9"]), unique=True, max_size=2))
    n = draw(st.sampled_from([0, 1, 2, 9]))
    kinds = {p: draw(st.sampled_from(["int", "float", "text", "mixed"])) for p in params}
    cols: dict = {"trial": list(range(n)),
                  "state": [draw(st.sampled_from(["COMPLETE", "FAIL", "RUNNING"])) for _ in range(n)]}
    for p in params:
        k = kinds[p]
        if k == "int":
            cols[p] = pa.array([draw(st.one_of(st.integers(0, 3600), st.none())) for _ in range(n)], pa.int64())
        elif k == "float":
            cols[p] = pa.array([draw(st.one_of(st.floats(width=32), st.none())) for _ in range(n)], pa.float64())
        else:
            cols[p] = pa.array([None if (v := draw(PARAM_VALUE)) is None else str(v) for _ in range(n)], pa.string())
    for kpi in {o[0] for o in objectives} | {c.split("<")[0].split(">")[0] for c in constraints}:
        for stat in ("mean", "ci95"):
            if draw(LIKELY):
                cols[f"{kpi}.{stat}"] = pa.array([_float(draw(NUMBER)) for _ in range(n)], pa.float64())
    for c in constraints:
        cols[f"{c}.evidence"] = pa.array([_float(draw(NUMBER)) for _ in range(n)], pa.float64())
    if draw(LIKELY):
        cols["feasible"] = pa.array([draw(st.one_of(st.booleans(), st.none())) for _ in range(n)], pa.bool_())
    cols["runs"] = [draw(st.integers(0, 5)) for _ in range(n)]
    cols["error"] = [draw(st.sampled_from(["", "stations.p.servers: invalid"])) for _ in range(n)]
    meta = {"scenario": "gen", "source": "<scenario>", "seed": 1, "replications": 2, "budget": n,
            "params": [f"{p}=0:1" for p in params], "objectives": [list(o) for o in objectives],
            "constraints": constraints, "trials": n, "runs": sum(cols["runs"]),
            "best": draw(st.lists(st.integers(-1, 12), max_size=3)),
            "importance": {o[0]: draw(st.dictionaries(PARAM_PATHS, st.one_of(st.floats(0, 1), st.just(math.nan))))
                           for o in objectives if draw(st.booleans())}}
    return meta, pa.table(cols)


@st.composite
def sensitivities(draw) -> tuple[dict, "pa.Table", "pa.Table | None"]:
    method = draw(st.sampled_from(["morris", "sobol", "other"]))
    names = ("mu", "mu_star", "mu_star_conf", "sigma") if method == "morris" else ("S1", "S1_conf", "ST", "ST_conf")
    kpis = draw(st.lists(OPT_KPIS, unique=True, max_size=3))
    params = draw(st.lists(PARAM_PATHS, unique=True, max_size=3))
    keep = [c for c in names if draw(LIKELY)]
    rows = [(k, p) for k in kpis for p in params]
    cols: dict = {"kpi": [k for k, _ in rows], "param": [p for _, p in rows], "method": [method] * len(rows)}
    for c in keep:
        cols[c] = pa.array([_float(draw(NUMBER)) for _ in rows], pa.float64())
    samples = pa.table({p: [draw(st.floats(0, 1)) for _ in range(3)] for p in params}) if params and draw(
        st.booleans()) else None
    meta = {"scenario": "gen", "source": "<scenario>", "seed": 1, "method": method, "samples": 3, "replications": 2,
            "params": [f"{p}=0:1" for p in params], "kpis": kpis, "points": 9, "runs": 18}
    return meta, pa.table(cols) if rows else pa.table({"kpi": pa.array([], pa.string()),
                                                        "param": pa.array([], pa.string())}), samples


def _float(v):
    if v is None or isinstance(v, float):
        return v
    return float(v)


def write_optimisation(d: Path, meta: dict, trials) -> None:
    (d / "optimize.json").write_text(json.dumps(meta))
    pq.write_table(trials, d / "trials.parquet")


def write_sensitivity(d: Path, meta: dict, indices, samples) -> None:
    (d / "sensitivity.json").write_text(json.dumps(meta))
    pq.write_table(indices, d / "indices.parquet")
    if samples is not None:
        pq.write_table(samples, d / "samples.parquet")


def check(d: Path) -> None:
    report = build_report(d)
    assert report.path.exists() and report.path.stat().st_size > 0
    assert report.failed == [], [(f.name, f.note) for f in report.failed]
    names = [f.name for f in report.figures]
    assert len(names) == len(set(names))


FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])


def _run_property(summary, cells, trace, with_cells):
    d = Path(tempfile.mkdtemp(prefix="report-prop-"))
    try:
        write_run(d, summary, cells if with_cells else None, trace)
        check(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _study_property(write, *parts):
    d = Path(tempfile.mkdtemp(prefix="report-prop-"))
    try:
        write(d, *parts)
        check(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _sweep_property(sweep):
    d = Path(tempfile.mkdtemp(prefix="report-prop-"))
    try:
        write_sweep(d, *sweep)
        check(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


RUNS = dict(summary=summaries(), cells=cell_tables(), trace=st.one_of(st.none(), trace_tables()),
            with_cells=st.booleans())


@FAST
@given(**RUNS)
def test_run_report_never_crashes(summary, cells, trace, with_cells):
    _run_property(summary, cells, trace, with_cells)


@FAST
@given(sweep=sweeps())
def test_sweep_report_never_crashes(sweep):
    _sweep_property(sweep)


@FAST
@given(study=optimisations())
def test_optimisation_report_never_crashes(study):
    _study_property(write_optimisation, *study)


@FAST
@given(study=sensitivities())
def test_sensitivity_report_never_crashes(study):
    _study_property(write_sensitivity, *study)


@pytest.mark.slow
@SLOW
@given(study=optimisations())
def test_optimisation_report_never_crashes_many(study):
    _study_property(write_optimisation, *study)


@pytest.mark.slow
@SLOW
@given(study=sensitivities())
def test_sensitivity_report_never_crashes_many(study):
    _study_property(write_sensitivity, *study)


@pytest.mark.slow
@SLOW
@given(**RUNS)
def test_run_report_never_crashes_many(summary, cells, trace, with_cells):
    _run_property(summary, cells, trace, with_cells)


@pytest.mark.slow
@SLOW
@given(sweep=sweeps())
def test_sweep_report_never_crashes_many(sweep):
    _sweep_property(sweep)
