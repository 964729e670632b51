"""Invariants of the line twin against independent truths: Little's law and flow
conservation on every run, seeds and common random numbers, blocking after service
(the tandem-line Markov chain), availability under breakdowns and shifts, and the batch
machine's loading rules.

Interval checks use the summary's Student-t 95% half-width plus a small relative slack
(REL_SLACK = 1.5%) for the O(1/T) bias of finite runs (start-up transient, cells in
progress at the ends of the window); see tests/test_queueing.py for the reasoning.
"""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

from tests.helpers import (assert_close_ci, build, deep_merge, exp, fixed, load, run_line, run_reps, scenario_dict, station,
                     t_interval)

REL_SLACK = 0.015


# --- scenarios -----------------------------------------------------------------------

def _tandem(buffer: int, mean1: float, mean2: float, **kw) -> dict:
    """Two exponential stations in tandem; the first is saturated (releases every 0.001 h into
    a zero buffer: a new cell is always there the moment station 1 frees its slot)."""
    return scenario_dict(
        {"s1": station(exp(mean1), next="s2", buffer_capacity=0),
         "s2": station(exp(mean2), buffer_capacity=buffer)},
        interarrival_h=fixed(0.001), **kw)


def _rework_line() -> dict:
    """Finite buffers, breakdowns, shifts, a batch vessel and inspection with rework and scrap."""
    return scenario_dict(
        {"prep": station(exp(0.2), next="press", buffer_capacity=5,
                         breakdowns={"mtbf_h": 30, "mttr_h": exp(2.0)}),
         "press": {"kind": "batch", "batch": {"capacity_cells": 4, "min_cells": 2, "timeout_h": 0.5},
                   "process_time_h": fixed(0.6), "buffer_capacity": 8, "next": "inspect",
                   "shifts": {"period_h": 24, "windows_h": [[0, 20]]}},
         # inspect's queue is unlimited: a finite one closes a blocking cycle with the press's
        # (press full of cells for inspect, inspect holding a rework for the press) and the line
        # deadlocks, as a real one would
        "inspect": {"kind": "inspect", "process_time_h": exp(0.15),
                     "fixed": {"p_accept": 0.8, "p_rework": 0.15, "p_reject": 0.05},
                     "on_rework": "press"}},
        interarrival_h=exp(0.3), duration_h=3000, warmup_h=100, replications=2, seed=3)


def _batch(capacity: int, timeout_h=None, min_cells: int = 1, mean_interarrival=0.25, cycle_h=0.5, **kw) -> dict:
    return scenario_dict(
        {"vessel": {"kind": "batch", "process_time_h": fixed(cycle_h), "next": "sink",
                    "batch": {"capacity_cells": capacity, "min_cells": min_cells, "timeout_h": timeout_h}}},
        interarrival_h=exp(mean_interarrival), **kw)


def _runs_for_invariants():
    mm1 = scenario_dict(duration_h=20000, warmup_h=500, replications=2, seed=5)
    jackson = load("validation_jackson.yaml")
    jackson = jackson.model_copy(update={"run": jackson.run.model_copy(update={"duration_h": 5000, "replications": 2})})
    return {
        "mm1": build(mm1),
        "jackson": jackson,
        "tandem_blocking": build(_tandem(0, 1.0, 1.0, duration_h=5000, warmup_h=50, replications=2)),
        "batch_timeout": build(_batch(6, timeout_h=0.4, duration_h=5000, warmup_h=50, replications=2)),
        "rework_line": build(_rework_line()),
        "baseline": load("baseline.yaml").model_copy(
            update={"run": load("baseline.yaml").run.model_copy(update={"replications": 1})}),
    }


@pytest.fixture(scope="module")
def invariant_runs():
    return {name: run_reps(sc)[0] for name, sc in _runs_for_invariants().items()}


# --- Little's law and flow conservation ------------------------------------------------

INVARIANT_CASES = ["mm1", "jackson", "tandem_blocking", "batch_timeout", "rework_line", "baseline"]


