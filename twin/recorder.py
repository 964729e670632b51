"""What a replication records, apart from the wiring: cells released and finished, counts,
tallies and KPIs, station visits, and (for replication 0) a timeline of station states,
buffer levels and one press trace per press station.

Stations report to it; listeners (`on_cell_finished`, `on_visit`) are lists, so several
consumers (a streaming store, the live view, a drain) can follow a run."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from twin.stations.base import STATES
from twin.stations.config import SINK
from twin.stats import Tally, TimeWeighted

if TYPE_CHECKING:  # pragma: no cover
    from adapters.ports import PressMeasurement
    from twin.cell import Cell
    from twin.stations.base import Station

Visit = tuple[int, str, float, float, float, float]  # cell id, station, arrive, start, end, leave


@dataclass
class Timeline:
    """Station states, buffer levels and press traces of a window of one replication."""

    start_h: float
    end_h: float
    states: list[tuple[str, float, int, int, int, int, int]] = field(default_factory=list)
    levels: list[tuple[str, float, int]] = field(default_factory=list)
    press_traces: dict[str, tuple[str, Any]] = field(default_factory=dict)  # station -> (run id, PressTrace)

    def inside(self, now: float) -> bool:
        return self.start_h <= now <= self.end_h


class Recorder:
    """Counts, tallies and records of one replication (reset at the end of the warm-up)."""

    def __init__(self, warmup_h: float, keep_visits: bool = True, timeline: Timeline | None = None,
                 keep_cells: bool = True):
        self.warmup_h = warmup_h
        self.keep_visits = keep_visits
        self.keep_cells = keep_cells  # False when a stream (twin.streaming) takes the records
        self.timeline = timeline
        self.wip = TimeWeighted()
        self.cycle_time = Tally()
        self.cells: list["Cell"] = []
        self.visits: list[Visit] = []
        self.started_in_window = 0
        self.wip_start = 0
        self.counts = {"accepted": 0, "rejected": 0, "reworked": 0, "first_pass": 0}
        self.reasons: dict[str, int] = {}
        self.by_lot: dict[str, list[int]] = {}
        self.by_press: dict[str, list[int]] = {}
        self.on_cell_released: list[Callable[["Cell"], None]] = []
        self.on_cell_finished: list[Callable[["Cell"], None]] = []
        self.on_visit: list[Callable[[Visit], None]] = []

    # --- cells ---------------------------------------------------------------------
    def released(self, cell: "Cell", now: float) -> None:
        self.wip.add(now, 1)
        if self.keep_cells:
            self.cells.append(cell)
        if now >= self.warmup_h:
            self.started_in_window += 1
        for listener in self.on_cell_released:
            listener(cell)

    def visit(self, cell: "Cell", station: str, t_arrive: float, t_start: float, t_end: float,
              t_leave: float) -> None:
        row = (cell.id, station, t_arrive, t_start, t_end, t_leave)
        if self.keep_visits:
            self.visits.append(row)
        for listener in self.on_visit:
            listener(row)

    def finished(self, cell: "Cell", terminal: str, now: float) -> None:
        cell.t_out = now
        self.wip.add(now, -1)
        if terminal == SINK and not cell.quarantined:
            cell.outcome = "accepted"
        else:
            cell.outcome = "rejected"
            if not cell.reason or cell.reason == "ok":
                cell.reason = "routed_to_scrap"
        if now >= self.warmup_h:
            self._count(cell, now)
        for listener in self.on_cell_finished:
            listener(cell)

    def _count(self, cell: "Cell", now: float) -> None:
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

    # --- timeline ------------------------------------------------------------------
    def follow(self, stations: Mapping[str, "Station"]) -> None:
        """Record the stations' states and queues in the timeline window (replication 0)."""
        tl = self.timeline
        if tl is None:
            return
        for name, st in stations.items():
            def on_state(now: float, levels: tuple[int, int, int, int, int], name: str = name) -> None:
                if tl.inside(now):
                    tl.states.append((name, now, *levels))
            st.state.listener = on_state

    def snapshot(self, now: float, stations: Mapping[str, "Station"]) -> None:
        """Every station's state and queue at the start of the timeline window."""
        tl = self.timeline
        if tl is None or not tl.inside(now):
            return
        for name, st in stations.items():
            tl.states.append((name, now, *st.state.levels()))
            tl.levels.append((name, now, st.queue_length()))

    def queue_changed(self, station: "Station", now: float) -> None:
        tl = self.timeline
        if tl is not None and tl.inside(now):
            tl.levels.append((station.name, now, station.queue_length()))

    def press_cycle(self, station: str, meas: "PressMeasurement", started_h: float) -> None:
        """Keep the first press trace of each press station that starts inside the window."""
        tl = self.timeline
        if tl is not None and meas.trace is not None and station not in tl.press_traces and tl.inside(started_h):
            tl.press_traces[station] = (meas.run_id, meas.trace)

    # --- warm-up and KPIs ----------------------------------------------------------------
    def reset(self, now: float, stations: Mapping[str, "Station"]) -> None:
        """Forget the warm-up: monitors restart, the WIP carried over is noted."""
        self.wip.reset(now)
        self.wip_start = int(self.wip.level)
        for station in stations.values():
            station.reset_stats(now)
        self.snapshot(now, stations)

    def kpis(self, now: float, stations: Mapping[str, "Station"], cost: Callable[[dict], dict[str, float]]) -> dict:
        """This replication's KPIs over the window [warm-up, now]."""
        window = now - self.warmup_h
        c = self.counts
        departed = c["accepted"] + c["rejected"]
        kpis: dict[str, Any] = {
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
            "utilisation": {n: s.state.busy_mean(now) / s.cfg.servers for n, s in stations.items()},
            "availability": {n: 1.0 - s.down_time.mean(now) for n, s in stations.items()},
            "station_states": {n: s.state.shares(now) for n, s in stations.items()},
            "yield_by_lot": {k: a / n for k, (a, n) in sorted(self.by_lot.items())},
            "yield_by_press": {k: a / n for k, (a, n) in sorted(self.by_press.items())},
            "reject_reasons": dict(sorted(self.reasons.items())),
        }
        breakdown = cost(kpis)
        accepted = kpis["cells_accepted"]
        kpis["cost_breakdown"] = {k: v / accepted if accepted else math.nan for k, v in breakdown.items()}
        kpis["cost_per_good_cell"] = sum(breakdown.values()) / accepted if breakdown and accepted else math.nan
        return kpis


__all__ = ["Recorder", "Timeline", "Visit", "STATES"]
