"""Inspection and disposition: accept, rework (back to the press) or reject."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Literal

from pydantic import Field, model_validator

from adapters.vocabulary import Decision
from twin.distributions import Distribution, Uniform, sampler
from twin.stations.base import Node, Process, StationContext
from twin.stations.config import SCRAP, SINK, Model, StationConfig
from twin.stations.process import ProcessStation
from twin.stations.registry import CheckContext, Problem, StationKind

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell
    from twin.quality import QualityAssessor


class FixedQuality(Model):
    """Outcome probabilities of an inspection in fixed quality mode."""

    p_accept: float = Field(ge=0, le=1)
    p_rework: float = Field(default=0.0, ge=0, le=1)
    p_reject: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> "FixedQuality":
        total = self.p_accept + self.p_rework + self.p_reject
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"p_accept + p_rework + p_reject must be 1 (got {total:g})")
        return self


class InspectConfig(StationConfig):
    """Inspection and disposition: accept, rework (re-press) or reject."""

    kind: Literal["inspect"]
    process_time_h: Distribution
    fixed: FixedQuality | None = Field(default=None, description="outcome probabilities in fixed quality mode")
    on_accept: str = SINK
    on_rework: str
    on_reject: str = SCRAP

    def provides(self) -> frozenset[str]:
        return frozenset({"disposition"})

    def routes(self) -> list[tuple[str, str]]:
        return [("on_accept", self.on_accept), ("on_rework", self.on_rework), ("on_reject", self.on_reject)]


class InspectStation(ProcessStation):
    """Decides per cell, by fixed probabilities or by the interface-quality model.
    A quarantined cell is never accepted; a rework past the limit becomes a reject."""

    def __init__(self, name: str, cfg: InspectConfig, ctx: StationContext, quality: "QualityAssessor | None",
                 max_reworks: int):
        super().__init__(name, cfg, ctx)
        self.quality = quality
        self.max_reworks = max_reworks
        self.targets: dict[Decision, Node] = {}
        self._uniform = None
        if quality is None:
            assert cfg.fixed is not None
            self._uniform = sampler(Uniform(dist="uniform", low=0.0, high=1.0), ctx.streams.generator(f"{name}:quality"))
            self._p_accept = cfg.fixed.p_accept
            self._p_rework_cum = cfg.fixed.p_accept + cfg.fixed.p_rework

    def wire(self) -> None:
        cfg, routing = self.cfg, self.ctx.routing
        assert isinstance(cfg, InspectConfig)
        self.targets = {Decision.ACCEPT: routing.node(cfg.on_accept), Decision.REWORK: routing.node(cfg.on_rework),
                        Decision.REJECT: routing.node(cfg.on_reject)}

    def decide(self, cell: "Cell") -> tuple[Decision, str]:
        if cell.quarantined:
            return Decision.REJECT, cell.reason or "quarantine"
        if self.quality is None:
            assert self._uniform is not None
            u = self._uniform()
            if u < self._p_accept:
                decision, reason = Decision.ACCEPT, "ok"
            elif u < self._p_rework_cum:
                decision, reason = Decision.REWORK, "inspection"
            else:
                decision, reason = Decision.REJECT, "inspection"
        else:
            decision, reason = self.quality.assess(cell)
        if decision == Decision.REWORK and cell.reworks >= self.max_reworks:
            decision, reason = Decision.REJECT, "rework_limit"
        return decision, reason

    def after_work(self, cell: "Cell", t_start: float, t_end: float, held: Any = None) -> Process[Node | None]:
        """Decide, tell the equipment, and send the cell where the decision says."""
        decision, reason = self.decide(cell)
        cell.reason = reason
        if decision == Decision.REWORK:
            cell.reworks += 1
        told = self.ctx.ports.disposition.report(self.name, cell, decision, reason)
        if told is not None:
            yield told
        return self.targets[decision]


def _check(name: str, cfg: InspectConfig, ctx: CheckContext) -> Iterator[Problem]:
    if ctx.quality_mode == "fixed" and cfg.fixed is None:
        yield f"stations.{name}.fixed", "required when quality.mode is 'fixed'"


def _build(name: str, cfg: InspectConfig, ctx: StationContext, scenario: Any) -> InspectStation:
    quality = None
    if scenario.quality.mode == "physics":
        from twin.quality import QualityAssessor

        quality = QualityAssessor.for_scenario(scenario)
    return InspectStation(name, cfg, ctx, quality, scenario.quality.disposition.max_reworks)


KIND = StationKind("inspect", InspectConfig, _build, _check)