@pytest.mark.slow
@pytest.mark.parametrize("case", INVARIANT_CASES)
def test_littles_law_every_replication(invariant_runs, case):
    """L = lambda W per replication, with lambda the departure rate in the window. Only the
    cells in progress at both ends of the window break the identity: 3% on these runs."""
    for rep in invariant_runs[case]["per_replication"]:
        L, X, W = rep["mean_wip"], rep["departures_per_h"], rep["mean_cycle_time_h"]
        assert L > 0.5 and X > 0
        assert X * W == pytest.approx(L, rel=0.03), f"{case}: L={L:.4g}, lambda*W={X * W:.4g}"


@pytest.mark.slow
@pytest.mark.parametrize("case", INVARIANT_CASES)
def test_flow_conservation_every_replication(invariant_runs, case):
    """started + WIP at the start of the window = accepted + rejected + WIP at the end, exactly."""
    for rep in invariant_runs[case]["per_replication"]:
        assert rep["cells_started"] + rep["wip_start"] == rep["cells_accepted"] + rep["cells_rejected"] + rep["wip_end"]
        assert rep["cells_started"] > 100


@pytest.mark.slow
def test_rework_line_exercises_rework_and_scrap(invariant_runs):
    s = invariant_runs["rework_line"]
    assert s["cells_reworked"] > 50 and s["cells_rejected"] > 50
    assert s["first_pass_yield"] < s["final_yield"] < 1.0


@pytest.mark.slow
def test_ci95_is_the_student_t_half_width(invariant_runs):
    """ci95 = t(0.975, n-1) * s / sqrt(n) across replications, recomputed here."""
    s = invariant_runs["mm1"]
    per = [r["mean_wip"] for r in s["per_replication"]]
    assert s["mean_wip"] == pytest.approx(np.mean(per))
    assert s["ci95"]["mean_wip"] == pytest.approx(t_interval(per)[1], rel=1e-9)
    # two replications: t(0.975, 1) = 12.706
    assert s["ci95"]["mean_wip"] == pytest.approx(12.7062 * np.std(per, ddof=1) / math.sqrt(2), rel=1e-4)


# --- seeds and common random numbers --------------------------------------------------

def _summary_json(sc, seed):
    from twin.simulation import Simulation, json_safe

    return json.dumps(json_safe(Simulation(sc, replications=2, seed=seed).run().summary), sort_keys=True)


def test_same_seed_same_summary_different_seed_differs():
    sc = build(_rework_line())
    sc = sc.model_copy(update={"run": sc.run.model_copy(update={"duration_h": 500, "warmup_h": 50})})
    a, b, c = _summary_json(sc, 7), _summary_json(sc, 7), _summary_json(sc, 8)
    assert a == b
    assert a != c
    reps = json.loads(a)["per_replication"]
    assert reps[0] != reps[1], "replications must draw independent streams"


def _trace_columns(out):
    import pyarrow.parquet as pq

    table = pq.read_table(out / "cells.parquet").to_pydict()
    order = sorted(range(len(table["cell_id"])), key=lambda i: (table["replication"][i], table["cell_id"][i]))
    parquet_t_in = [table["t_in_h"][i] for i in order]
    with sqlite3.connect(out / "trace.sqlite") as db:
        sqlite_t_in = [r[0] for r in db.execute("SELECT t_in_h FROM cells ORDER BY replication, cell_id")]
        s1_service = [r[0] for r in db.execute(
            "SELECT t_end_h - t_start_h FROM visits WHERE station = 's1' ORDER BY replication, cell_id")]
    return parquet_t_in, sqlite_t_in, s1_service


def test_common_random_numbers_across_scenarios(tmp_path):
    """Two scenarios that differ only in station s2's servers see the same releases (t_in_h in
    cells.parquet and trace.sqlite) and the same service times at the untouched station s1."""
    from twin.simulation import Simulation

    base = scenario_dict({"s1": station(exp(0.5), next="s2"), "s2": station(exp(0.9), servers=1)},
                         duration_h=800, warmup_h=20, replications=2, seed=9)
    variant = deep_merge(base, {"stations": {"s2": {"servers": 2}}})
    results = {}
    for name, data in (("a", base), ("b", variant)):
        results[name] = Simulation(build(data)).run(tmp_path / name).summary
        assert (tmp_path / name / "cells.parquet").exists()
    assert results["a"]["mean_cycle_time_h"] > 1.5 * results["b"]["mean_cycle_time_h"], "the variant must differ"
    pa_t, sq_t, s1_a = _trace_columns(tmp_path / "a")
    pb_t, sqb_t, s1_b = _trace_columns(tmp_path / "b")
    assert len(pa_t) > 1000
    assert pa_t == pb_t
    assert sq_t == sqb_t == pa_t
    assert s1_a == s1_b


