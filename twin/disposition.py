"""Accept / rework (re-press) / reject, built on the interface-quality model.

A cell that fails is re-pressed only when the model predicts that the re-press (the
policy's recipe change: more pressure within the press's limit, more hold) would pass;
otherwise, or past the rework limit, it is rejected with the reason."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

ACCEPT, REWORK, REJECT = 0, 1, 2


class DispositionPolicy(BaseModel):
    """Acceptance thresholds, the rework limit and the re-press recipe change."""

    model_config = ConfigDict(extra="forbid")

    min_contact_fraction_min: float = Field(default=0.85, ge=0, le=1)
    max_r_int_ohm_cm2: float = Field(default=8.0, gt=0)
    max_p_short: float = Field(default=0.01, ge=0, le=1)
    max_hotspot_factor: float = Field(default=2.0, ge=1)
    max_pv_um: float = Field(default=5.0, gt=0, description="a peak taller than this is not fixed by pressing")
    max_reworks: int = Field(default=2, ge=0)
    rework_extra_hold_s: float = Field(default=1800.0, ge=0)
    rework_pressure_step_mpa: float = Field(default=50.0, ge=0)


def _failure(q: dict, policy: DispositionPolicy) -> np.ndarray:
    """Reason code per cell: '' when it passes."""
    reason = np.full(np.shape(q["p_short"]), "", dtype=object)
    checks = (
        ("hotspot", q["hotspot_factor"] > policy.max_hotspot_factor),
        ("high_resistance", q["r_int_ohm_cm2"] > policy.max_r_int_ohm_cm2),
        ("low_contact", q["contact_fraction_min"] < policy.min_contact_fraction_min),
        ("short_risk", q["p_short"] > policy.max_p_short),
    )
    for name, bad in checks:
        reason = np.where(bad, name, reason)
    return reason


def decide(q: dict, pv_um, policy: DispositionPolicy) -> np.ndarray:
    """Decision without a re-press prediction: accept, reject a PV peak, else rework."""
    fails = _failure(q, policy) != ""
    pv_bad = np.asarray(pv_um) > policy.max_pv_um
    return np.where(pv_bad, REJECT, np.where(fails, REWORK, ACCEPT)).astype(int)


@dataclass
class Disposition:
    decision: np.ndarray
    reason: np.ndarray
    quality: dict
    rework_pressure_mpa: np.ndarray
    rework_hold_s: np.ndarray


def dispose(measured: dict, reworks_done, policy: DispositionPolicy, params=None,
            press_max_pressure_mpa: float = np.inf) -> Disposition:
    """Decide per cell; `measured` holds the evaluate() inputs (hold_s is cumulative)."""
    from twin.interface.fast import INPUTS, evaluate

    args = {k: np.asarray(measured[k], dtype=float) for k in INPUTS}
    q = evaluate(**args, params=params, policy=policy)
    reason = _failure(q, policy)
    p = np.broadcast_to(args["pressure_mpa"], reason.shape)
    new_p = np.minimum(p + policy.rework_pressure_step_mpa, press_max_pressure_mpa)
    new_hold = np.broadcast_to(args["hold_s"], reason.shape) + policy.rework_extra_hold_s
    after = evaluate(**{**args, "pressure_mpa": new_p, "hold_s": new_hold}, params=params, policy=policy)
    fixable = _failure(after, policy) == ""
    pv_bad = np.broadcast_to(args["pv_um"], reason.shape) > policy.max_pv_um
    limit = np.broadcast_to(np.asarray(reworks_done), reason.shape) >= policy.max_reworks
    fails = reason != ""
    decision = np.full(reason.shape, ACCEPT, dtype=int)
    decision = np.where(fails & fixable & ~limit, REWORK, decision)
    decision = np.where(fails & (~fixable | limit), REJECT, decision)
    decision = np.where(pv_bad, REJECT, decision)
    final_reason = np.where(pv_bad, "pv_peak", np.where(
        ~fails, "ok", np.where(limit, "rework_limit", np.where(fixable, reason, "no_fix_by_repress"))))
    extra_hold = np.full(reason.shape, policy.rework_extra_hold_s)
    return Disposition(decision, final_reason.astype(str), q, new_p, extra_hold)
