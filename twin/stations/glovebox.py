"""Work inside the glovebox: holds a server of the station and a place of the shared box."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Literal

from pydantic import Field

from twin.distributions import Distribution
from twin.stations.base import Node, Process, StationContext
from twin.stations.config import RoutedConfig
from twin.stations.process import ProcessStation
from twin.stations.registry import CheckContext, Problem, StationKind

if TYPE_CHECKING:  # pragma: no cover
    import simpy

    from twin.cell import Cell


class GloveboxConfig(RoutedConfig):
    """A step done inside a glovebox: holds one unit of the shared glovebox resource."""

    kind: Literal["glovebox"]
    process_time_h: Distribution
    glovebox: str = Field(description="name of a shared resource under `resources`")


class GloveboxStation(ProcessStation):
    """Stacking, electrolyte and cathode layers, sealing: anything done under argon.
    The work holds a server and a place of the shared glovebox; the worst atmosphere seen
    during the work is recorded on the cell, and an excursion above the glovebox's limit
    quarantines the cell."""

    def __init__(self, name: str, cfg: GloveboxConfig, ctx: StationContext, box: "simpy.Resource"):
        super().__init__(name, cfg, ctx)
        self.box_name = cfg.glovebox
        self.box = box

    def before_work(self, cell: "Cell") -> Process[Any]:
        place = self.box.request()
        yield place
        return place

    def after_work(self, cell: "Cell", t_start: float, t_end: float, held: Any = None) -> Process[Node | None]:
        self.box.release(held)
        exposure = self.ctx.ports.glovebox.exposure(self.box_name, t_start, t_end)
        seen = None if exposure is None else (yield exposure)
        if seen is not None:
            h2o = seen.h2o_ppm_max
            if not (cell.h2o_max_ppm >= h2o):
                cell.h2o_max_ppm = h2o
            if seen.excursion:
                cell.quarantined = True
                cell.reason = "atmosphere_excursion"
        return None


def _check(name: str, cfg: GloveboxConfig, ctx: CheckContext) -> Iterator[Problem]:
    if cfg.glovebox not in ctx.resources:
        yield f"stations.{name}.glovebox", f"'{cfg.glovebox}' is not under `resources`"


def _build(name: str, cfg: GloveboxConfig, ctx: StationContext, scenario: Any) -> GloveboxStation:
    return GloveboxStation(name, cfg, ctx, ctx.shared[cfg.glovebox])


KIND = StationKind("glovebox", GloveboxConfig, _build, _check)
