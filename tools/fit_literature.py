"""Fit the literature-anchored coefficients of twin.interface to rows of literature.yaml.

* creep law (creep_hardness_ref_mpa, creep_stress_exponent, creep_activation_kj_mol): the
  void fraction after a 60 s WIP hold (Hayashi et al. 2025: at most 1%; fitted to the middle,
  0.5%), the 83% density of cold-pressed Li6PS5Cl (Nat. Energy 2025) and d ln R / d ln p = -0.5
  in the plastic/creep regime (arXiv:2501.00600); n is kept >= 1 (viscous creep is the floor);
* stripping CCD exponent: 0.2 -> 1.0 mA/cm2 from 3 to 7 MPa (Kasemchainan et al. 2019);
* plating CCD density exponent: 9 mA/cm2 at 99% and about 1 mA/cm2 at 83% density (Nat. Energy 2025);
* Li-creep short (Doux et al. 2020): the model's short probability at the Doux row (a cold-
  pressed electrolyte at 0.1 mA/cm2) is 2% at 5 MPa ("stable") and 90% at 25 MPa ("shorts"),
  our reading of the two words.

Prints the fitted values and the literature table; ``--write`` puts the values into
materials.yaml (in place, comments kept); ``--check`` exits 1 when the shipped values are not
the fit (to 1%).  Usage: python tools/fit_literature.py [--write | --check]
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from twin.interface import literature as lit
from twin.interface.params import MATERIALS_PATH, load_params

VOID_60S_TARGET = 0.005  # middle of Hayashi's "no voids" (<= 1%) after 60 s
DOUX_SHORT_AT = ((5.0, 0.02), (25.0, 0.90))  # (stack pressure MPa, short probability)


def _row(rid: str) -> dict[str, Any]:
    return next(r for r in lit.rows() if r["id"] == rid)


def _value(rid: str, params: Any) -> float:
    return lit.evaluate_row(_row(rid), params).model


def fit_creep(start: Any) -> dict[str, float]:
    """Creep hardness, stress exponent and activation energy to the three creep anchors."""
    cold = _row("cold_pressed_density")["check"]["target"]
    slope = _row("resistance_vs_pressure")["check"]["target"]

    def residuals(v: np.ndarray) -> np.ndarray:
        p = load_params(creep_hardness_ref_mpa=float(np.exp(v[0])), creep_stress_exponent=float(v[1]),
                        creep_activation_kj_mol=float(v[2]))
        return np.array([
            (np.log(max(_value("hayashi_dense_after_60s", p), 1e-6)) - np.log(VOID_60S_TARGET)),
            (_value("cold_pressed_density", p) - cold) / 0.01,
            (_value("resistance_vs_pressure", p) - slope) / 0.02,
        ])

    x0 = [np.log(start.creep_hardness_ref_mpa), max(start.creep_stress_exponent, 1.0), start.creep_activation_kj_mol]
    res = least_squares(residuals, x0=x0, bounds=([np.log(50.0), 1.0, 0.0], [np.log(2000.0), 20.0, 150.0]),
                        diff_step=1e-3)
    return {"creep_hardness_ref_mpa": float(np.exp(res.x[0])), "creep_stress_exponent": float(res.x[1]),
            "creep_activation_kj_mol": float(res.x[2])}


def fit_ccd(p: Any) -> dict[str, float]:
    """Closed-form CCD exponents from two anchors each."""
    k_lo, k_hi = _row("kasemchainan_3mpa"), _row("kasemchainan_7mpa")
    s_lo, s_hi = k_lo["conditions"]["stack_pressure_mpa"], k_hi["conditions"]["stack_pressure_mpa"]
    stack = np.log(k_hi["check"]["target"] / k_lo["check"]["target"]) / np.log(s_hi / s_lo)
    dense, porous = _row("dense_lpscl_ccd"), _row("densification_raises_ccd")
    phi0 = p.ccd_void_floor
    density = np.log(dense["check"]["target"] / porous["check"]["target"]) / np.log(
        (porous["conditions"]["void_fraction"] + phi0) / (dense["conditions"]["void_fraction"] + phi0))
    return {"ccd_stack_exponent": float(stack), "ccd_density_exponent": float(density)}


def fit_li_creep(start: Any) -> dict[str, float]:
    """Li-creep short Weibull (scale, modulus) so that the model's p_short at the Doux row's
    conditions is 2% at 5 MPa and 90% at 25 MPa stack pressure."""
    row = _row("doux_stack_pressure_window")
    table = lit.load_table()
    (s1, p1), (s2, p2) = DOUX_SHORT_AT

    def residuals(v: np.ndarray) -> np.ndarray:
        p = load_params(**{**start.model_dump(), "li_creep_short_stack_mpa": float(np.exp(v[0])),
                           "li_creep_short_modulus": float(v[1])})
        out = []
        for stack, target in ((s1, p1), (s2, p2)):
            cond = {**table["defaults"], **row["conditions"], "stack_pressure_mpa": stack}
            got = float(lit._model_outputs(cond, p)["p_short"])
            out.append(np.log(-np.log1p(-min(got, 1 - 1e-12))) - np.log(-np.log1p(-target)))
        return np.array(out)

    res = least_squares(residuals, x0=[np.log(start.li_creep_short_stack_mpa), start.li_creep_short_modulus],
                        bounds=([np.log(1.0), 0.5], [np.log(500.0), 20.0]))
    return {"li_creep_short_stack_mpa": float(np.exp(res.x[0])), "li_creep_short_modulus": float(res.x[1])}


def write(values: dict[str, float]) -> None:
    """Replace `key: value` lines of materials.yaml in place (comments kept)."""
    text = MATERIALS_PATH.read_text(encoding="utf-8")
    for key, value in values.items():
        pattern = re.compile(rf"^({key}:\s*)([-+0-9.eE]+)([ \t]*)", flags=re.M)
        match = pattern.search(text)
        if match is None:
            raise SystemExit(f"{key} not found in {MATERIALS_PATH}")
        number = f"{value:.6g}"
        pad = " " * max(len(match.group(2)) + len(match.group(3)) - len(number), 1 if match.group(3) else 0)
        text = text[: match.start(2)] + number + pad + text[match.end(3):]
    MATERIALS_PATH.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the fitted values into materials.yaml")
    mode.add_argument("--check", action="store_true", help="exit 1 if materials.yaml differs from the fit")
    args = ap.parse_args()
    shipped = load_params()
    ccd = fit_ccd(shipped)
    creep = fit_creep(load_params(**ccd))
    li = fit_li_creep(load_params(**ccd, **creep))
    values = {**creep, **ccd, **li}
    fitted = load_params(**values)
    print(f"{'parameter':<28}{'shipped':>12}{'fit':>12}")
    for k, v in values.items():
        print(f"{k:<28}{getattr(shipped, k):>12.5g}{v:>12.5g}")
    print()
    for r in lit.evaluate_table(fitted):
        other = "" if r.other is None else f" (vs {r.other:.4g})"
        print(f"{'ok  ' if r.passed else 'FAIL'} {r.id:<34} model {r.model:.4g}{other}  [{r.criterion}]")
    if args.write:
        write(values)
        print(f"\nwrote {MATERIALS_PATH}")
    if args.check:
        off = {k: v for k, v in values.items() if abs(getattr(shipped, k) / v - 1.0) > 0.01}
        if off:
            print(f"\nshipped values differ from the fit: {sorted(off)}")
            sys.exit(1)


if __name__ == "__main__":
    main()
