"""Physics quality mode: the interface-quality model and disposition policy applied to
each pressed batch, vectorised, when its first cell reaches inspection.

The model's inputs are gathered by name: the cell's press record (pressure, CV, cumulative
hold, temperature), its measured surface (Sq, Sdq, PV, waviness and whatever else the
measurement carries, e.g. its bandwidth) and the scenario's operating conditions (the plating
current); an input none of these provides takes the model's default."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from adapters.vocabulary import Decision
from twin.disposition import dispose
from twin.interface.model import InterfaceModel, input_names, validate_inputs

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell
    from twin.disposition import DispositionPolicy

PRESS_RECORD = ("pressure_mpa", "pressure_cv", "hold_s", "temperature_c")
IMPLAUSIBLE = "implausible_measurement"  # e.g. a measured PV below the measured Sq: rejected, never evaluated


class QualityAssessor:
    """Turns measured pressure and flatness into a decision per cell."""

    def __init__(self, model: InterfaceModel, params: Any, policy: "DispositionPolicy",
                 operating: dict[str, float], cell_pressure_cap_mpa: dict[str, float]):
        self.model = model
        self.params = params
        self.policy = policy
        self.operating = operating
        # press station -> the highest pressure it can put on a cell: a re-press is predicted on
        # the press that pressed the cell, never beyond what it can do
        self.cell_pressure_cap_mpa = cell_pressure_cap_mpa
        self.names = input_names(model)

    @classmethod
    def for_scenario(cls, scenario: Any) -> "QualityAssessor":
        q, resolved = scenario.quality, scenario.resolved
        caps = {name: spec.max_on_cell_mpa for name, spec in resolved.presses.items()}
        return cls(resolved.interface_model, resolved.interface_params, q.disposition, q.operating_conditions(), caps)

    def assess(self, cell: "Cell") -> tuple[Decision, str]:
        """Decision and reason for one cell; evaluates its whole pressed batch at once."""
        if cell.quality is None:
            group = [c for c in (cell.pending or [cell]) if c.pending is cell.pending and c.quality is None]
            if cell not in group:
                group.append(cell)
            self._evaluate(group)
        q = cell.quality
        assert q is not None
        return Decision(q["decision"]), q["reason"]

    def _inputs(self, cells: list["Cell"]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in self.names:
            if name in PRESS_RECORD:
                out[name] = np.array([getattr(c, name) for c in cells], dtype=float)
            elif name in self.operating:
                out[name] = np.full(len(cells), self.operating[name])
            else:
                values = [getattr(c.surface, name, None) for c in cells]
                if all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values):
                    out[name] = np.array(values, dtype=float)
        return out

    def _plausible(self, cells: list["Cell"]) -> list["Cell"]:
        """The cells whose inputs the model accepts; the others (a measurement outside the
        model's physical bounds, PV < Sq, ...) are rejected as implausible measurements."""
        try:
            validate_inputs(self.model, self._inputs(cells))
            return cells
        except ValueError:
            pass
        kept = []
        for c in cells:  # the rare case: find the offending cells one by one
            try:
                validate_inputs(self.model, self._inputs([c]))
                kept.append(c)
            except ValueError as exc:
                c.quality = {"decision": int(Decision.REJECT), "reason": IMPLAUSIBLE, "problem": str(exc)}
                c.pending = None
        return kept

    def _evaluate(self, cells: list["Cell"]) -> None:
        unmeasured = [c for c in cells if c.surface is None]
        for c in unmeasured:
            c.quality = {"decision": int(Decision.REJECT), "reason": "not_measured"}
        cells = [c for c in cells if c.surface is not None]
        cells = self._plausible(cells)
        if not cells:
            return
        reworks = np.array([c.reworks for c in cells])
        caps = np.array([self.cell_pressure_cap_mpa.get(c.press_station, np.inf) for c in cells])
        result = dispose(self._inputs(cells), reworks, self.policy, self.params, caps, self.model)
        quality = {k: np.asarray(v) for k, v in result.quality.items()}
        for i, c in enumerate(cells):
            c.quality = {k: v[i].item() if v.ndim else v.item() for k, v in quality.items()}
            c.quality["decision"] = int(result.decision[i])
            c.quality["reason"] = str(result.reason[i])
            c.rework_pressure_mpa = float(result.rework_pressure_mpa[i])
            c.rework_hold_s = float(result.rework_hold_s[i])
            c.pending = None
