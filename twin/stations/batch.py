"""Batch machines: an isostatic press vessel (or a uniaxial press) takes up to N cells
per cycle, loaded by a rule: start when the batch is full, or a time-out after the
first cell arrived (but never with fewer than `min_cells`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterator, Literal

import simpy
from pydantic import Field, model_validator

from plant.press import FAULT_KINDS, PressSpec, Recipe
from twin.distributions import Distribution
from twin.stations.base import Node, Process, Station, StationContext
from twin.stations.config import Model, RoutedConfig
from twin.stations.registry import CheckContext, Problem, StationKind

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell


class PressSettings(Model):
    """The press used by a batch station and its recipe."""

    spec: str = Field(description="press kind (wip, cip, manual_uniaxial, automatic_uniaxial, heated_uniaxial, "
                                  "glovebox_uniaxial) or a spec YAML path (relative to the scenario file)")
    recipe: Recipe
    fault_probabilities: dict[str, float] = Field(
        default_factory=dict, description="chance per cycle of each device fault (leak, overpressure, heater, comm_loss)"
    )

    @model_validator(mode="after")
    def _faults(self) -> "PressSettings":
        for kind, p in self.fault_probabilities.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"fault_probabilities: unknown fault '{kind}' (one of {', '.join(FAULT_KINDS)})")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault_probabilities.{kind}: must be within [0, 1]")
        return self


class BatchRule(Model):
    """Loading rule: start when `capacity_cells` wait, or `timeout_h` after the first one arrived."""

    capacity_cells: int = Field(ge=1)
    min_cells: int = Field(default=1, ge=1)
    timeout_h: float | None = Field(default=None, ge=0, description="null = always wait for a full batch")

    @model_validator(mode="after")
    def _sizes(self) -> "BatchRule":
        if self.min_cells > self.capacity_cells:
            raise ValueError("min_cells must be <= capacity_cells")
        return self


class BatchConfig(RoutedConfig):
    """A batch machine (isostatic press vessel, uniaxial press): N cells per cycle."""

    kind: Literal["batch"]
    batch: BatchRule = Field(default_factory=lambda: BatchRule(capacity_cells=1))
    press: PressSettings | None = None
    process_time_h: Distribution | None = Field(default=None, description="cycle time when no press physics is given")

    @model_validator(mode="after")
    def _timing(self) -> "BatchConfig":
        if self.press is None and self.process_time_h is None:
            raise ValueError("a batch station needs `press` (physics cycle) or `process_time_h`")
        return self

    def provides(self) -> frozenset[str]:
        return frozenset({"pressing"}) if self.press is not None else frozenset()

    def device_role(self) -> str | None:
        return "press" if self.press is not None else None


class BatchStation(Station):
    """Cells wait in a common queue; each vessel (server) runs its own loading loop."""

    holds_server_while_blocked = False  # a vessel is free once its cycle ends; its cells wait alone

    def __init__(self, name: str, cfg: BatchConfig, ctx: StationContext, spec: PressSpec | None,
                 same_level_frac: float):
        self.cells_per_server = cfg.batch.capacity_cells
        super().__init__(name, cfg, ctx)
        self.rule = cfg.batch
        self.waiting: list[tuple["Cell", simpy.Event, float]] = []
        self._arrived = self.env.event()
        self.recipe = cfg.press.recipe if cfg.press is not None else None
        self.spec = spec
        self.same_level_frac = same_level_frac
        self.cycles = 0
        self.cells_pressed = 0
        self.flushing = False

    def queue_length(self) -> int:
        return len(self.waiting)

    def flush(self) -> None:
        """From now on start a cycle with whatever is waiting (the end of a shift or a drain:
        no more cells will come to fill the batch)."""
        self.flushing = True
        arrived, self._arrived = self._arrived, self.env.event()
        arrived.succeed()

    def start(self) -> None:
        super().start()
        for _ in range(self.cfg.servers):
            self.env.process(self._vessel())

    def visit(self, cell: "Cell") -> Process[Node]:
        env = self.env
        t_arrive = env.now
        done = env.event()
        self.waiting.append((cell, done, t_arrive))
        self.ctx.recorder.queue_changed(self, t_arrive)
        arrived, self._arrived = self._arrived, env.event()
        arrived.succeed()
        t_start, t_end = yield done
        assert self.router is not None
        target = self.router.choose()
        yield from self.move_on(cell, target)
        self.ctx.recorder.visit(cell, self.name, t_arrive, t_start, t_end, env.now)
        return target

    def _load(self) -> Process[list[tuple["Cell", simpy.Event, float]]]:
        """Wait until the loading rule says go; returns the cells to press."""
        env = self.env
        rule = self.rule
        while True:
            while not self.waiting:
                yield self._arrived
            deadline = math.inf if rule.timeout_h is None else self.waiting[0][2] + rule.timeout_h
            while len(self.waiting) < rule.capacity_cells:
                if self.flushing or (env.now >= deadline and len(self.waiting) >= rule.min_cells):
                    break
                if env.now >= deadline or deadline == math.inf:
                    yield self._arrived
                else:
                    yield self._arrived | env.timeout(deadline - env.now)
                if not self.waiting:
                    break
            yield from self.wait_up()
            if self.waiting:
                batch = self.waiting[: rule.capacity_cells]
                del self.waiting[: rule.capacity_cells]
                self.ctx.recorder.queue_changed(self, env.now)
                return batch

    def _vessel(self) -> Process[None]:
        env = self.env
        while True:
            batch = yield from self._load()
            t_start = env.now
            cells = [c for c, _, _ in batch]
            if self.recipe is not None:
                yield from self._press(cells)
            else:
                assert self.process_time is not None
                yield from self.work(self.process_time())
            self.cycles += 1
            self.cells_pressed += len(cells)
            t_end = env.now
            for _, done, _ in batch:
                done.succeed((t_start, t_end))

    def _press(self, cells: list["Cell"]) -> Process[None]:
        """One press cycle through the PressPort; a faulty cycle quarantines its cells."""
        env = self.env
        recipe = self._recipe_for(cells)
        started = env.now
        self.state.change(started, busy=1)
        meas = yield self.ctx.ports.press.cycle(self.name, recipe, cells)
        self.state.change(env.now, busy=-1)
        self.ctx.recorder.press_cycle(self.name, meas, started)
        group: list["Cell"] = []
        for i, cell in enumerate(cells):
            if not meas.ok or i >= len(meas.cell_pressure_mpa):
                cell.quarantined = True
                cell.reason = "press_fault:" + ",".join(meas.faults or [meas.status])
                cell.press_runs.append(meas.run_id)
                continue
            cell.record_press(self.name, meas.run_id, meas.cell_pressure_mpa[i], meas.cell_pressure_cv[i],
                              meas.hold_duration_s, meas.mean_temperature_c, self.same_level_frac)
            cell.pending = group
            group.append(cell)

    def _recipe_for(self, cells: list["Cell"]) -> Recipe:
        """The base recipe, raised to what the rework cells in this batch asked for (pressure
        on the cell, applied through the press's tooling, never beyond its limits)."""
        spec, base = self.spec, self.recipe
        assert spec is not None and base is not None
        pressure = spec.applied_for_cell_mpa(max((c.rework_pressure_mpa for c in cells), default=0.0))
        hold = min(max((c.rework_hold_s for c in cells), default=0.0), spec.max_hold_s)
        if pressure <= base.target_pressure_mpa and hold <= base.hold_s:
            return base
        return base.model_copy(update={
            "target_pressure_mpa": max(pressure, base.target_pressure_mpa),
            "hold_s": max(hold, base.hold_s),
        })


def _check(name: str, cfg: BatchConfig, ctx: CheckContext) -> Iterator[Problem]:
    from plant.press import RecipeError, check_recipe, load_press_spec

    if cfg.press is None:
        return
    path = f"stations.{name}.press"
    spec, problems = ctx.load(f"{path}.spec", load_press_spec, cfg.press.spec)
    yield from problems
    if spec is None:
        return
    ctx.presses[name] = spec
    try:
        check_recipe(spec, cfg.press.recipe)
    except RecipeError as exc:
        yield f"{path}.recipe", str(exc)
    if cfg.batch.capacity_cells > spec.capacity_cells:
        yield path, f"batch.capacity_cells {cfg.batch.capacity_cells} exceeds the press capacity {spec.capacity_cells}"


def _build(name: str, cfg: BatchConfig, ctx: StationContext, scenario: Any) -> BatchStation:
    spec = scenario.resolved.presses.get(name) if cfg.press is not None else None
    return BatchStation(name, cfg, ctx, spec, scenario.quality.same_level_frac)


KIND = StationKind("batch", BatchConfig, _build, _check)