# --- blocking after service ------------------------------------------------------------

def tandem_throughput(buffer: int, mu1: float, mu2: float) -> float:
    """Two-station tandem, station 1 never starved, `buffer` places between them, blocking
    after service. CTMC states n = 0..buffer+1 cells at station 2 (station 1 working) and
    'blocked' (station 2 full, station 1 holding a finished cell). Throughput = mu2 * P(n >= 1)."""
    k = buffer + 1  # most cells station 2 can hold (queue + server)
    m = k + 2       # states 0..k, and k+1 = blocked
    Q = np.zeros((m, m))
    for n in range(k + 1):
        Q[n, n + 1] += mu1          # station 1 finishes: into station 2, or blocked when n == k
        if n >= 1:
            Q[n, n - 1] += mu2      # station 2 finishes
    Q[k + 1, k] += mu2              # blocked: station 2 finishes, the blocked cell moves in
    np.fill_diagonal(Q, -Q.sum(axis=1))
    A = np.vstack([Q.T, np.ones(m)])
    pi = np.linalg.lstsq(A, np.r_[np.zeros(m), 1.0], rcond=None)[0]
    return mu2 * (1.0 - pi[0])


def test_tandem_chain_textbook_values():
    assert tandem_throughput(0, 1.0, 1.0) == pytest.approx(2.0 / 3.0)
    # equal rates: (B + 2) / (B + 3); no blocking in the limit -> min(mu1, mu2)
    assert tandem_throughput(3, 1.0, 1.0) == pytest.approx(5.0 / 6.0)
    assert tandem_throughput(200, 1.0, 2.0) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("buffer,mean1,mean2", [(0, 1.0, 1.0), (2, 1.0, 0.8)])
def test_blocking_after_service_throughput(buffer, mean1, mean2):
    sc = build(_tandem(buffer, mean1, mean2, duration_h=8000, warmup_h=100, replications=5, seed=17))
    s, _ = run_reps(sc)
    x = tandem_throughput(buffer, 1.0 / mean1, 1.0 / mean2)
    if buffer == 0:
        assert x == pytest.approx(2.0 / 3.0)
    assert_close_ci("throughput", s["throughput_per_h"], s["ci95"]["throughput_per_h"], x, REL_SLACK)
    # each cell takes one service at each station: busy fractions are X / mu1 and X / mu2
    assert_close_ci("utilisation.s1", s["utilisation"]["s1"], s["ci95"]["utilisation"]["s1"], x * mean1, REL_SLACK)
    assert_close_ci("utilisation.s2", s["utilisation"]["s2"], s["ci95"]["utilisation"]["s2"], x * mean2, REL_SLACK)
    # without the blocking the line would do min(mu1, mu2): the effect tested is large
    assert x < 0.9 * min(1.0 / mean1, 1.0 / mean2)


# --- downtime ------------------------------------------------------------------------

def test_availability_under_breakdowns():
    """A = MTBF / (MTBF + MTTR) (alternating renewal, any repair distribution); a saturated
    station with preempt-resume work then does A / E[S] cells per hour and is busy A of the time."""
    mtbf, mttr, service = 4.0, 1.0, 0.5
    data = scenario_dict(
        {"m": station(fixed(service), buffer_capacity=1,
                      breakdowns={"mtbf_h": mtbf, "mttr_h": {"dist": "uniform", "low": 0.5, "high": 1.5}})},
        interarrival_h=fixed(0.001), duration_h=5000, warmup_h=50, replications=5, seed=21)
    s, _ = run_reps(build(data))
    a = mtbf / (mtbf + mttr)
    assert_close_ci("availability", s["availability"]["m"], s["ci95"]["availability"]["m"], a, REL_SLACK)
    assert_close_ci("throughput", s["throughput_per_h"], s["ci95"]["throughput_per_h"], a / service, REL_SLACK)
    assert_close_ci("utilisation", s["utilisation"]["m"], s["ci95"]["utilisation"]["m"], a, REL_SLACK)


