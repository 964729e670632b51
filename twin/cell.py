"""One cell's record as it moves through the line."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from twin.lots import SURFACE_KEYS

if TYPE_CHECKING:  # pragma: no cover
    from adapters.ports import SurfaceMeasurement

__all__ = ["Cell", "SURFACE_KEYS"]


class Cell:
    """Everything known about one cell: where it came from, what was measured, what was decided."""

    __slots__ = (
        "id", "lot", "t_in", "t_out", "outcome", "reason", "reworks", "slot",
        "true_surface", "surface", "pressure_mpa", "pressure_cv", "hold_s", "temperature_c",
        "press_runs", "rework_pressure_mpa", "rework_hold_s", "quality", "pending", "h2o_max_ppm",
        "quarantined", "press_station",
    )

    def __init__(self, cell_id: int, lot: str, t_in: float):
        self.id = cell_id
        self.lot = lot
        self.t_in = t_in
        self.t_out = math.nan
        self.outcome: str | None = None
        self.reason = ""
        self.reworks = 0
        self.slot: Any = None
        self.true_surface: dict[str, float] | None = None
        self.surface: SurfaceMeasurement | None = None
        self.pressure_mpa = 0.0
        self.pressure_cv = math.nan
        self.hold_s = 0.0
        self.temperature_c = math.nan
        self.press_runs: list[str] = []
        self.rework_pressure_mpa = 0.0
        self.rework_hold_s = 0.0
        self.quality: dict[str, Any] | None = None
        self.pending: list[Cell] | None = None
        self.h2o_max_ppm = math.nan
        self.quarantined = False
        self.press_station = ""

    def record_press(self, station: str, run_id: str, pressure_mpa: float, pressure_cv: float, hold_s: float,
                     temperature_c: float, same_level_frac: float) -> None:
        """Fold one press cycle into the cell's pressing history.

        Densification is irreversible: a cycle well below the highest pressure seen so far
        changes nothing; a cycle at about that level adds its hold time (creep goes on)."""
        self.press_runs.append(run_id)
        if pressure_mpa < same_level_frac * self.pressure_mpa:
            return
        if pressure_mpa > self.pressure_mpa / same_level_frac:
            self.hold_s = 0.0
        self.hold_s += hold_s
        self.pressure_mpa = max(pressure_mpa, self.pressure_mpa)
        self.pressure_cv = pressure_cv
        self.temperature_c = temperature_c
        self.press_station = station
        self.quality = None
