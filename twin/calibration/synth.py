"""Synthetic measured cells from known parameters, with realistic noise (the calibration's truth).

The process records spread over a production window (pressure, CV, hold, temperature, foil
flatness); the outcomes follow the likelihoods of ``twin.calibration.observe`` exactly: R_int with
a lognormal scatter, imaged voids with a Gaussian error on a subset, shorts in a cycling test of a
fixed number of cycles (constant hazard per cycle), CCD ramps to a short (censored at the ramp's
end).  ``misfit="..."`` draws an outcome from a *different* model instead, to test that the
check flags it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.calibration.data import CellData, validate
from twin.interface.params import InterfaceParams

MISFITS = ("r_int_squared", "short_logistic")
TEST_CONDITIONS = {"current_ma_cm2": (0.1, 0.2, 0.3, 0.45), "stack_pressure_mpa": (5.0, 10.0),
                   "operating_temperature_c": (25.0,)}
# the invented lab of the README's workflow: an interface a little different from the shipped values
DEMO_TRUTH = {"r_ct_ohm_cm2": 2.4, "creep_hardness_ref_mpa": 400.0, "ccd_plating_ref_ma_cm2": 7.5,
              "short_weibull_modulus": 2.6}


def process_records(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Process records spread over a realistic window (the shipped scenarios' range and around)."""
    sq = rng.uniform(0.1, 0.6, n)
    return {
        "pressure_mpa": rng.uniform(200.0, 450.0, n),
        "pressure_cv": rng.uniform(0.01, 0.12, n),
        "hold_s": np.exp(rng.uniform(np.log(20.0), np.log(1800.0), n)),
        "temperature_c": rng.uniform(20.0, 90.0, n),
        "sq_um": sq,
        "sdq": sq * rng.uniform(0.15, 0.4, n),
        "pv_um": sq * rng.uniform(4.0, 12.0, n),
        "waviness_um": rng.uniform(0.2, 3.0, n),
        "waviness_mm": rng.uniform(2.0, 10.0, n),
        "cutoff_um": np.full(n, 2.5),
    }


def outcomes(x: dict[str, np.ndarray], params: InterfaceParams, rng: np.random.Generator, *,
             r_int_log_sd: float = 0.08, void_sd: float = 0.02, imaged_share: float = 0.3, cycled_share: float = 0.6,
             ccd_share: float = 0.2, test_cycles: int = 100, reference_cycles: float = 100.0,
             ccd_ramp_max_ma_cm2: float = 8.0, ccd_step_ma_cm2: float = 0.05, misfit: str | None = None
             ) -> dict[str, np.ndarray]:
    """Outcome columns (and the test conditions) for process records ``x`` under ``params``."""
    from twin.interface.fast import quality

    if misfit is not None and misfit not in MISFITS:
        raise ValueError(f"misfit must be one of {', '.join(MISFITS)}")
    p = params
    n = len(x["pressure_mpa"])
    x = dict(x)
    for name, choices in TEST_CONDITIONS.items():
        if name not in x or np.isnan(x[name]).any():
            x[name] = rng.choice(choices, n)
    q = quality(p, **x)
    r = q["r_int_ohm_cm2"]
    if misfit == "r_int_squared":  # resistance ~ 1/A^3: a different contact law
        r = p.r_ct_ohm_cm2 / np.maximum(q["contact_fraction"], 1e-6) ** 3
    r_meas = r * np.exp(rng.normal(0.0, r_int_log_sd, n))
    imaged = rng.random(n) < imaged_share
    void = np.where(imaged, np.clip(q["void_fraction"] + rng.normal(0.0, void_sd, n), 0.0, 1.0), np.nan)
    hazard = -np.log1p(-np.minimum(q["p_short"], 1 - 1e-16))
    if misfit == "short_logistic":  # short risk set by the hold temperature only, not the interface
        prob = 1.0 / (1.0 + np.exp(-(x["temperature_c"] - 55.0) / 6.0))
        hazard = -np.log1p(-np.minimum(prob, 1 - 1e-12))
    cycled = rng.random(n) < cycled_share
    # cycle of the short: constant hazard h / n_ref per cycle (geometric), survivors run test_cycles
    per_cycle = -np.expm1(-hazard / reference_cycles)
    first = rng.geometric(np.clip(per_cycle, 1e-300, 1.0))
    shorted = np.where(cycled, (first <= test_cycles).astype(float), np.nan)
    cycles = np.where(cycled, np.minimum(first, test_cycles).astype(float), np.nan)
    ccd = np.full(n, np.nan)
    censored = np.zeros(n, bool)
    tested = np.flatnonzero(~cycled & (rng.random(n) < ccd_share / max(1.0 - cycled_share, 1e-9)))
    if len(tested):
        at = {k: v[tested] for k, v in x.items()}
        h1 = -np.log1p(-np.minimum(quality(p, **{**at, "current_ma_cm2": np.ones(len(tested))})["p_short"],
                                   1 - 1e-16))
        h0 = -np.log1p(-np.minimum(quality(p, **{**at, "current_ma_cm2": np.zeros(len(tested))})["p_short"],
                                   1 - 1e-16))
        e = rng.exponential(1.0, len(tested))  # H(J*) = E: k J*^m + h0 = E
        k = np.maximum(h1 - h0, 1e-300)
        j = (np.maximum(e - h0, 0.0) / k) ** (1.0 / p.short_weibull_modulus)
        j = np.ceil(np.maximum(j, 1e-9) / ccd_step_ma_cm2) * ccd_step_ma_cm2  # the step it shorted on
        over = j > ccd_ramp_max_ma_cm2
        ccd[tested] = np.where(over, ccd_ramp_max_ma_cm2, j)
        censored[tested] = over
    return {"r_int_ohm_cm2": r_meas, "void_fraction": void, "shorted": shorted, "cycles": cycles,
            "ccd_ma_cm2": ccd, "ccd_censored": np.where(np.isnan(ccd), np.nan, censored.astype(float)),
            "ccd_step_ma_cm2": np.where(np.isnan(ccd), np.nan, ccd_step_ma_cm2),
            "current_ma_cm2": np.where(cycled, x["current_ma_cm2"], np.nan),
            "stack_pressure_mpa": np.where(cycled | np.isfinite(ccd), x["stack_pressure_mpa"], np.nan),
            "operating_temperature_c": x["operating_temperature_c"]}


