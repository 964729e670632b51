"""Sweep throughput (runs per minute) in-process, on a 2-process local pool and through a
Dask cluster (scheduler + 2 single-threaded worker processes on 127.0.0.1), plus each
executor's per-task overhead (a trivial task that still ships the scenario).

    python bench/bench_sweep.py [--points 4] [--replications 4] [--duration-h 60]

The workload is the flatness what-if (physics quality mode) shortened to --duration-h.
Results of all executors are checked to be identical. Figures depend on the machine and
on whatever else runs on it; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from twin.experiment import executor_for, run_points, run_tasks
from twin.scenario import load_scenario_data
from twin.simulation import json_safe
from twin.studies.sweep import Grid, parse_setting

REPO = Path(__file__).resolve().parent.parent


def scenarios(points: int, duration_h: float):
    data = load_scenario_data(REPO / "scenarios" / "whatif_flatness_spec.yaml")
    data["run"].update(duration_h=duration_h, warmup_h=min(12.0, duration_h / 4))
    specs = ",".join(str(3 + i) for i in range(points))
    return Grid([parse_setting(f"lots.collector.pv_um.high={specs}")]).scenarios(data, "bench")


def timed_sweep(executor, scs, reps: int) -> tuple[float, list]:
    t0 = time.perf_counter()
    result = run_points(scs, seed=1, replications_n=reps, executor=executor)
    return time.perf_counter() - t0, result


def overhead(executor, scenario, n: int) -> float:
    """Wall seconds per trivial task (ships the scenario, computes nothing)."""
    tasks = [(bool, (scenario,)) for _ in range(n)]
    t0 = time.perf_counter()
    for _ in run_tasks(executor, tasks):
        pass
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--replications", type=int, default=4)
    ap.add_argument("--duration-h", type=float, default=60.0)
    ap.add_argument("--overhead-tasks", type=int, default=200)
    args = ap.parse_args()

    scs = scenarios(args.points, args.duration_h)
    runs = args.points * args.replications
    print(f"workload: flatness what-if, {args.duration_h:g} h per run, {args.points} points x "
          f"{args.replications} replications = {runs} runs")
    rows = []
    reference = None
    configs = [("in-process (1 worker)", {"workers": 1}), ("process pool, 2 workers", {"workers": 2}),
               ("Dask, 2 workers via tcp://127.0.0.1", {"dask": 2})]
    for label, cfg in configs:
        if "dask" in cfg:
            from distributed import LocalCluster

            t0 = time.perf_counter()
            cluster = LocalCluster(n_workers=cfg["dask"], threads_per_worker=1, processes=True, host="127.0.0.1",
                                   scheduler_port=0, dashboard_address=None, protocol="tcp://")
            ctx = executor_for(scheduler=cluster.scheduler_address)
        else:
            cluster = None
            t0 = time.perf_counter()
            ctx = executor_for(workers=cfg["workers"])
        try:
            with ctx as ex:
                overhead(ex, scs[0], 4)  # warm the workers (imports) before timing
                startup = time.perf_counter() - t0
                per_task = overhead(ex, scs[0], args.overhead_tasks)
                wall, result = timed_sweep(ex, scs, args.replications)
        finally:
            if cluster is not None:
                cluster.close()
        same = json.dumps(json_safe(result), sort_keys=True)
        reference = reference or same
        rows.append((label, runs / wall * 60.0, wall, per_task * 1e3, startup, same == reference))

    print(f"{'executor':<38}{'runs/min':>10}{'wall s':>9}{'overhead ms/task':>18}{'start-up s':>12}  identical")
    for label, rpm, wall, ms, startup, same in rows:
        print(f"{label:<38}{rpm:>10.1f}{wall:>9.2f}{ms:>18.2f}{startup:>12.2f}  {'yes' if same else 'NO'}")
    base = rows[0][1]
    print("speed-up vs in-process: " + ", ".join(f"{label}: {rpm / base:.2f}x" for label, rpm, *_ in rows[1:]))


if __name__ == "__main__":
    main()
