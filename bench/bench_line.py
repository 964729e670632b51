"""Line-twin speed side by side, in one process, on CPU time (time.process_time):
this project vs ciw vs a minimal hand-written SimPy model, on the same exponential
networks, counting only COMPLETED cells (left the network) on every side.

Networks (arrivals 1 /h, exponential service, unbounded buffers):
- tandem: three M/M/1 stations in series (means 0.7, 0.8, 0.75 h);
- jackson: the open Jackson network of scenarios/validation_jackson.yaml (prep M/M/1 0.6 h,
  press M/M/2 1.2 h, check M/M/1 0.56 h; after check 20% back to the press, 5% out as scrap).

Rows, cells per CPU-second (min and median over --rounds):
- minimal SimPy: a generator per cell, a simpy.Resource per station, a counter (no records);
- ciw: ciw.Network / Simulation.simulate_until_max_time (keeps its records in memory);
- core (Line.run): this project's replication without records (keep_visits=False);
- Simulation.run + outputs: one replication with summary.json, cells.parquet, trace.sqlite.
Ratios: minimal / core (target <= 1.25) and Simulation.run / ciw (target >= 1.2).

Then the shipped baseline (press, metrology, glovebox physics; quality in physics mode) as
`twin run` end to end in a child process, 1 replication: completed cells per CPU-second of
the child (start-up included), and the start-up of `twin validate` and of `twin run` on a
one-hour M/M/1 run. The 1,000,000-cell run is bench/bench_million.py.

    python bench/bench_line.py [--rounds 3] [--hours 20000] [--skip-cli]

ciw is a benchmark-only dependency: pip install -e ".[bench]". Figures depend on the
machine and on its load (printed); they are never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import simpy

REPO = Path(__file__).resolve().parents[1]
FIXED_LOT = {k: {"dist": "fixed", "value": v} for k, v in
             (("sq_um", 0.2), ("sdq", 0.05), ("pv_um", 1.5), ("waviness_um", 1.0), ("waviness_mm", 5.0))}

# name -> (servers, mean service h, routes [(to, p)]); "out" leaves the network
NETWORKS: dict[str, dict[str, tuple[int, float, list[tuple[str, float]]]]] = {
    "tandem": {"s1": (1, 0.7, [("s2", 1.0)]), "s2": (1, 0.8, [("s3", 1.0)]), "s3": (1, 0.75, [("out", 1.0)])},
    "jackson": {"prep": (1, 0.6, [("press", 1.0)]), "press": (2, 1.2, [("check", 1.0)]),
                "check": (1, 0.56, [("press", 0.2), ("out", 0.05), ("out_ok", 0.75)])},
}
FIRST = {"tandem": "s1", "jackson": "prep"}


# --- this project -----------------------------------------------------------------------

def scenario_data(net: str, hours: float, seed: int = 1) -> dict:
    stations: dict[str, Any] = {}
    for name, (servers, mean, routes) in NETWORKS[net].items():
        nxt: Any = [{"to": {"out": "scrap", "out_ok": "sink"}.get(t, t), "p": p} for t, p in routes]
        if len(nxt) == 1:
            nxt = nxt[0]["to"] if nxt[0]["to"] != "scrap" else "sink"
        stations[name] = {"kind": "process", "servers": servers,
                          "process_time_h": {"dist": "exponential", "mean": mean}, "next": nxt}
    return {"name": f"bench-{net}", "run": {"duration_h": hours, "seed": seed, "timeline_h": 0},
            "source": {"interarrival_h": {"dist": "exponential", "mean": 1.0}, "first": FIRST[net]},
            "lots": {"any": FIXED_LOT}, "stations": stations}


def core(net: str, hours: float, seed: int) -> int:
    from twin.line import Line
    from twin.scenario import parse_scenario

    line = Line(parse_scenario(scenario_data(net, hours, seed)), 0, keep_visits=False)
    line.run()
    c = line.recorder.counts
    return c["accepted"] + c["rejected"]


def simulation_run(net: str, hours: float, seed: int) -> int:
    from twin.scenario import parse_scenario
    from twin.simulation import Simulation

    with tempfile.TemporaryDirectory() as tmp:
        s = Simulation(parse_scenario(scenario_data(net, hours, seed)), replications=1).run(Path(tmp) / "out")
    return int(s.summary["cells_accepted"] + s.summary["cells_rejected"])


# --- a minimal hand-written SimPy model ---------------------------------------------------

def minimal(net: str, hours: float, seed: int) -> int:
    rnd = random.Random(seed)
    env = simpy.Environment()
    spec = NETWORKS[net]
    res = {n: simpy.Resource(env, s) for n, (s, _, _) in spec.items()}
    rate = {n: 1.0 / m for n, (_, m, _) in spec.items()}
    routes = {n: ([t for t, _ in r], [p for _, p in r]) for n, (_, _, r) in spec.items()}
    done = [0]

    def cell(name: str):
        while True:
            r = res[name]
            with r.request() as req:
                yield req
                yield env.timeout(rnd.expovariate(rate[name]))
            targets, probs = routes[name]
            if len(targets) == 1:
                name = targets[0]
            else:
                u, acc = rnd.random(), 0.0
                for name, p in zip(targets, probs):
                    acc += p
                    if u < acc:
                        break
            if name.startswith("out"):
                done[0] += 1
                return

    def source():
        first = FIRST[net]
        while True:
            yield env.timeout(rnd.expovariate(1.0))
            env.process(cell(first))

    env.process(source())
    env.run(until=hours)
    return done[0]


# --- ciw ----------------------------------------------------------------------------------

def ciw_run(net: str, hours: float, seed: int) -> int:
    import ciw

    names = list(NETWORKS[net])
    spec = NETWORKS[net]
    first = names.index(FIRST[net])
    arrivals = [ciw.dists.Exponential(1.0) if i == first else None for i in range(len(names))]
    services = [ciw.dists.Exponential(1.0 / spec[n][1]) for n in names]
    servers = [spec[n][0] for n in names]
    routing = [[float(sum(p for t, p in spec[n][2] if t == m)) for m in names] for n in names]
    N = ciw.create_network(arrival_distributions=arrivals, service_distributions=services,
                           number_of_servers=servers, routing=routing)
    ciw.seed(seed)
    Q = ciw.Simulation(N)
    Q.simulate_until_max_time(hours)
    return len(Q.nodes[-1].all_individuals)  # the exit node: completed cells only


# --- timing -------------------------------------------------------------------------------

def rounds(fn: Callable[[], int], n: int) -> tuple[float, float, int]:
    """(min, median) CPU seconds per completed cell over n rounds, and the cells of one round."""
    per_cell, cells = [], 0
    for _ in range(n):
        t0 = time.process_time()
        cells = fn()
        per_cell.append((time.process_time() - t0) / max(cells, 1))
    return min(per_cell), statistics.median(per_cell), cells


def cpu_of_child(cmd: list[str]) -> tuple[float, float, int]:
    """(CPU s, wall s, exit code) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, wall, rc


