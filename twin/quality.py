"""Physics quality mode: the interface-quality model and disposition policy applied to
each pressed batch, vectorised, when its first cell reaches inspection."""

from __future__ import annotations

import numpy as np

from twin.cell import SURFACE_KEYS
from twin.disposition import dispose


class QualityAssessor:
    """Turns measured pressure and flatness into a decision per cell."""

    def __init__(self, quality, cell_pressure_cap_mpa: dict[str, float]):
        self.policy = quality.disposition
        self.params = quality.interface
        self.current_ma_cm2 = quality.current_ma_cm2
        # press station -> the highest pressure it can put on a cell (its limit x transmission):
        # a re-press is predicted on the press that pressed the cell, never beyond what it can do
        self.cell_pressure_cap_mpa = cell_pressure_cap_mpa

    def assess(self, cell) -> tuple[int, str]:
        """Decision and reason for one cell; evaluates its whole pressed batch at once."""
        if cell.quality is None:
            group = [c for c in (cell.pending or [cell]) if c.pending is cell.pending and c.quality is None]
            if cell not in group:
                group.append(cell)
            self._evaluate(group)
        q = cell.quality
        return q["decision"], q["reason"]

    def _evaluate(self, cells: list) -> None:
        if any(c.surface is None for c in cells):
            missing = [c for c in cells if c.surface is None]
            for c in missing:
                c.quality = {"decision": 2, "reason": "not_measured"}
            cells = [c for c in cells if c.surface is not None]
            if not cells:
                return
        measured = {key: np.array([c.surface[key] for c in cells]) for key in SURFACE_KEYS}
        measured["pressure_mpa"] = np.array([c.pressure_mpa for c in cells])
        measured["pressure_cv"] = np.array([c.pressure_cv for c in cells])
        measured["hold_s"] = np.array([c.hold_s for c in cells])
        measured["temperature_c"] = np.array([c.temperature_c for c in cells])
        measured["current_ma_cm2"] = np.full(len(cells), self.current_ma_cm2)
        reworks = np.array([c.reworks for c in cells])
        caps = np.array([self.cell_pressure_cap_mpa.get(c.press_station, np.inf) for c in cells])
        result = dispose(measured, reworks, self.policy, self.params, caps)
        quality = {k: np.asarray(v) for k, v in result.quality.items()}
        for i, c in enumerate(cells):
            c.quality = {k: v[i].item() if v.ndim else v.item() for k, v in quality.items()}
            c.quality["decision"] = int(result.decision[i])
            c.quality["reason"] = str(result.reason[i])
            c.rework_pressure_mpa = float(result.rework_pressure_mpa[i])
            c.rework_hold_s = float(result.rework_hold_s[i])
            c.pending = None
