"""The literature table (literature.yaml): evaluate the model on every row and judge it.

A row names its source and DOI, the conditions (inputs of the fast model on top of the
table's defaults, or an exact-solver case), what the source reports and a check with its
tolerance.  ``evaluate_row`` returns the model's value next to the reported one; the tests
(tests/test_literature.py), the fit of the literature-anchored coefficients
(tools/fit_literature.py) and the printed table (tools/literature_table.py) all use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from . import failure
from .params import InterfaceParams, load_params

LITERATURE_PATH = Path(__file__).with_name("literature.yaml")


@dataclass(frozen=True)
class RowResult:
    """The model against one literature row."""

    id: str
    source: str
    doi: str | None
    reported: str
    model: float
    other: float | None
    passed: bool
    criterion: str


@lru_cache(maxsize=2)
def load_table(path: str | None = None) -> dict[str, Any]:
    """The table as shipped (or from ``path``)."""
    return yaml.safe_load(Path(path or LITERATURE_PATH).read_text(encoding="utf-8"))


def rows(path: str | None = None) -> list[dict[str, Any]]:
    return list(load_table(path)["rows"])


def _inputs(table: dict[str, Any], conditions: dict[str, Any]) -> dict[str, Any]:
    return {**table["defaults"], **conditions}


def _model_outputs(inputs: dict[str, Any], params: InterfaceParams) -> dict[str, np.ndarray]:
    from . import evaluate

    return evaluate(**inputs, params=params)


def _within(value: float, check: dict[str, Any]) -> tuple[bool, str]:
    """Judge a value against target +- tolerance or [min, max]."""
    if "target" in check:
        target = float(check["target"])
        tol = float(check["abs_tol"]) if "abs_tol" in check else abs(target) * float(check["rel_tol"])
        return abs(value - target) <= tol, f"{target:g} +- {tol:g}"
    lo, hi = check.get("min", -np.inf), check.get("max", np.inf)
    return lo <= value <= hi, f"in [{lo:g}, {hi:g}]"


def _log_slope(row: dict[str, Any], table: dict[str, Any], params: InterfaceParams) -> float:
    sweep, check = row["sweep"], row["check"]
    xs = np.geomspace(sweep["from"], sweep["to"], sweep["points"])
    out = _model_outputs({**_inputs(table, row["conditions"]), sweep["input"]: xs}, params)
    x = xs if check["x"] == sweep["input"] else out[check["x"]]
    return float(np.polyfit(np.log(x), np.log(out[check["y"]]), 1)[0])


def _function(row: dict[str, Any], params: InterfaceParams) -> float:
    c = row["conditions"]
    name = row["check"]["name"]
    if name == "stripping_ccd":
        return float(failure.stripping_ccd_ma_cm2(np.asarray(c["stack_pressure_mpa"], float),
                                                  np.asarray(c["operating_temperature_c"], float), params))
    if name == "plating_ccd":
        return float(failure.plating_ccd_ma_cm2(np.asarray(c["void_fraction"], float),
                                                np.asarray(c["operating_temperature_c"], float), params))
    raise ValueError(f"literature row {row['id']}: unknown function {name!r}")


def _small_load_slope() -> float:
    from .fast import load_calibration

    return float(load_calibration()["contact"]["poly"][0])


def evaluate_row(row: dict[str, Any], params: InterfaceParams | None = None,
                 table: dict[str, Any] | None = None) -> RowResult:
    """The model's value for one row and whether it meets the row's check."""
    params = params if params is not None else load_params()
    table = table if table is not None else load_table()
    check = row["check"]
    kind = check["kind"]
    other: float | None = None
    if kind == "value":
        model = float(_model_outputs(_inputs(table, row["conditions"]), params)[check["output"]])
        passed, criterion = _within(model, check)
    elif kind == "compare":
        mine = _model_outputs(_inputs(table, row["conditions"]), params)
        theirs = _model_outputs(_inputs(table, row["compare_to"]), params)
        model, other = float(mine[check["output"]]), float(theirs[check["output"]])
        passed = model < other if check["relation"] == "less" else model > other
        criterion = f"{check['output']} {check['relation']} than in compare_to"
        if "also" in check:
            passed &= float(mine[check["also"]]) < float(theirs[check["also"]])
            criterion += f", and {check['also']} too"
        if "max_self" in check:
            passed &= model <= check["max_self"]
            criterion += f", <= {check['max_self']:g}"
        if "min_other" in check:
            passed &= other >= check["min_other"]
            criterion += f", other >= {check['min_other']:g}"
        if "max_self_also" in check:
            passed &= float(mine[check["also"]]) <= check["max_self_also"]
            criterion += f", {check['also']} <= {check['max_self_also']:g}"
    elif kind == "log_slope":
        model = _log_slope(row, table, params)
        passed, criterion = _within(model, check)
        criterion = f"d ln {check['y']} / d ln {check['x']} " + criterion
    elif kind == "function":
        model = _function(row, params)
        passed, criterion = _within(model, check)
    elif kind == "small_load_slope":
        model = _small_load_slope()
        passed, criterion = _within(model, check)
    elif kind == "exact":
        model = EXACT_CHECKS[check["name"]]()
        passed, criterion = _within(model, check)
    else:
        raise ValueError(f"literature row {row['id']}: unknown check kind {kind!r}")
    return RowResult(row["id"], row["source"], row.get("doi"), row["reported"], model, other, bool(passed), criterion)


def _holm_single_spot() -> float:
    """Exact current through one circular spot over Holm's rho psi / (4a) (worst of R and centre current)."""
    from .current import holm_flux_tube_factor, solve_current

    n, radius = 256, 16
    x = np.arange(n) - n / 2 + 0.5
    mask = x[:, None] ** 2 + x[None, :] ** 2 <= radius * radius
    a = float(np.sqrt(mask.sum() / np.pi))
    res = solve_current(mask, 1.0, 1.0, 0.0)
    holm_um = n * n * holm_flux_tube_factor(a / (n / np.sqrt(np.pi))) / (4.0 * a)
    ratio = res.r_int_ohm_cm2 * 1.0e4 / holm_um
    centre = float(res.current_density[n // 2, n // 2] / res.current_density[mask].mean()) / 0.5
    return ratio if abs(ratio - 1.0) >= abs(centre - 1.0) else centre


def _barber_stiffness() -> float:
    """Exact constriction over Barber's E* rho / (2K) on a rough elastic contact (the worse of two loads)."""
    from . import reference as ref

    e_star = 1000.0
    surf = ref.self_affine_surface(256, 1.0, 0.8, 64.0, 16.0, sdq=0.1, seed=21)
    worst = 1.0
    for pn in (0.1, 0.35):
        c = ref.solve_contact(surf, pn * e_star * surf.sdq, e_star)
        r = ref.solve_current(c.pressure_mpa, 1.0, 1.0, 0.0)
        ratio = r.r_int_ohm_cm2 * 1.0e4 / (e_star / (2.0 * c.stiffness_mpa_per_um))
        worst = ratio if abs(ratio - 1.0) > abs(worst - 1.0) else worst
    return worst


def _johnson_wave_closure() -> float:
    """Largest |exact - Johnson| contact share of a 1-D sinusoid at p/p* = 0.1, 0.5 and 1.05."""
    from . import reference as ref

    n, e_star, lam, amp = 256, 1000.0, 256.0, 0.128
    x = np.arange(n)
    h = amp * np.cos(2.0 * np.pi * x / lam)[:, None] * np.ones((1, 8))
    surf = ref.Surface(heights_um=h, dx_um=1.0)
    p_star = np.pi * e_star * amp / lam
    worst = 0.0
    for ratio in (0.1, 0.5, 1.05):
        c = ref.solve_contact(surf, ratio * p_star, e_star, stiffness=False)
        expected = 1.0 if ratio >= 1.0 else 2.0 / np.pi * np.arcsin(np.sqrt(ratio))
        worst = max(worst, abs(c.contact_fraction - expected))
    return worst


EXACT_CHECKS: dict[str, Callable[[], float]] = {
    "holm_single_spot": _holm_single_spot,
    "barber_stiffness": _barber_stiffness,
    "johnson_wave_closure": _johnson_wave_closure,
}


def evaluate_table(params: InterfaceParams | None = None, path: str | None = None) -> list[RowResult]:
    """Every row of the table."""
    table = load_table(path)
    return [evaluate_row(r, params, table) for r in table["rows"]]
