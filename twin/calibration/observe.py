"""Likelihoods of the measured outcomes under the interface model (twin.interface.fast).

Per outcome type, for the cell's process record and test conditions:

* R_int (EIS): log R_meas = log R_model + e, e ~ N(0, s_r^2) (a multiplicative measurement and
  cell-to-cell scatter; s_r is profiled out: s_r^2 = mean squared log residual);
* void fraction (imaging): void_meas = void_model + e, e ~ N(0, s_v^2), a reading of 0 meaning
  "no void resolved" (censored at 0: probability Phi(-void_model / s_v)); s_v is fitted with the
  parameters (the nuisance ``void_sd``);
* shorts while cycling: the model's hazard H = -ln(1 - p_short) is that of ``reference_cycles``
  cycles at the test current, spent evenly over the cycles (constant hazard per cycle), so a
  cell that survived n cycles contributes exp(-H n / n_ref) and one that shorted on cycle k
  exp(-H (k-1)/n_ref) - exp(-H k / n_ref);
* CCD test (a current ramp to a short): the model's hazard at current J is H(J) = k J^m + h0
  exactly (the plating/stripping Weibull term scales as J^m, the Li-creep term h0 does not
  depend on J).  A stepped ramp that shorted on the step to J* (step dJ) contributes
  exp(-H(J* - dJ)) - exp(-H(J*)) (a short on the first step includes the cells that short under
  the stack pressure alone); a continuous reading (dJ = 0) the density m (H(J*) - h0) / J*
  exp(-H(J*)); a ramp that ended at J* without a short the survival exp(-H(J*)).

Parameters are fitted as logarithms (all positive), starting from the shipped values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.calibration.data import CellData
from twin.interface.params import InterfaceParams

LOG_2PI = math.log(2.0 * math.pi)
PENALTY = 1.0e12  # negative log-likelihood of a parameter set the model cannot evaluate


@dataclass(frozen=True)
class Parameter:
    """A parameter the data can inform: its unit and the outcome types that inform it."""

    name: str
    unit: str
    outcomes: tuple[str, ...]
    meaning: str


PARAMETERS: dict[str, Parameter] = {p.name: p for p in (
    Parameter("r_ct_ohm_cm2", "ohm cm2", ("r_int",), "Li | electrolyte charge-transfer resistance"),
    Parameter("creep_hardness_ref_mpa", "MPa", ("r_int", "void"), "creep hardness at the reference hold"),
    Parameter("ccd_plating_ref_ma_cm2", "mA/cm2", ("short", "ccd"), "plating CCD scale of dense electrolyte"),
    Parameter("short_weibull_modulus", "1", ("short", "ccd"), "Weibull modulus of the short risk"),
    Parameter("peak_tip_radius_um", "um", ("short", "ccd"), "hot-spot coefficient: tip radius of the tallest peak"),
)}
OUTCOMES = ("r_int", "void", "short", "ccd")


def informed(cells: CellData, names: tuple[str, ...] | None = None) -> tuple[list[str], dict[str, str]]:
    """The parameters the data's outcome types can inform, and why each other one cannot be."""
    counts = cells.counts()
    keep, dropped = [], {}
    for name in names or tuple(PARAMETERS):
        if name not in PARAMETERS:
            raise ValueError(f"cannot calibrate {name!r} (one of {', '.join(PARAMETERS)})")
        p = PARAMETERS[name]
        if any(counts[o] > 0 for o in p.outcomes):
            keep.append(name)
        else:
            dropped[name] = f"no {' or '.join(p.outcomes)} outcomes in the data"
    return keep, dropped


def with_values(base: InterfaceParams, values: dict[str, float]) -> InterfaceParams:
    """The base parameters with some values replaced (validated)."""
    return InterfaceParams.model_validate({**base.model_dump(), **values})