def twin_exe() -> str:
    exe = Path(sys.executable).with_name("twin")
    return str(exe) if exe.exists() else "twin"


def completed_cells(out: Path) -> int:
    import pyarrow.parquet as pq

    outcome = pq.read_table(out / "cells.parquet", columns=["outcome"]).column("outcome").to_pylist()
    return sum(1 for o in outcome if o != "in_process")


def cli_figures(n: int) -> None:
    import yaml

    twin = twin_exe()
    with tempfile.TemporaryDirectory() as tmp:
        rates, cells = [], 0
        for i in range(n):
            out = Path(tmp) / f"base{i}"
            cpu, wall, rc = cpu_of_child([twin, "run", str(REPO / "scenarios" / "baseline.yaml"), "--out", str(out),
                                          "--replications", "1"])
            cells = completed_cells(out)
            rates.append(cells / cpu)
        print(f"\nbaseline, physics quality mode, `twin run` 1 replication end to end ({cells} completed cells):")
        print(f"  cells per CPU-second: min {min(rates):8.0f}  median {statistics.median(rates):8.0f}  (target >= 5000)")

        tiny = Path(tmp) / "tiny.yaml"
        data = yaml.safe_load((REPO / "scenarios" / "mm1.yaml").read_text())
        data["run"].update(duration_h=1.0, warmup_h=0.0, replications=1)
        data["expect"] = []
        tiny.write_text(yaml.safe_dump(data))
        val = [cpu_of_child([twin, "validate", str(REPO / "scenarios" / "baseline.yaml")]) for _ in range(n)]
        run = [cpu_of_child([twin, "run", str(tiny), "--out", str(Path(tmp) / f"tiny{i}")]) for i in range(n)]
    print("start-up (CPU s / wall s, min of rounds):")
    print(f"  twin validate baseline.yaml     : {min(v[0] for v in val):.2f} / {min(v[1] for v in val):.2f}"
          "  (target < 0.5 s)")
    print(f"  twin run of a 1-hour M/M/1      : {min(r[0] for r in run):.2f} / {min(r[1] for r in run):.2f}"
          "  (what `twin run` adds beyond the simulation; target <= 0.5 s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hours", type=float, default=20000.0, help="simulated hours per network run (~1 cell/h)")
    ap.add_argument("--skip-cli", action="store_true", help="only the side-by-side network table")
    args = ap.parse_args()
    try:
        import ciw  # noqa: F401
        have_ciw = True
    except ImportError:
        have_ciw = False
        print("ciw not installed (pip install -e '.[bench]'): its column is skipped")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {args.rounds} rounds, "
          f"{args.hours:g} h per run")
    sides: list[tuple[str, Callable[[str, float, int], int]]] = [("minimal SimPy", minimal)]
    if have_ciw:
        sides.append(("ciw", ciw_run))
    sides += [("core (Line.run)", core), ("Simulation.run + outputs", simulation_run)]
    header = f"{'cells per CPU-second':28s}" + "".join(f"{net:>26s}" for net in NETWORKS)
    print(header)
    results: dict[tuple[str, str], tuple[float, float]] = {}
    for label, fn in sides:
        row = f"{label:28s}"
        for net in NETWORKS:
            lo, med, cells = rounds(lambda: fn(net, args.hours, 1), args.rounds)
            results[(label, net)] = (lo, med)
            row += f"{1 / lo:>12.0f} (med {1 / med:>7.0f})"
        print(row)

    def ratio(a: str, b: str, net: str) -> str:
        return f"{results[(a, net)][0] / results[(b, net)][0]:.2f}x"

    print(f"{'core / minimal (time per cell; target <= 1.25)':48s}" + "".join(
        f"{ratio('core (Line.run)', 'minimal SimPy', n):>12s}" for n in NETWORKS))
    if have_ciw:
        print(f"{'Simulation.run speed / ciw (target >= 1.2)':48s}" + "".join(
            f"{results[('ciw', n)][0] / results[('Simulation.run + outputs', n)][0]:>11.2f}x" for n in NETWORKS))
    if not args.skip_cli:
        cli_figures(args.rounds)


if __name__ == "__main__":
    main()
