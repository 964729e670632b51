"""Accept / rework (re-press) / reject, built on the interface-quality model.

A cell that fails an acceptance threshold is re-pressed only when the model predicts that
the re-press (the policy's recipe change: a pressure step within the press's limit and more
hold time) would make it pass; otherwise it is rejected with the mechanism it failed on as
the reason (low_contact, high_resistance, hotspot, short_risk), or rework_limit once it has
used up its reworks, or pv_peak for a peak no pressing flattens.  ``twin.interface.evaluate``
uses the same core (``decide``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from adapters.vocabulary import Decision
from twin.interface.fast import FAST_MODEL
from twin.interface.model import InterfaceModel, validate_inputs
from twin.interface.params import load_params

ACCEPT, REWORK, REJECT = Decision.ACCEPT, Decision.REWORK, Decision.REJECT
REASONS = (
    "ok",
    "low_contact",
    "high_resistance",
    "short_risk",
    "hotspot",
    "pv_peak",
    "rework_limit",
)


class DispositionPolicy(BaseModel):
    """Acceptance thresholds, the rework limit and the re-press recipe change."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    min_contact_fraction_p05: float = Field(
        default=0.95, ge=0, le=1, description="lowest contact fraction of the 5% lowest-pressure region")
    max_r_int_ohm_cm2: float = Field(default=4.0, gt=0,
                                     description="highest interfacial resistance (R_ct / A + spreading)")
    max_p_short: float = Field(default=0.01, ge=0, le=1, description="highest short probability at the rated current")
    max_hotspot_factor: float = Field(default=1.5, ge=1, description="highest local over nominal current density")
    max_pv_um: float = Field(default=5.0, gt=0, description="a peak taller than this is not fixed by pressing")
    max_reworks: int = Field(default=2, ge=0)
    rework_extra_hold_s: float = Field(
        default=1800.0, ge=0, description="hold time the re-press adds to the cell's cumulative hold"
    )
    rework_pressure_step_mpa: float = Field(default=50.0, ge=0)


@dataclass
class Disposition:
    """Per-cell decision (0 accept, 1 rework, 2 reject), reason, quality and re-press recipe."""

    decision: np.ndarray
    reason: np.ndarray
    quality: dict[str, np.ndarray]
    rework_pressure_mpa: np.ndarray
    rework_hold_s: np.ndarray


def failure_code(q: dict[str, np.ndarray], policy: DispositionPolicy) -> np.ndarray:
    """Index into REASONS of the first failed threshold per cell (0 "ok" when none).

    Checked in order of severity: short risk, hot spot, low contact, high resistance.
    """
    checks = (
        (REASONS.index("high_resistance"), q["r_int_ohm_cm2"] > policy.max_r_int_ohm_cm2),
        (REASONS.index("low_contact"), q["contact_fraction_p05"] < policy.min_contact_fraction_p05),
        (REASONS.index("hotspot"), q["hotspot_factor"] > policy.max_hotspot_factor),
        (REASONS.index("short_risk"), q["p_short"] > policy.max_p_short),
    )
    code = np.zeros(np.shape(q["p_short"]), dtype=np.int8)
    for value, bad in checks:
        code[bad] = value
    return code


def decide(
    inputs: dict[str, np.ndarray],
    q: dict[str, np.ndarray],
    reworks_done: np.ndarray,
    policy: DispositionPolicy,
    params: Any,
    press_max_pressure_mpa: float | np.ndarray,
    model: InterfaceModel = FAST_MODEL,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decision core on validated, broadcast inputs and their quality.

    Returns decision, reason code (index into REASONS), re-press pressure and re-press hold (the hold time of the
    re-press cycle; the cell's cumulative hold becomes hold_s + that).  The re-press is
    predicted only for the cells that fail and may still be reworked.
    """
    shape = np.shape(q["p_short"])
    code = failure_code(q, policy)
    fails = code != 0
    pv_bad = inputs["pv_um"] > policy.max_pv_um
    limit = np.broadcast_to(np.asarray(reworks_done), shape) >= policy.max_reworks
    new_p = np.minimum(inputs["pressure_mpa"] + policy.rework_pressure_step_mpa, press_max_pressure_mpa)
    new_hold = np.full(shape, policy.rework_extra_hold_s)

    fixable = np.zeros(shape, dtype=bool)
    todo = fails & ~pv_bad & ~limit
    if todo.any():
        if todo.mean() > 0.5:  # most cells: predict all in place (cheaper than gathering copies)
            after = {**inputs, "pressure_mpa": np.where(todo, new_p, inputs["pressure_mpa"]),
                     "hold_s": inputs["hold_s"] + np.where(todo, policy.rework_extra_hold_s, 0.0)}
            fixable = todo & (failure_code(model.evaluate(params, **after), policy) == 0)
        else:
            sub = {k: v[todo] for k, v in inputs.items()}
            sub["pressure_mpa"] = new_p[todo]
            sub["hold_s"] = sub["hold_s"] + policy.rework_extra_hold_s
            fixable[todo] = failure_code(model.evaluate(params, **sub), policy) == 0

    decision = np.where(fails, np.where(fixable, int(REWORK), int(REJECT)), int(ACCEPT))
    decision[pv_bad] = int(REJECT)
    # a reject a re-press cannot fix keeps the mechanism it failed on as its reason
    code[fails & limit] = REASONS.index("rework_limit")
    code[pv_bad] = REASONS.index("pv_peak")
    return decision, code, new_p, new_hold


def dispose(
    measured: Mapping[str, Any],
    reworks_done: np.ndarray,
    policy: DispositionPolicy,
    params: Any = None,
    press_max_pressure_mpa: float | np.ndarray = np.inf,
    model: InterfaceModel = FAST_MODEL,
) -> Disposition:
    """Decide per cell; ``measured`` holds the model's inputs (hold_s is cumulative);
    ``press_max_pressure_mpa`` caps the re-press pressure on the cell (scalar or per cell)."""
    inputs = validate_inputs(model, measured)
    params = params if params is not None else load_params()
    q = model.evaluate(params, **inputs)
    decision, code, new_p, new_hold = decide(inputs, q, reworks_done, policy, params, press_max_pressure_mpa, model)
    q["decision"] = decision
    return Disposition(decision, np.asarray(REASONS)[code], q, new_p, new_hold)


def evaluate_with_decision(
    arrays: Mapping[str, Any], params: Any = None, policy: DispositionPolicy | None = None,
    model: InterfaceModel = FAST_MODEL,
) -> dict[str, np.ndarray]:
    """The interface outputs plus the decision for cells not yet reworked, pressed on a press
    without a limit (what `twin.interface.evaluate` returns)."""
    inputs = validate_inputs(model, arrays)
    params = params if params is not None else load_params()
    out = model.evaluate(params, **inputs)
    shape = np.shape(next(iter(out.values())))
    out["decision"] = decide(inputs, out, np.zeros(shape), policy or DispositionPolicy(), params, np.inf, model)[0]
    return out
