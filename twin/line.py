"""Builds the SimPy line from a scenario (stations, buffers, routing, ports) and runs one
replication. One process per cell walks the route; stations decide where it goes next."""

from __future__ import annotations

import math
from typing import Generator

import simpy

from twin.cost import cost_per_good_cell
from twin.scenario import SCRAP, SINK, BatchStation, InspectStation, Scenario
from twin.stations.base import Router, Terminal
from twin.stations.batch import BatchStation as BatchKind
from twin.stations.glovebox import GloveboxStation
from twin.stations.inspect import InspectStation as InspectKind
from twin.stations.metrology import MetrologyStation
from twin.stations.process import ProcessStation
from twin.stations.source import Source
from twin.stats import Tally, TimeWeighted
from twin.streams import Streams

STATION_KINDS = {
    "process": ProcessStation,
    "metrology": MetrologyStation,
    "glovebox": GloveboxStation,
    "batch": BatchKind,
    "inspect": InspectKind,
}


class Line:
    """One replication of the line: the environment, its stations and what they record."""

    def __init__(self, scenario: Scenario, replication: int = 0, seed: int | None = None,
                 env: simpy.Environment | None = None, ports=None):
        self.scenario = scenario
        self.replication = replication
        self.seed = scenario.run.seed if seed is None else seed
        self.env = env if env is not None else simpy.Environment()
        self.streams = Streams(self.seed, replication)
        self.shared = {name: simpy.Resource(self.env, r.capacity) for name, r in scenario.resources.items()}
        self.terminals = {SINK: Terminal(SINK), SCRAP: Terminal(SCRAP)}
        self.stations = {name: STATION_KINDS[cfg.kind](name, cfg, self) for name, cfg in scenario.stations.items()}
        if ports is None:
            from adapters.sim import sim_ports

            ports = sim_ports(self.env, scenario, self.streams)
        self.ports = ports
        for name, station in self.stations.items():
            if not isinstance(station.cfg, InspectStation):
                station.router = self._router(name, station.cfg.next)
        self.quality = self._quality() if scenario.quality.mode == "physics" else None
        self.source = Source(scenario.source, scenario.lots, self)
        self.warmup_h = scenario.run.warmup_h
        self.wip = TimeWeighted()
        self.cycle_time = Tally()
        self.cells: list = []
        self.visits: list[tuple] = []
        self.started_in_window = 0
        self.wip_start = 0
        self.counts = {"accepted": 0, "rejected": 0, "reworked": 0, "first_pass": 0}
        self.reasons: dict[str, int] = {}
        self.by_lot: dict[str, list[int]] = {}
        self.by_press: dict[str, list[int]] = {}
        self.on_finish = None  # callback(cell) as each cell leaves the line (HIL writes it at once)

    # --- building -----------------------------------------------------------------
    def node(self, name: str):
        """A station or terminal by name."""
        return self.stations.get(name) or self.terminals[name]

    def _router(self, name: str, nxt) -> Router:
        if isinstance(nxt, str):
            return Router([self.node(nxt)], [1.0], None)
        from twin.distributions import Uniform, sampler

        uniform = sampler(Uniform(dist="uniform", low=0.0, high=1.0), self.streams.generator(f"{name}:route"))
        return Router([self.node(r.to) for r in nxt], [r.p for r in nxt], uniform)

    def _quality(self):
        from plant.press import load_press_spec

        from twin.quality import QualityAssessor

        caps = {}
        for name, cfg in self.scenario.stations.items():
            if isinstance(cfg, BatchStation) and cfg.press is not None:
                spec = load_press_spec(cfg.press.spec)
                caps[name] = spec.max_pressure_mpa * spec.transmission_frac
        return QualityAssessor(self.scenario.quality, caps)

    # --- cells --------------------------------------------------------------------
    def release(self, cell, first) -> None:
        """A new cell enters the line at `first` (its slot there is already held)."""
        now = self.env.now
        self.wip.add(now, 1)
        self.cells.append(cell)
        if now >= self.warmup_h:
            self.started_in_window += 1
        self.env.process(self._life(cell, first))

    def _life(self, cell, station) -> Generator:
        while not station.is_terminal:
            station = yield from station.visit(cell)
        self._finish(cell, station)

    def visit(self, cell, station: str, t_arrive: float, t_start: float, t_end: float, t_leave: float) -> None:
        self.visits.append((cell.id, station, t_arrive, t_start, t_end, t_leave))

    def _finish(self, cell, terminal: Terminal) -> None:
        now = self.env.now
        cell.t_out = now
        self.wip.add(now, -1)
        if terminal.name == SINK and not cell.quarantined:
            cell.outcome = "accepted"
        else:
            cell.outcome = "rejected"
            if not cell.reason or cell.reason == "ok":
                cell.reason = "routed_to_scrap"
        if now >= self.warmup_h:
            self._count(cell, now)
        if self.on_finish is not None:
            self.on_finish(cell)

    def _count(self, cell, now: float) -> None:
        self.cycle_time.add(now - cell.t_in)
        counts = self.counts
        if cell.outcome == "accepted":
            counts["accepted"] += 1
            if cell.reworks == 0:
                counts["first_pass"] += 1
        else:
            counts["rejected"] += 1
            self.reasons[cell.reason] = self.reasons.get(cell.reason, 0) + 1
        if cell.reworks:
            counts["reworked"] += 1
        accepted = cell.outcome == "accepted"
        for group, key in ((self.by_lot, cell.lot), (self.by_press, cell.press_station)):
            if key:
                tally = group.setdefault(key, [0, 0])
                tally[0] += accepted
                tally[1] += 1

    # --- running ------------------------------------------------------------------
    def _warmup(self) -> Generator:
        yield self.env.timeout(self.warmup_h)
        now = self.env.now
        self.wip.reset(now)
        self.wip_start = int(self.wip.level)
        for station in self.stations.values():
            station.reset_stats(now)

    def start(self) -> None:
        """Start the stations, the warm-up reset and the source (the caller runs the env)."""
        for station in self.stations.values():
            station.start()
        if self.warmup_h > 0:
            self.env.process(self._warmup())
        self.env.process(self.source.run(self.node(self.scenario.source.first)))

    def run(self) -> dict:
        """Run to the scenario's duration; returns this replication's KPIs."""
        self.start()
        self.env.run(until=self.scenario.run.duration_h)
        return self.kpis()

    def kpis(self) -> dict:
        now = self.env.now
        window = now - self.warmup_h
        c = self.counts
        departed = c["accepted"] + c["rejected"]
        kpis = {
            "cells_started": self.started_in_window,
            "cells_accepted": c["accepted"],
            "cells_rejected": c["rejected"],
            "cells_reworked": c["reworked"],
            "throughput_per_h": c["accepted"] / window,
            "departures_per_h": departed / window,
            "first_pass_yield": c["first_pass"] / departed if departed else math.nan,
            "final_yield": c["accepted"] / departed if departed else math.nan,
            "mean_cycle_time_h": self.cycle_time.mean,
            "mean_wip": self.wip.mean(now),
            "wip_start": self.wip_start,
            "wip_end": int(self.wip.level),
            "utilisation": {n: s.busy.mean(now) / s.cfg.servers for n, s in self.stations.items()},
            "availability": {n: 1.0 - s.down_time.mean(now) for n, s in self.stations.items()},
            "yield_by_lot": {k: a / n for k, (a, n) in sorted(self.by_lot.items())},
            "yield_by_press": {k: a / n for k, (a, n) in sorted(self.by_press.items())},
            "reject_reasons": dict(sorted(self.reasons.items())),
        }
        kpis["cost_per_good_cell"] = cost_per_good_cell(self.scenario, kpis)
        return kpis