def test_availability_under_shifts():
    """Shifts are deterministic: availability = window share (16 of 24 h); a saturated station
    with 0.5 h jobs does 32 cells a day (work pauses at the end of a window and resumes)."""
    days, service = 100, 0.5
    data = scenario_dict(
        {"m": station(fixed(service), buffer_capacity=1, shifts={"period_h": 24, "windows_h": [[0, 8], [12, 20]]})},
        interarrival_h=fixed(0.001), duration_h=24 * days, warmup_h=24, replications=1)
    s, _ = run_reps(build(data))
    share = 16.0 / 24.0
    assert s["availability"]["m"] == pytest.approx(share, rel=1e-9)
    assert s["utilisation"]["m"] == pytest.approx(share, rel=1e-6)
    assert s["throughput_per_h"] == pytest.approx(share / service, abs=1.0 / (24 * (days - 1)))


# --- batch machine ---------------------------------------------------------------------

def _batches(line, name):
    """{t_start: [cells]} of one station's cycles, from the visit trace."""
    out: dict = {}
    for cell_id, st, t_arrive, t_start, t_end, _ in line.visits:
        if st == name:
            out.setdefault((t_start, t_end), []).append((cell_id, t_arrive))
    return out


def test_batch_full_rule_cycles_and_throughput():
    """Full-batch rule (no time-out): every cycle presses exactly N cells; cycles per hour =
    lambda / N, vessel utilisation = (lambda / N) * cycle time, cell throughput = lambda."""
    n, lam, cycle, T = 5, 4.0, 0.5, 5000.0
    sc = build(_batch(n, timeout_h=None, mean_interarrival=1.0 / lam, cycle_h=cycle, duration_h=T, seed=4))
    line, kpis = run_line(sc)
    vessel = line.stations["vessel"]
    batches = _batches(line, "vessel")
    assert {len(c) for c in batches.values()} == {n}
    assert vessel.cycles >= len(batches) and vessel.cells_pressed == n * vessel.cycles
    arrived = line.source.released
    # every arrival is pressed, waiting for its batch to fill, or in the cycle running at the end
    assert arrived - vessel.cells_pressed - len(vessel.waiting) in (0, n)
    # rates: the count of Poisson arrivals has sd sqrt(lambda T) (0.7% here): 3% is > 4 sd
    assert vessel.cycles / T == pytest.approx(lam / n, rel=0.03)
    assert kpis["throughput_per_h"] == pytest.approx(lam, rel=0.03)
    assert kpis["utilisation"]["vessel"] == pytest.approx(lam / n * cycle, rel=0.03)


@pytest.mark.parametrize("min_cells", [1, 3])
def test_batch_timeout_bounds_the_wait(min_cells):
    """Time-out rule: a cell never waits in formation longer than timeout_h after it arrived
    while the vessel is free; if the vessel is busy at that deadline, it starts as soon as the
    running cycle ends (capacity 30 is never reached here, so no cell is left behind by a full batch)."""
    timeout, cycle, tol = 0.4, 0.3, 1e-9
    sc = build(_batch(30, timeout_h=timeout, min_cells=min_cells, mean_interarrival=0.25, cycle_h=cycle,
                      duration_h=2000, seed=6 + min_cells))
    line, _ = run_line(sc)
    batches = sorted(_batches(line, "vessel").items())
    assert len(batches) > 500
    busy = [(s, e) for (s, e), _ in batches]
    starts = np.array([s for s, _ in busy])
    by_timeout = 0
    for (t_start, t_end), cells in batches:
        assert min_cells <= len(cells) < 30
        first = min(t for _, t in cells)
        if len(cells) < 30 and abs(t_start - first - timeout) < 1e-9:
            by_timeout += 1
        for _, t_arrive in cells:
            deadline = t_arrive + timeout
            i = np.searchsorted(starts, deadline, side="right") - 1
            vessel_busy_until = busy[i][1] if i >= 0 and busy[i][0] <= deadline < busy[i][1] else -math.inf
            if min_cells == 1:
                assert t_start <= max(deadline, vessel_busy_until) + tol, (t_arrive, t_start)
            assert t_start >= t_arrive
    # the rule was actually binding: most batches were started by the time-out
    assert by_timeout > 0.3 * len(batches)
