"""Flatness metrology: measures each collector through the MetrologyPort."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Literal

from pydantic import Field

from twin.distributions import Distribution
from twin.stations.base import Node, Process, StationContext
from twin.stations.config import RoutedConfig
from twin.stations.process import ProcessStation
from twin.stations.registry import CheckContext, Problem, StationKind

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell


class MetrologyConfig(RoutedConfig):
    """Measures the collector flatness of each cell (Sq, Sdq, PV, waviness)."""

    kind: Literal["metrology"]
    process_time_h: Distribution
    instrument: str = Field(default="profilometer", description="profilometer spec name or YAML path")

    def provides(self) -> frozenset[str]:
        return frozenset({"flatness"})

    def device_role(self) -> str | None:
        return "profilometer"


class MetrologyStation(ProcessStation):
    """A process step whose result is the cell's measured Sq, Sdq, PV and waviness (with the
    instrument's bandwidth). A failed measurement quarantines the cell: it is never accepted
    on a guess."""

    def after_work(self, cell: "Cell", t_start: float, t_end: float, held: Any = None) -> Process[Node | None]:
        surface = yield self.ctx.ports.metrology.measure(self.name, cell)
        if surface is None:
            cell.quarantined = True
            cell.reason = "metrology_failed"
        else:
            cell.surface = surface
            cell.quality = None
        return None


def _check(name: str, cfg: MetrologyConfig, ctx: CheckContext) -> Iterator[Problem]:
    from plant.metrology import load_profilometer_spec

    spec, problems = ctx.load(f"stations.{name}.instrument", load_profilometer_spec, cfg.instrument)
    if spec is not None:
        ctx.instruments[name] = spec
    yield from problems


def _build(name: str, cfg: MetrologyConfig, ctx: StationContext, scenario: Any) -> MetrologyStation:
    return MetrologyStation(name, cfg, ctx)


KIND = StationKind("metrology", MetrologyConfig, _build, _check)
