"""Which WIP hold time gives the lowest cost per good cell at >= 95% final yield?

The studies `twin optimize` and `twin sensitivity` run, called from Python (a notebook cell works
the same), answering in pandas DataFrames:

    python examples/hold_time_study.py [--budget 16] [--replications 3] [--out out/hold_time]

1. optimise the hold time (60..3600 s) for cost per good cell, with the final yield's lower 95%
   bound >= 0.95 (evidence, not a lucky mean), every trial on the same random numbers;
2. ask which recipe settings move cost and yield most (Morris screening around the recipe);
3. print the answer. The scenario is examples/hold_time.yaml.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from twin.studies.api import optimize, sensitivity

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "hold_time.yaml"
HOLD = "stations.wip_press.press.recipe.hold_s"
RECIPE = "stations.wip_press.press.recipe"


def main(budget: int = 16, replications: int = 3, samples: int = 4, out: Path | None = None) -> dict:
    # 1. the optimisation: trials as a DataFrame, the best feasible trial in `best`
    study = optimize(SCENARIO, [f"{HOLD}=60:3600:int"], objectives=["cost_per_good_cell"],
                     constraints=["final_yield>=0.95"], budget=budget, replications=replications,
                     out=out / "optimize" if out else None, force=True)
    trials = study.trials.sort_values(HOLD)
    print(trials[[HOLD, "cost_per_good_cell.mean", "final_yield.mean", "final_yield>=0.95.evidence", "feasible"]]
          .to_string(index=False))

    # 2. what else matters around this recipe: Morris screening (mu* = effect over the whole range)
    screen = sensitivity(SCENARIO, [f"{HOLD}=300:2400:int", f"{RECIPE}.target_pressure_mpa=300:450",
                                    f"{RECIPE}.temperature_c=40:120"],
                         method="morris", kpis=["cost_per_good_cell", "final_yield"], samples=samples,
                         replications=max(2, replications - 1), out=out / "sensitivity" if out else None, force=True)
    print(screen.indices[["kpi", "param", "mu_star", "mu_star_conf", "sigma"]].to_string(index=False))

    # 3. the answer
    if not len(study.best):
        print("answer: no hold time met final_yield >= 0.95 on its lower 95% bound within the budget")
        return {"hold_s": None}
    best = study.best.iloc[0]
    answer = {"hold_s": int(best[HOLD]), "cost_per_good_cell": float(best["cost_per_good_cell.mean"]),
              "final_yield_low95": float(best["final_yield>=0.95.evidence"]), "runs": study.runs}
    print(f"answer: hold {answer['hold_s']} s, {answer['cost_per_good_cell']:.2f} EUR per good cell, final yield "
          f">= {answer['final_yield_low95']:.4f} (lower 95% bound), {answer['runs']} simulation runs")
    return answer


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=int, default=16, help="optimisation trials")
    ap.add_argument("--replications", type=int, default=3, help="replications per trial")
    ap.add_argument("--samples", type=int, default=4, help="Morris trajectories")
    ap.add_argument("--out", type=Path, default=None, help="also write the studies' folders here")
    a = ap.parse_args()
    main(a.budget, a.replications, a.samples, a.out)