def synthesize(n: int, params: InterfaceParams | None = None, seed: int = 0, **noise: Any) -> CellData:
    """``n`` cells with every outcome type drawn from the model at ``params`` (see ``outcomes``)."""
    rng = np.random.default_rng(seed)
    x = process_records(n, rng)
    cols: dict[str, Any] = {"cell_id": [f"s{seed}-{i}" for i in range(n)], "lot": ["synthetic"] * n,
                            "press": ["P1"] * n, **x, **outcomes(x, params or InterfaceParams(), rng, **noise)}
    return validate({k: list(v) for k, v in cols.items()}, f"synthetic(n={n}, seed={seed})")


def main(argv: list[str] | None = None) -> int:
    """Invent a lab's measurements for a run's process record (the README's "measure" step)."""
    import argparse

    from twin.calibration.data import load_cells, write_table

    ap = argparse.ArgumentParser(prog="python -m twin.calibration.synth", description=main.__doc__)
    ap.add_argument("process", help="process.parquet of a run")
    ap.add_argument("--out", required=True, help="outcomes file to write (.csv or .parquet)")
    ap.add_argument("--heldout", help="also write the outcomes of a held-out share of the cells here")
    ap.add_argument("--heldout-share", type=float, default=0.2)
    ap.add_argument("--cells", type=int, default=None, help="measure only this many cells (random)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--truth", action="append", default=[], metavar="NAME=VALUE",
                    help="the lab's true interface parameter (default: the demo lab, DEMO_TRUTH)")
    a = ap.parse_args(argv)
    truth = dict(DEMO_TRUTH)
    for t in a.truth:
        k, _, v = t.partition("=")
        truth[k] = float(v)
    params = InterfaceParams.model_validate({**InterfaceParams().model_dump(), **truth})
    cells = load_cells(a.process)
    rng = np.random.default_rng(a.seed)
    pick = np.sort(rng.choice(len(cells), min(a.cells or len(cells), len(cells)), replace=False))
    cells = cells.subset(pick)
    cols = outcomes({k: v for k, v in cells.inputs.items() if k not in TEST_CONDITIONS}, params, rng)
    cols = {"cell_id": np.asarray(cells.cell_id), **cols}
    held = rng.random(len(cells)) < (a.heldout_share if a.heldout else 0.0)
    write_table(a.out, {k: list(np.asarray(v)[~held]) for k, v in cols.items()})
    if a.heldout:
        write_table(a.heldout, {k: list(np.asarray(v)[held]) for k, v in cols.items()})
    print(f"wrote {a.out} ({int((~held).sum())} cells)" + (f", {a.heldout} ({int(held.sum())} cells)"
                                                             if a.heldout else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
