"""Batch machines: an isostatic press vessel (or a uniaxial press) takes up to N cells
per cycle, loaded by a rule: start when the batch is full, or a time-out after the
first cell arrived (but never with fewer than `min_cells`)."""

from __future__ import annotations

import math
from typing import Generator

from twin.stations.base import Station


class BatchStation(Station):
    """Cells wait in a common queue; each vessel (server) runs its own loading loop."""

    def __init__(self, name, cfg, line):
        self.cells_per_server = cfg.batch.capacity_cells
        super().__init__(name, cfg, line)
        self.rule = cfg.batch
        self.waiting: list = []
        self._arrived = self.env.event()
        self.recipe = cfg.press.recipe if cfg.press is not None else None
        self.spec = None
        if cfg.press is not None:
            from plant.press import load_press_spec

            self.spec = load_press_spec(cfg.press.spec)
        self.cycles = 0
        self.cells_pressed = 0
        self.flushing = False

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

    def visit(self, cell) -> Generator:
        env = self.env
        t_arrive = env.now
        done = env.event()
        self.waiting.append((cell, done, t_arrive))
        arrived, self._arrived = self._arrived, env.event()
        arrived.succeed()
        t_start, t_end = yield done
        target = self.router.choose()
        yield from self.move_on(cell, target)
        self.line.visit(cell, self.name, t_arrive, t_start, t_end, env.now)
        return target

    def _load(self) -> Generator:
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
                return batch

    def _vessel(self) -> Generator:
        env = self.env
        while True:
            batch = yield from self._load()
            t_start = env.now
            cells = [c for c, _, _ in batch]
            if self.recipe is not None:
                yield from self._press(cells)
            else:
                yield from self.work(self.process_time())
            self.cycles += 1
            self.cells_pressed += len(cells)
            t_end = env.now
            for _, done, _ in batch:
                done.succeed((t_start, t_end))

    def _press(self, cells: list) -> Generator:
        """One press cycle through the PressPort; a faulty cycle quarantines its cells."""
        env = self.env
        recipe = self._recipe_for(cells)
        self.busy.add(env.now, 1)
        meas = yield self.line.ports.press.cycle(self.name, recipe, cells)
        self.busy.add(env.now, -1)
        memory = self.line.scenario.quality.same_level_frac
        group: list = []
        for i, cell in enumerate(cells):
            if not meas.ok or i >= len(meas.cell_pressure_mpa):
                cell.quarantined = True
                cell.reason = "press_fault:" + ",".join(meas.faults or [meas.status])
                cell.press_runs.append(meas.run_id)
                continue
            cell.record_press(self.name, meas.run_id, meas.cell_pressure_mpa[i], meas.cell_pressure_cv[i],
                              meas.hold_duration_s, meas.mean_temperature_c, memory)
            cell.pending = group
            group.append(cell)

    def _recipe_for(self, cells: list):
        """The base recipe, raised to what the rework cells in this batch asked for: the
        pressure asked is on the cell, so the press applies it divided by what its tooling
        transmits; never beyond the press's limits."""
        spec = self.spec
        on_cell = max((c.rework_pressure_mpa for c in cells), default=0.0)
        pressure = min(on_cell / spec.transmission_frac, spec.max_pressure_mpa)
        hold = min(max((c.rework_hold_s for c in cells), default=0.0), spec.max_hold_s)
        base = self.recipe
        if pressure <= base.target_pressure_mpa and hold <= base.hold_s:
            return base
        return base.model_copy(update={
            "target_pressure_mpa": max(pressure, base.target_pressure_mpa),
            "hold_s": max(hold, base.hold_s),
        })
