"""Executors: in-process, a local process pool and a real Dask scheduler + worker on
loopback all return exactly the same replication results; Simulation through an executor
writes exactly what the sequential run writes; sequential replications stop at a target."""

from __future__ import annotations

import json
import math
from concurrent.futures import ProcessPoolExecutor

import pytest

from twin.experiment import executor_for, halfwidth_of, run_ordered, run_points
from twin.scenario import parse_scenario
from twin.simulation import Simulation, json_safe


def small_line(interarrival_h: float = 1.0, duration_h: float = 300.0, servers: int = 1) -> dict:
    """Two stations and a fixed-mode inspection with rework: fast, but every KPI moves."""
    lot = {k: {"dist": "fixed", "value": v} for k, v in
           (("sq_um", 0.2), ("sdq", 0.05), ("pv_um", 1.5), ("waviness_um", 1.0), ("waviness_mm", 5.0))}
    return {
        "name": "small",
        "run": {"duration_h": duration_h, "warmup_h": 20.0, "replications": 3, "seed": 11},
        "source": {"interarrival_h": {"dist": "exponential", "mean": interarrival_h}, "first": "prep"},
        "lots": {"a": lot},
        "stations": {
            "prep": {"kind": "process", "servers": servers, "process_time_h": {"dist": "exponential", "mean": 0.7},
                     "next": "press"},
            "press": {"kind": "batch", "batch": {"capacity_cells": 4, "timeout_h": 1.0},
                      "process_time_h": {"dist": "lognormal", "mean": 1.5, "sd": 0.3}, "next": "check"},
            "check": {"kind": "inspect", "process_time_h": {"dist": "fixed", "value": 0.05},
                      "fixed": {"p_accept": 0.9, "p_rework": 0.06, "p_reject": 0.04}, "on_rework": "press"},
        },
        "cost": {"equipment_per_server_h": {"prep": 5.0, "press": 20.0}, "material_per_cell": 3.0,
                 "scrap_per_cell": 1.0},
    }


def canon(x) -> str:
    """Exact comparison of nested results (nan-safe)."""
    return json.dumps(json_safe(x), sort_keys=True)


@pytest.fixture(scope="module")
def points():
    return [parse_scenario(small_line(1.0)), parse_scenario(small_line(0.9))]


@pytest.fixture(scope="module")
def reference(points):
    return run_points(points, seed=5, replications_n=3)


def test_run_ordered_yields_in_task_order():
    tasks = [(pow, (2, i)) for i in range(6)]
    with ProcessPoolExecutor(2) as pool:
        assert list(run_ordered(pool, tasks)) == [(i, 2 ** i) for i in range(6)]
    assert list(run_ordered(None, tasks)) == [(i, 2 ** i) for i in range(6)]


def test_process_pool_equals_in_process(points, reference):
    with executor_for(workers=2) as pool:
        assert isinstance(pool, ProcessPoolExecutor)
        got = run_points(points, seed=5, replications_n=3, executor=pool)
    assert canon(got) == canon(reference)


@pytest.mark.timeout(120)
def test_real_dask_scheduler_and_worker_on_loopback_equal_in_process(points, reference):
    distributed = pytest.importorskip("distributed", reason="Dask distributed is the optional [cluster] extra")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  scheduler_port=0, dashboard_address=None, protocol="tcp://") as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        # the same path as `twin sweep --scheduler tcp://...`
        with executor_for(scheduler=address, timeout_s=30) as client:
            assert type(client).__name__ == "Client"
            got = run_points(points, seed=5, replications_n=3, executor=client)
    assert canon(got) == canon(reference)


def test_simulation_through_an_executor_writes_what_the_sequential_run_writes(tmp_path):
    import pyarrow.parquet as pq

    sc = parse_scenario(small_line(duration_h=200.0))
    seq = Simulation(sc, replications=4, seed=3).run(tmp_path / "seq")
    seen = []
    with executor_for(workers=2) as pool:
        par = Simulation(sc, replications=4, seed=3, executor=pool).run(tmp_path / "par", on_replication=seen.append)
    assert seen == [0, 1, 2, 3]
    assert canon(par.summary) == canon(seq.summary)
    assert pq.read_table(tmp_path / "par" / "cells.parquet").equals(pq.read_table(tmp_path / "seq" / "cells.parquet"))


def test_target_ci_adds_replications_to_every_point_until_narrow_enough(points):
    first = run_points(points, seed=5, replications_n=3)
    wide = max(halfwidth_of(reps, "throughput_per_h") for reps in first)
    target = wide / 2.0
    got = run_points(points, seed=5, replications_n=3, target=("throughput_per_h", target), max_replications=60)
    n = len(got[0])
    assert all(len(reps) == n for reps in got), "every point keeps the same replication indices (pairing)"
    assert 3 < n < 60
    assert all(halfwidth_of(reps, "throughput_per_h") <= target for reps in got)
    assert canon([reps[:3] for reps in got]) == canon(first), "added replications extend, never replace"


def test_target_ci_stops_at_the_bound(points):
    got = run_points(points, seed=5, replications_n=2, target=("throughput_per_h", 1e-9), max_replications=5)
    assert [len(r) for r in got] == [5, 5]
    assert not math.isnan(halfwidth_of(got[0], "throughput_per_h"))
