"""Benchmark of the interface model against its exact references, side by side in one run.

Prints: evaluate() cells/s on one core (CPU time, min and median of several rounds); the
exact contact solve and the exact current solve per 256x256 surface; the fast/exact ratios;
and the fast-vs-exact calibration error tables (from the stored exact points).
Usage: python bench/bench_interface.py [--cells 1000000] [--grid 256] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from twin.interface import evaluate, load_params, validate_inputs
from twin.interface.fast import FAST_MODEL
from twin.interface import reference as ref
from twin.interface.calibration import error_tables, load_calibration


def pilot_cells(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A pilot-line mix as the shipped scenarios press it: WIP at 290 MPa / 60 C / 150 s (3% CV)
    and a heated uniaxial press at ~300 MPa / 60 C / 170 s (10% CV), smooth and rough collector
    lots, cycled at 0.45 mA/cm2 under 10 MPa stack pressure."""
    uni = rng.random(n) < 0.3
    rough = rng.random(n) < 0.2
    sq = np.where(rough, 0.45, 0.2) * rng.lognormal(0.0, 0.2, n)
    return {
        "pressure_mpa": np.where(uni, 300.0, 290.0) * rng.normal(1.0, np.where(uni, 0.025, 0.005), n),
        "pressure_cv": np.where(uni, 0.10, 0.03) * rng.lognormal(0.0, 0.3, n),
        "hold_s": np.where(uni, 170.0, 150.0),
        "temperature_c": np.full(n, 60.0),
        "sq_um": sq,
        "sdq": np.where(rough, 0.12, 0.06) * rng.lognormal(0.0, 0.25, n),
        "pv_um": np.maximum(np.where(rough, 2.8, 1.5) * rng.lognormal(0.0, 0.25, n), sq),
        "waviness_um": rng.uniform(0.5, 2.0, n),
        "waviness_mm": rng.uniform(3.0, 8.0, n),
        "current_ma_cm2": np.full(n, 0.45),
        "stack_pressure_mpa": np.full(n, 10.0),
    }


def cpu_times(fn, rounds: int) -> tuple[float, float]:
    """(min, median) process CPU seconds of ``fn()`` over ``rounds`` calls."""
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.min(times)), float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--grid", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

    cells = pilot_cells(args.cells, np.random.default_rng(0))
    evaluate(**{k: v[:1000] for k, v in cells.items()})  # warm caches (calibration, params)
    best, median = cpu_times(lambda: evaluate(**cells), args.rounds)
    rate = args.cells / best
    out = evaluate(**cells)
    counts = np.bincount(out["decision"].astype(int), minlength=3) / args.cells
    print(f"evaluate: {args.cells:,} cells, CPU min {best:.3f} s / median {median:.3f} s -> {rate:,.0f} cells/s "
          f"(1 core); accept/rework/reject {counts[0]:.2f}/{counts[1]:.2f}/{counts[2]:.2f} (each rework and reject "
          f"a re-press prediction: a second model evaluation)")
    inputs = validate_inputs(FAST_MODEL, cells)
    params = load_params()
    q_best, q_median = cpu_times(lambda: FAST_MODEL.evaluate(params, **inputs), args.rounds)
    print(f"model alone (no decision): CPU min {q_best:.3f} s / median {q_median:.3f} s -> "
          f"{args.cells / q_best:,.0f} cells/s; machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    cal = load_calibration()
    s = cal["solver"]
    contact_t, current_t = [], []
    for seed, (pn, hn) in enumerate([(0.1, None), (0.35, None), (0.2, 0.5)]):
        surf = ref.self_affine_surface(args.grid, 1.0, s["hurst"], s["rolloff_px"], s["cutoff_px"], sdq=0.1, seed=seed)
        hard = np.inf if hn is None else hn * 100.0
        t0 = time.process_time()
        c = ref.solve_contact(surf, pn * 100.0, 1000.0, hardness_mpa=hard)
        contact_t.append(time.process_time() - t0)
        ell = surf.sq_um / surf.sdq
        t0 = time.process_time()
        ref.solve_current(c.pressure_mpa, 1.0, 500.0, 500.0 * 18.0 * ell * 1e-4)  # beta = 18: L_ct 60 um, Sq/Sdq 3.3
        current_t.append(time.process_time() - t0)
    t_contact, t_current = float(np.median(contact_t)), float(np.median(current_t))
    print(f"exact contact solver: {t_contact:.2f} s per {args.grid}x{args.grid} surface (median of 3, with stiffness); "
          f"fast/exact ratio {t_contact * rate:,.0f} cells per exact contact solve")
    print(f"exact current solver: {t_current:.3f} s per {args.grid}x{args.grid} surface (median of 3, beta 18); "
          f"fast/exact ratio {t_current * rate:,.0f} cells per exact current solve")

    print(f"calibration ({s['grid']}x{s['grid']}, {s['seeds']} surfaces/point): fast closed forms vs exact")
    print(error_tables(cal["points"], cal))


if __name__ == "__main__":
    main()
