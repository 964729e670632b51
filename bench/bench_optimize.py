"""Runs `twin optimize` needs to answer the hold-time question, against the full grid.

The question (examples/hold_time.yaml): which WIP hold time gives the lowest cost per good cell
while the final yield's lower 95% bound stays >= 0.95? The reference is the full grid of hold
times (`--step-s` apart over 60..3600 s), every point run with the same replications and seed;
its optimum is the cheapest feasible point. The optimiser searches the same range with the same
replications and seed (common random numbers: a hold time costs exactly what the grid says), and
a study counts as done at the first trial whose best feasible cost is within 1% of the grid's
optimum. It is repeated for several sampler seeds; the figures are the runs (simulations) each
needs, min / median / max, the ratio grid runs / median optimiser runs (target >= 3), and CPU
time of both, measured side by side in this run.

    python bench/bench_optimize.py [--step-s 60] [--replications 3] [--seeds 5] [--budget 40]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

from twin.experiment import run_points
from twin.scenario import load_scenario_data
from twin.studies.optimize import optimize, parse_constraint, parse_objective
from twin.studies.space import estimate, parse_param, variant

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "examples" / "hold_time.yaml"
HOLD = "stations.wip_press.press.recipe.hold_s"
LOW_S, HIGH_S = 60, 3600
TOLERANCE = 0.01


def grid(data: dict, step_s: int, replications: int, seed: int) -> tuple[dict[int, tuple[float, bool]], float]:
    """Cost per good cell and feasibility of every grid point; CPU seconds taken."""
    constraint = parse_constraint("final_yield>=0.95")
    holds = list(range(LOW_S, HIGH_S + 1, step_s))
    t0 = time.process_time()
    scenarios = [variant(data, {HOLD: h}, str(SCENARIO), SCENARIO.parent) for h in holds]
    reps = run_points(scenarios, seed, replications)
    cpu = time.process_time() - t0
    out = {}
    for h, r in zip(holds, reps):
        out[h] = (estimate(r, "cost_per_good_cell").mean, constraint.violation(estimate(r, "final_yield")) <= 0)
    return out, cpu


def runs_to_target(data: dict, target: float, replications: int, seed: int, sampler_seed: int,
                   budget: int) -> tuple[int | None, float, float]:
    """(runs until the best feasible cost is within the tolerance of `target` or None, best found, CPU s)."""
    t0 = time.process_time()
    result = optimize(data, [parse_param(f"{HOLD}={LOW_S}:{HIGH_S}:int")], [parse_objective("cost_per_good_cell")],
                      [parse_constraint("final_yield>=0.95")], budget=budget, replications=replications, seed=seed,
                      source=str(SCENARIO), base_dir=SCENARIO.parent, sampler_seed=sampler_seed)
    cpu = time.process_time() - t0
    best, runs = math.inf, 0
    for _, row in result.trials.sort_values("trial").iterrows():
        runs += int(row["runs"])  # a point proposed again is not run again (0 runs)
        if row["feasible"]:
            best = min(best, float(row["cost_per_good_cell.mean"]))
        if best <= target * (1 + TOLERANCE):
            return runs, best, cpu
    return None, best, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step-s", type=int, default=60, help="grid spacing of hold times")
    ap.add_argument("--replications", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=5, help="sampler seeds to repeat the study with")
    ap.add_argument("--budget", type=int, default=40, help="trials per study at most")
    args = ap.parse_args()
    data = load_scenario_data(SCENARIO)
    seed = int(data["run"]["seed"])
    points, grid_cpu = grid(data, args.step_s, args.replications, seed)
    feasible = {h: c for h, (c, ok) in points.items() if ok and math.isfinite(c)}
    if not feasible:
        raise SystemExit("no feasible grid point: the question has no answer on this grid")
    best_hold = min(feasible, key=feasible.__getitem__)
    optimum = feasible[best_hold]
    grid_runs = len(points) * args.replications
    print(f"grid: {len(points)} hold times x {args.replications} replications = {grid_runs} runs, "
          f"CPU {grid_cpu:.1f} s; optimum hold {best_hold} s at {optimum:.3f} EUR per good cell "
          f"({len(feasible)} of {len(points)} points feasible on the 95% bound)")
    needed, cpus = [], []
    for s in range(args.seeds):
        runs, best, cpu = runs_to_target(data, optimum, args.replications, seed, sampler_seed=s, budget=args.budget)
        cpus.append(cpu)
        shown = "not within budget" if runs is None else f"{runs} runs"
        print(f"optimize, sampler seed {s}: {shown} to within {TOLERANCE:.0%} (best {best:.3f}), "
              f"CPU {cpu:.1f} s for {args.budget} trials")
        needed.append(runs if runs is not None else math.inf)
    med = statistics.median(needed)
    print(f"runs to within {TOLERANCE:.0%} of the grid optimum: min {min(needed)}, median {med}, max {max(needed)} "
          f"(grid: {grid_runs})")
    print(f"ratio grid / median optimize runs: {grid_runs / med:.1f}x (target >= 3x); "
          f"median CPU of a {args.budget}-trial study {statistics.median(cpus):.1f} s vs the grid {grid_cpu:.1f} s")


if __name__ == "__main__":
    main()
