"""Cost per good cell: equipment time, materials and scrap, from data in the scenario.

Equipment is charged for every server-hour of the measured window (owned equipment costs
money whether it is busy or idle), so adding a press vessel raises cost unless it raises
output enough. Materials are charged per cell started, scrap handling per rejected cell,
and every cost is divided by the good (accepted) cells of the same window.
"""

from __future__ import annotations

from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field


class CostModel(BaseModel):
    """The scenario's optional `cost:` section. Currency is whatever the numbers are in."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    currency: str = Field(default="EUR", description="label only; all amounts are in this currency")
    equipment_per_server_h: dict[str, float] = Field(
        default_factory=dict,
        description="per station: cost of one server (machine, vessel) per hour of the window, busy or idle",
    )
    equipment_per_busy_h: dict[str, float] = Field(
        default_factory=dict,
        description="per station: running cost per busy server-hour (energy, consumables, wear)",
    )
    material_per_cell: float = Field(default=0.0, ge=0, description="materials of one cell started")
    scrap_per_cell: float = Field(default=0.0, ge=0, description="handling/disposal of one rejected cell")
    rework_per_cell: float = Field(default=0.0, ge=0, description="handling of one reworked cell (besides press time)")
    overhead_per_h: float = Field(default=0.0, ge=0, description="line overhead (labour, facility) per hour")


def cost_breakdown(cost: CostModel, servers: Mapping[str, int], window_h: float, kpis: Mapping) -> dict[str, float]:
    """Total cost of the window by category, from one replication's KPIs."""
    util = kpis.get("utilisation", {})
    owned = sum(rate * servers[s] * window_h for s, rate in cost.equipment_per_server_h.items())
    running = sum(rate * servers[s] * util.get(s, 0.0) * window_h for s, rate in cost.equipment_per_busy_h.items())
    return {
        "equipment": owned + running,
        "materials": cost.material_per_cell * kpis["cells_started"],
        "scrap": cost.scrap_per_cell * kpis["cells_rejected"],
        "rework": cost.rework_per_cell * kpis["cells_reworked"],
        "overhead": cost.overhead_per_h * window_h,
    }
