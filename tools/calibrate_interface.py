"""Calibrate the closed forms of twin.interface.fast against the exact solver.

Runs twin.interface.reference over dimensionless pressures pn = p/(E* Sdq) from 0.02 to 1,
elastic (no hardness cap) and plastic (h = H/(E* Sdq) from 2 down to 0.05), on a few
self-affine surfaces; fits the contact-fraction and contact-stiffness closed forms; writes
twin/interface/calibration.json (coefficients plus the seed-averaged exact points) and
prints the calibration error table.  Usage: python tools/calibrate_interface.py [--n 256]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from twin.interface import reference as ref
from twin.interface.fast import CALIBRATION_PATH, rough_contact_fraction

PN = (0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
HN = (float("inf"), 2.0, 1.0, 0.5, 0.25, 0.1, 0.05)
SURFACE = {"hurst": 0.8, "rolloff_px": 64.0, "cutoff_px": 16.0}
E_STAR, SDQ = 1000.0, 0.1  # the problem is scale-free in pn and h; any E*, Sdq will do


def run_exact(n: int, seeds: int) -> list[dict]:
    """Exact contact fraction and stiffness K Sq/p, averaged over surfaces."""
    surfaces = [
        ref.self_affine_surface(
            n, 1.0, SURFACE["hurst"], SURFACE["rolloff_px"], SURFACE["cutoff_px"], sdq=SDQ, seed=s
        )
        for s in range(seeds)
    ]
    points = []
    for hn in HN:
        for pn in PN:
            if pn / hn >= 0.97:
                continue
            areas, stiff = [], []
            for surf in surfaces:
                r = ref.solve_contact(surf, pn * E_STAR * SDQ, E_STAR, hardness_mpa=hn * E_STAR * SDQ)
                areas.append(r.contact_fraction)
                stiff.append(r.stiffness_mpa_per_um * surf.sq_um / (pn * E_STAR * SDQ))
            points.append(
                {
                    "pn": pn,
                    "hn": None if np.isinf(hn) else hn,
                    "contact_fraction": float(np.mean(areas)),
                    "contact_fraction_sd": float(np.std(areas)),
                    "stiffness_ratio": float(np.exp(np.mean(np.log(stiff)))),
                }
            )
            print(f"pn={pn:5.2f} h={hn:5.2f}  A={points[-1]['contact_fraction']:.4f}", flush=True)
    return points


def _x(points: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pn = np.array([p["pn"] for p in points])
    hn = np.array([np.inf if p["hn"] is None else p["hn"] for p in points])
    return pn, pn / hn, np.array([p["contact_fraction"] for p in points])


def _contact_coef(v: np.ndarray) -> dict:
    return {"poly": [float(v[0]), float(v[1]), float(v[2])], "mix_exponent": int(v[3]), "plastic_weight": float(v[4])}


def fit(points: list[dict]) -> dict:
    """Least-squares fit of the contact form; log-linear fit of the stiffness form."""
    pn, x, area = _x(points)
    best = None
    for m in (2, 3, 4):  # integer mixing exponents have fast paths in fast.py
        res = least_squares(
            lambda v: rough_contact_fraction(pn, x, _contact_coef([*v[:3], m, v[3]])) - area,
            x0=[2.3, 0.5, 0.5, 1.0],
            bounds=([0.5, -5.0, -5.0, 0.2], [5.0, 10.0, 10.0, 5.0]),
        )
        if best is None or res.cost < best[0]:
            best = (res.cost, [*res.x[:3], m, res.x[3]])
    a = np.array([p["contact_fraction"] for p in points])
    y = np.log([p["stiffness_ratio"] for p in points])
    design = np.column_stack([np.ones_like(a), -np.log(1.0 - a), a])
    c, *_ = np.linalg.lstsq(design, y, rcond=None)
    return {"contact": _contact_coef(best[1]), "stiffness": {"c0": float(c[0]), "c1": float(c[1]), "c2": float(c[2])}}


def error_table(points: list[dict], coef: dict) -> str:
    """Max and mean absolute contact-fraction error of the closed form, per regime."""
    pn, x, area = _x(points)
    err = np.abs(rough_contact_fraction(pn, x, coef["contact"]) - area)
    hn = np.array([np.inf if p["hn"] is None else p["hn"] for p in points])
    lines = [f"{'regime':<18}{'points':>7}{'max |dA|':>10}{'mean |dA|':>11}"]
    for label, mask in (("elastic", np.isinf(hn)), ("plastic", ~np.isinf(hn)), ("all", np.ones_like(hn, bool))):
        lines.append(f"{label:<18}{mask.sum():>7}{err[mask].max():>10.4f}{err[mask].mean():>11.4f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="grid size of the exact solver")
    ap.add_argument("--seeds", type=int, default=3, help="surfaces per point")
    ap.add_argument("--out", type=Path, default=CALIBRATION_PATH)
    ap.add_argument("--refit", action="store_true", help="refit the stored points, no solving")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.refit:
        stored = json.loads(args.out.read_text(encoding="utf-8"))
        points = stored["points"]
        args.n, args.seeds = stored["solver"]["grid"], stored["solver"]["seeds"]
    else:
        points = run_exact(args.n, args.seeds)
    coef = fit(points)
    doc = {
        "about": "closed-form coefficients of twin.interface.fast, fitted to twin.interface.reference",
        "solver": {"grid": args.n, "seeds": args.seeds, **SURFACE},
        **coef,
        "points": points,
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")
    print(error_table(points, coef))


if __name__ == "__main__":
    main()