class Likelihood:
    """Negative log-likelihood of the cells' outcomes as a function of log-parameters."""

    def __init__(self, cells: CellData, names: list[str], base: InterfaceParams | None = None,
                 reference_cycles: float = 100.0):
        self.cells = cells
        self.names = list(names)
        self.base = base or InterfaceParams()
        self.reference_cycles = float(reference_cycles)
        self.evaluations = 0
        n = len(cells)
        self.nuisance = ["void_sd"] if np.isfinite(cells.void).any() else []
        inputs = {k: np.array(v, dtype=float) for k, v in cells.inputs.items()}
        inputs["current_ma_cm2"] = np.where(np.isnan(inputs["current_ma_cm2"]), 1.0, inputs["current_ma_cm2"])
        inputs["stack_pressure_mpa"] = np.where(np.isnan(inputs["stack_pressure_mpa"]), 5.0,
                                                inputs["stack_pressure_mpa"])
        self.ccd_rows = np.flatnonzero(np.isfinite(cells.ccd))
        at_ccd = {k: v[self.ccd_rows] for k, v in inputs.items()}
        self.ccd_step = np.nan_to_num(cells.ccd_step[self.ccd_rows])
        below = np.where(self.ccd_step > 0, np.maximum(cells.ccd[self.ccd_rows] - self.ccd_step, 0.0), 0.0)
        self.first_step = (self.ccd_step > 0) & (below == 0.0)  # shorted by the first step: from J = 0
        blocks = [inputs, {**at_ccd, "current_ma_cm2": cells.ccd[self.ccd_rows]}, {**at_ccd, "current_ma_cm2": below}]
        self.batch = {k: np.concatenate([b[k] for b in blocks]) for k in inputs}
        self.n = n
        self.r_rows = np.flatnonzero(np.isfinite(cells.r_int))
        self.log_r = np.log(cells.r_int[self.r_rows])
        self.v_rows = np.flatnonzero(np.isfinite(cells.void))
        self.s_rows = np.flatnonzero(np.isfinite(cells.shorted))
        self.s_short = cells.shorted[self.s_rows] == 1.0
        self.s_cycles = cells.cycles[self.s_rows] / self.reference_cycles
        self.ccd_censored = cells.ccd_censored[self.ccd_rows]

    @property
    def all_names(self) -> list[str]:
        """The fitted parameters, then the fitted noise scales."""
        return [*self.names, *self.nuisance]

    @property
    def start(self) -> np.ndarray:
        """Log of the base (shipped) values, and of a 0.02 void-imaging sd."""
        return np.log([*(getattr(self.base, k) for k in self.names), *(0.02 for _ in self.nuisance)])

    def params(self, phi: np.ndarray) -> InterfaceParams:
        values = np.exp(np.asarray(phi[:len(self.names)], dtype=float))
        return self.base.model_copy(update=dict(zip(self.names, (float(x) for x in values))))

    def predict(self, phi: np.ndarray) -> dict[str, np.ndarray]:
        """Model outputs at each cell's process and test conditions, and the CCD-test hazards."""
        from twin.interface.fast import quality

        self.evaluations += 1
        with np.errstate(all="ignore"):
            q = quality(self.params(phi), **self.batch)
            p = np.minimum(q["p_short"], 1.0 - 1e-16)
            hazard = -np.log1p(-p)
        n, m = self.n, len(self.ccd_rows)
        return {"r_int_ohm_cm2": q["r_int_ohm_cm2"][:n], "void_fraction": q["void_fraction"][:n],
                "p_short": q["p_short"][:n], "hazard": hazard[:n], "hazard_at_ccd": hazard[n:n + m],
                "hazard_below": hazard[n + m:], "ccd_ma_cm2": q["ccd_ma_cm2"][:n]}

    def terms(self, phi: np.ndarray, pred: dict[str, np.ndarray] | None = None) -> dict[str, float]:
        """Negative log-likelihood per outcome type (noise scales profiled out)."""
        pr = self.predict(phi) if pred is None else pred
        out: dict[str, float] = {}
        with np.errstate(all="ignore"):
            if len(self.r_rows):
                res = self.log_r - np.log(pr["r_int_ohm_cm2"][self.r_rows])
                s2 = float(np.mean(res * res))
                k = len(res)
                out["r_int"] = 0.5 * k * (math.log(max(s2, 1e-300)) + 1.0 + LOG_2PI) + float(self.log_r.sum())
            if len(self.v_rows):
                from scipy.special import log_ndtr

                sd = float(np.exp(phi[len(self.names)]))
                y, mu = self.cells.void[self.v_rows], pr["void_fraction"][self.v_rows]
                z = (y - mu) / sd
                logp = np.where(y > 0, -0.5 * z * z - math.log(sd) - 0.5 * LOG_2PI, log_ndtr(-mu / sd))
                out["void"] = -float(logp.sum())
            if len(self.s_rows):
                h = pr["hazard"][self.s_rows]
                step = h / self.reference_cycles
                before = h * self.s_cycles - np.where(self.s_short, step, 0.0)
                logp = -before + np.where(self.s_short, np.log(-np.expm1(-np.maximum(step, 1e-300))), 0.0)
                out["short"] = -float(logp.sum())
            if len(self.ccd_rows):
                hj, hb = pr["hazard_at_ccd"], pr["hazard_below"]
                j = self.cells.ccd[self.ccd_rows]
                m = float(self.params(phi).short_weibull_modulus)
                gap = np.maximum(hj - hb, 1e-300)
                stepped = np.where(self.first_step, np.log(-np.expm1(-hj)), -hb + np.log(-np.expm1(-gap)))
                dens = -hj + math.log(m) + np.log(gap) - np.log(j)
                logp = np.where(self.ccd_censored, -hj, np.where(self.ccd_step > 0, stepped, dens))
                out["ccd"] = -float(logp.sum())
        return out

    def __call__(self, phi: np.ndarray) -> float:
        total = sum(self.terms(np.asarray(phi, dtype=float)).values())
        return float(total) if math.isfinite(total) else PENALTY

    def noise(self, phi: np.ndarray) -> dict[str, float]:
        """The profiled noise scales at phi: sd of log R_int and of the void fraction."""
        pr = self.predict(phi)
        out: dict[str, float] = {}
        if len(self.r_rows):
            out["r_int_log_sd"] = float(np.sqrt(np.mean((self.log_r - np.log(pr["r_int_ohm_cm2"][self.r_rows]))
                                                        ** 2)))
        if self.nuisance:
            out["void_sd"] = float(np.exp(phi[len(self.names)]))
        return out


def describe(names: list[str], values: np.ndarray) -> dict[str, Any]:
    return {k: float(v) for k, v in zip(names, values)}
