"""Wiring of one replication: the environment, shared resources, stations (built by their
kinds from the registry), routing between them, the ports, the source and a recorder.
One process per cell walks the route; stations decide where it goes next."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import simpy

from twin.cost import cost_breakdown
from twin.engine import FastEnvironment, LeanResource
from twin.recorder import Recorder, Timeline
from twin.stations import KINDS
from twin.stations.base import Node, Process, Station, StationContext, Terminal
from twin.stations.config import SCRAP, SINK
from twin.stations.source import Source
from twin.streams import Streams

if TYPE_CHECKING:  # pragma: no cover
    from adapters.ports import Ports
    from twin.cell import Cell
    from twin.scenario import Scenario


class Line:
    """One replication of the line."""

    def __init__(self, scenario: "Scenario", replication: int = 0, seed: int | None = None,
                 env: simpy.Environment | None = None, ports: "Ports | None" = None, keep_visits: bool = True):
        self.scenario = scenario
        self.replication = replication
        self.seed = scenario.run.seed if seed is None else seed
        self.env = env if env is not None else FastEnvironment()
        self.streams = Streams(self.seed, replication)
        run = scenario.run
        timeline = (Timeline(run.warmup_h, run.warmup_h + run.timeline_h)
                    if replication == 0 and run.timeline_h > 0 else None)
        self.recorder = Recorder(run.warmup_h, keep_visits=keep_visits, timeline=timeline)
        if ports is None:
            from adapters.sim import sim_ports

            ports = sim_ports(self.env, scenario, self.streams.generator, self.recorder.wants_press_trace)
        self.ports = ports
        self.terminals = {SINK: Terminal(SINK), SCRAP: Terminal(SCRAP)}
        shared = {name: LeanResource(self.env, r.capacity) for name, r in scenario.resources.items()}
        ctx = StationContext(self.env, self.streams, ports, self.recorder, self, shared)
        self.stations: dict[str, Station] = {
            name: KINDS[cfg.kind].build(name, cfg, ctx, scenario) for name, cfg in scenario.stations.items()}
        for station in self.stations.values():
            station.wire()
        self.recorder.follow(self.stations)
        self.source = Source(scenario.source, scenario.lots, self.streams, self.env, self.release)

    def node(self, name: str) -> Node:
        """A station or terminal by name."""
        return self.stations.get(name) or self.terminals[name]

    # --- cells --------------------------------------------------------------------
    @property
    def cells(self) -> list["Cell"]:
        return self.recorder.cells

    @property
    def visits(self) -> list[tuple]:
        return self.recorder.visits

    @property
    def wip_level(self) -> int:
        return int(self.recorder.wip.level)

    def release(self, cell: "Cell", first: Node) -> None:
        """A new cell enters the line at `first` (its slot there is already held)."""
        self.recorder.released(cell, self.env.now)
        self.env.process(self._life(cell, first))

    def _life(self, cell: "Cell", station: Node) -> Process[None]:
        while not station.is_terminal:
            station = yield from station.visit(cell)
        self.recorder.finished(cell, station.name, self.env.now)

    # --- running ------------------------------------------------------------------
    def _warmup(self) -> Process[None]:
        yield self.env.timeout(self.scenario.run.warmup_h)
        self.recorder.reset(self.env.now, self.stations)

    def start(self) -> None:
        """Start the stations, the warm-up reset and the source (the caller runs the env)."""
        for station in self.stations.values():
            station.start()
        if self.scenario.run.warmup_h > 0:
            self.env.process(self._warmup())
        else:
            self.recorder.snapshot(self.env.now, self.stations)
        self.env.process(self.source.run(self.node(self.scenario.source.first)))

    def run(self) -> dict:
        """Run to the scenario's duration; returns this replication's KPIs."""
        self.start()
        self.env.run(until=self.scenario.run.duration_h)
        return self.kpis()

    def drain(self) -> None:
        """Release no more cells and let batch machines run part-filled batches."""
        self.source.stop()
        for station in self.stations.values():
            flush = getattr(station, "flush", None)
            if flush is not None:
                flush()

    def kpis(self) -> dict:
        sc = self.scenario
        servers = {name: st.servers for name, st in sc.stations.items()}

        def cost(kpis: Mapping[str, Any]) -> dict[str, float]:
            if sc.cost is None:
                return {}
            return cost_breakdown(sc.cost, servers, sc.run.duration_h - sc.run.warmup_h, kpis)

        return self.recorder.kpis(self.env.now, self.stations, cost)
