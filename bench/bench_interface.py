"""Benchmark of the interface model: evaluate() cells/s, exact solve s/surface, calibration error.

Usage: python bench/bench_interface.py [--cells 1000000] [--grid 256]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from twin.interface import evaluate
from twin.interface import reference as ref
from twin.interface.fast import load_calibration, rough_contact_fraction


def pilot_cells(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A pilot-line mix: WIP and uniaxial presses, smooth and rough collector lots."""
    uni = rng.random(n) < 0.3
    rough = rng.random(n) < 0.2
    return {
        "pressure_mpa": np.where(uni, 375.0, 490.0) * rng.normal(1.0, 0.01, n),
        "pressure_cv": np.where(uni, 0.10, 0.02) * rng.lognormal(0.0, 0.3, n),
        "hold_s": np.full(n, 1800.0),
        "temperature_c": np.where(uni, 25.0, 80.0),
        "sq_um": np.where(rough, 0.6, 0.2) * rng.lognormal(0.0, 0.2, n),
        "sdq": np.where(rough, 0.3, 0.07) * rng.lognormal(0.0, 0.25, n),
        "pv_um": np.where(rough, 6.0, 1.5) * rng.lognormal(0.0, 0.25, n),
        "waviness_um": rng.uniform(0.5, 2.0, n),
        "waviness_mm": np.full(n, 5.0),
        "current_ma_cm2": np.full(n, 1.0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--grid", type=int, default=256)
    args = ap.parse_args()

    cells = pilot_cells(args.cells, np.random.default_rng(0))
    evaluate(**{k: v[:1000] for k, v in cells.items()})  # warm caches (calibration, params)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        out = evaluate(**cells)
        best = min(best, time.perf_counter() - t0)
    rate = args.cells / best
    counts = np.bincount(out["decision"], minlength=3) / args.cells
    print(f"evaluate: {args.cells:,} cells in {best:.3f} s -> {rate:,.0f} cells/s (1 core); "
          f"accept/rework/reject {counts[0]:.2f}/{counts[1]:.2f}/{counts[2]:.2f}")

    cal = load_calibration()
    s = cal["solver"]
    times = []
    for seed, (pn, hn) in enumerate([(0.1, None), (0.35, None), (0.2, 0.5)]):
        surf = ref.self_affine_surface(args.grid, 1.0, s["hurst"], s["rolloff_px"], s["cutoff_px"], sdq=0.1, seed=seed)
        t0 = time.perf_counter()
        ref.solve_contact(surf, pn * 100.0, 1000.0, hardness_mpa=np.inf if hn is None else hn * 100.0)
        times.append(time.perf_counter() - t0)
    per_solve = float(np.mean(times))
    print(f"exact solver: {per_solve:.2f} s per {args.grid}x{args.grid} surface (with stiffness); "
          f"fast/exact speed ratio {per_solve * rate:,.0f} cells per exact solve")

    pts = cal["points"]
    pn = np.array([p["pn"] for p in pts])
    hn = np.array([np.inf if p["hn"] is None else p["hn"] for p in pts])
    err = np.abs(rough_contact_fraction(pn, pn / hn, cal["contact"]) - np.array([p["contact_fraction"] for p in pts]))
    print(f"calibration ({s['grid']}x{s['grid']}, {s['seeds']} surfaces/point): contact fraction |fast - exact|")
    print(f"  {'regime':<10}{'points':>7}{'max':>9}{'mean':>9}")
    for label, mask in (("elastic", np.isinf(hn)), ("plastic", ~np.isinf(hn)), ("all", np.ones_like(hn, bool))):
        print(f"  {label:<10}{mask.sum():>7}{err[mask].max():>9.4f}{err[mask].mean():>9.4f}")


if __name__ == "__main__":
    main()
