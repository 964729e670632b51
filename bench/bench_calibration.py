"""Calibration cost: the least-squares (Wald) path for 10,000 measured cells (target < 60 s), profile
vs Wald intervals, and the cost of parameter-uncertainty propagation relative to a plain run.

    python bench/bench_calibration.py [--cells 10000] [--rounds 3] [--draws 5] [--duration-h 72]

CPU seconds (process time), min and median of --rounds rounds, side by side with ratios. The data
are synthetic cells from known parameters (twin.calibration.synth); the propagation workload is
examples/calibrated_line.yaml shortened to --duration-h, on a parameter file fitted here. Figures
depend on the machine and its load; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent


def cpu(fn: Callable[[], Any], rounds: int) -> tuple[float, float, Any]:
    times, out = [], None
    for _ in range(rounds):
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return min(times), statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--profile-cells", type=int, default=2_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--duration-h", type=float, default=72.0)
    args = ap.parse_args()

    import yaml

    from twin.calibration import paramfile
    from twin.calibration.fit import fit
    from twin.calibration.synth import DEMO_TRUTH, synthesize
    from twin.interface.params import InterfaceParams

    truth = InterfaceParams.model_validate({**InterfaceParams().model_dump(), **DEMO_TRUTH})
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    cells = synthesize(args.cells, truth, seed=1)
    print(f"data: {args.cells} synthetic cells, outcomes {cells.counts()}")
    lo, med, res = cpu(lambda: fit(cells), args.rounds)
    print(f"wald (least squares + information), all parameters, {args.cells} cells: min {lo:.2f} s, median "
          f"{med:.2f} s CPU ({res.evaluations} model evaluations; target < 60 s)")

    four = ["r_ct_ohm_cm2", "creep_hardness_ref_mpa", "ccd_plating_ref_ma_cm2", "short_weibull_modulus"]
    small = synthesize(args.profile_cells, truth, seed=2)
    w_lo, w_med, _ = cpu(lambda: fit(small, four, "wald"), args.rounds)
    p_lo, p_med, _ = cpu(lambda: fit(small, four, "profile"), args.rounds)
    print(f"{args.profile_cells} cells, 4 parameters:   wald min {w_lo:.2f} s, median {w_med:.2f} s | profile min "
          f"{p_lo:.2f} s, median {p_med:.2f} s | profile / wald {p_med / w_med:.1f}x (median)")

    from twin.calibration.propagate import add_to_run
    from twin.scenario import parse_scenario
    from twin.simulation import Simulation

    with tempfile.TemporaryDirectory() as tmp:
        params = paramfile.save(paramfile.from_fit(res, []), Path(tmp) / "params.yaml")
        data = yaml.safe_load((REPO / "examples" / "calibrated_line.yaml").read_text())
        data["run"].update(duration_h=args.duration_h, warmup_h=min(24.0, args.duration_h / 4))
        data["quality"]["params"] = str(params)
        data["expect"] = []
        sc = parse_scenario(data, "bench", REPO / "examples")
        reps = sc.run.replications
        plain_lo, plain_med, result = cpu(lambda: Simulation(sc).run(Path(tmp) / "plain"), args.rounds)
        prop_lo, prop_med, _ = cpu(lambda: add_to_run(sc, result, args.draws), args.rounds)
        print(f"propagation, {args.duration_h:g} h x {reps} replications: plain run min {plain_lo:.2f} s, median "
              f"{plain_med:.2f} s | {args.draws} draws min {prop_lo:.2f} s, median {prop_med:.2f} s | "
              f"(plain + draws) / plain {(plain_med + prop_med) / plain_med:.1f}x (median)")


if __name__ == "__main__":
    main()
