"""What the live page shows, read from a running `Line`: station states and buffer levels,
counts, throughput / yield / WIP over time, the last cells (flatness, pressure, interface
outputs, decision and reason; quarantines flagged), each press's current cycle with its
pressure and temperature trace, device link health and the clock's lag (`twin.live.hil`).

The feed costs the run almost nothing while no page is open: a finished cell is appended to
a short deque; everything else is read from the line only when `snapshot()` is called (by the
server, a few times a second, and only for connected pages). `Client` turns snapshots into
per-page deltas: only the sections that changed, and only the new points of the series."""

from __future__ import annotations

import json
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from twin.live.ports import CycleStart, observe_presses

if TYPE_CHECKING:  # pragma: no cover
    from twin.cell import Cell
    from twin.line import Line
    from twin.scenario import Scenario

SECONDS_PER_H = 3600.0
LAST_CELLS = 15
MAX_SERIES = 1500  # points kept per series; beyond, every other point is dropped (a new epoch)
MAX_EVENTS = 40
STATE_NAMES = ("busy", "blocked", "starved", "down", "off_shift")
SURFACE = ("sq_um", "sdq", "pv_um", "waviness_um", "waviness_mm")
QUALITY = ("contact_fraction", "void_fraction", "r_int_ohm_cm2", "hotspot_factor", "p_short")
DECISIONS = {0: "accept", 1: "rework", 2: "reject"}
SECTIONS = ("meta", "line", "counts", "cells", "presses", "devices", "clock", "events")


def _num(x: Any, digits: int = 4) -> float | None:
    """A JSON-safe rounded number (None for missing or not finite)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, digits) if math.isfinite(v) else None


def line_layout(scenario: "Scenario") -> dict[str, Any]:
    """Stations in route order from the source's first station, and the edges between them."""
    stations = scenario.stations
    order: list[str] = []
    todo = [scenario.source.first]
    while todo:
        name = todo.pop(0)
        if name in order or name not in stations:
            continue
        order.append(name)
        todo.extend(t for _, t in stations[name].routes())
    order += [n for n in stations if n not in order]
    edges = sorted({(n, t) for n in order for _, t in stations[n].routes()})
    return {"stations": [{"name": n, "kind": stations[n].kind, "servers": stations[n].servers,
                          "buffer_capacity": stations[n].buffer_capacity} for n in order],
            "edges": [list(e) for e in edges]}


def cell_view(cell: "Cell", wall: float) -> dict[str, Any]:
    """One finished cell as the page's table shows it."""
    q = cell.quality or {}
    meas = cell.surface
    decision = _num(q.get("decision"))
    return {
        "id": cell.id, "lot": cell.lot, "outcome": cell.outcome, "reason": cell.reason,
        "quarantined": bool(cell.quarantined), "reworks": cell.reworks, "t_out_h": _num(cell.t_out),
        **{k: _num(getattr(meas, k, None)) for k in SURFACE},
        "pressure_mpa": _num(cell.pressure_mpa if cell.press_runs else None), "pressure_cv": _num(cell.pressure_cv),
        "temperature_c": _num(cell.temperature_c), "hold_s": _num(cell.hold_s),
        **{k: _num(q.get(k)) for k in QUALITY},
        "decision": DECISIONS.get(int(decision)) if decision is not None else None,
        "press": cell.press_station or None, "wall": wall,
    }


class Series:
    """Throughput, yield and WIP sampled over simulated time, bounded in length."""

    def __init__(self) -> None:
        self.epoch = 0
        self.t_h: list[float] = []
        self.values: dict[str, list[float | None]] = {"throughput_per_h": [], "final_yield": [],
                                                      "first_pass_yield": [], "wip": []}

    def add(self, t_h: float, kpis: dict[str, float | None]) -> None:
        if self.t_h and t_h <= self.t_h[-1]:
            return
        self.t_h.append(round(t_h, 5))
        for k, col in self.values.items():
            col.append(kpis.get(k))
        if len(self.t_h) > MAX_SERIES:
            self.t_h = self.t_h[::2]
            for k in self.values:
                self.values[k] = self.values[k][::2]
            self.epoch += 1

    def since(self, n: int) -> dict[str, Any]:
        return {"epoch": self.epoch, "from": n, "t_h": self.t_h[n:], **{k: v[n:] for k, v in self.values.items()}}


class LineFeed:
    """The live state of one line (simulated or in the loop); `snapshot()` for the page."""

    def __init__(self, scenario: "Scenario", mode: str = "sim", pace: float = 0.0):
        self.scenario = scenario
        self.mode = mode
        self.pace = pace
        self.layout = line_layout(scenario)
        self.line: "Line | None" = None
        self.cells: deque[dict[str, Any]] = deque(maxlen=LAST_CELLS)
        self._pending: deque[tuple["Cell", float]] = deque(maxlen=LAST_CELLS)
        self.quarantined = 0
        self.series = Series()
        self.cycles: dict[str, CycleStart] = {}
        self.live_traces: dict[str, dict[str, Any]] = {}  # HIL: station -> samples from the subscription
        self.devices: dict[str, dict[str, Any]] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
        self.clock: Callable[[], dict[str, Any]] | None = None
        self.running = False
        self.finished = False
        self.final: dict[str, Any] | None = None
        self.last_event_wall = 0.0
        self.urgent: list[Callable[[], None]] = []  # called when something must reach the page now
        self.wall0 = time.time()

    # --- following a line ---------------------------------------------------------
    def attach(self, line: "Line") -> None:
        """Follow `line`: its finished cells, and (simulated presses) each cycle's trace."""
        self.line = line
        line.recorder.on_cell_finished.append(self._cell_finished)
        observe_presses(line, self._cycle_started)
        self.running = True

    def _cell_finished(self, cell: "Cell") -> None:
        now = time.time()
        self._pending.append((cell, now))  # formatted lazily, when a page asks
        self.last_event_wall = now
        if cell.quarantined:
            self.quarantined += 1

    def _cycle_started(self, start: CycleStart) -> None:
        self.cycles[start.station] = start
        self.live_traces.pop(start.station, None)

    def note(self, kind: str, text: str, severity: str = "info", urgent: bool = False, **extra: Any) -> None:
        """An event for the page's log (faults and link trouble are `urgent`: pushed at once)."""
        now = float(extra.pop("wall", time.time()))
        self.events.append({"wall": now, "kind": kind, "text": text, "severity": severity, **extra})
        self.last_event_wall = now
        if urgent:
            for wake in self.urgent:
                wake()

    def done(self, summary: dict[str, Any] | None = None) -> None:
        """The run is over (the page keeps the final state)."""
        self.running = False
        self.finished = True
        self.final = {k: summary.get(k) for k in ("cells_started", "cells_accepted", "cells_rejected",
                                                  "cells_reworked", "throughput_per_h", "final_yield")} \
            if summary else None
        self.sample()
        self.note("run", "run finished", urgent=True)

    # --- reading the line -----------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        line = self.line
        if line is None:
            return {}
        rec = line.recorder
        c = rec.counts
        now = float(line.env.now)
        window = now - rec.warmup_h
        departed = c["accepted"] + c["rejected"]
        return {
            "cells_started": rec.started_in_window, "cells_accepted": c["accepted"],
            "cells_rejected": c["rejected"], "cells_reworked": c["reworked"], "wip": line.wip_level,
            "quarantined": self.quarantined, "in_warmup": now < rec.warmup_h,
            "throughput_per_h": _num(c["accepted"] / window) if window > 0 else None,
            "first_pass_yield": _num(c["first_pass"] / departed) if departed else None,
            "final_yield": _num(c["accepted"] / departed) if departed else None,
        }

    def sample(self) -> None:
        """One point of the time series (called by the server's ticker, page or not)."""
        if self.line is not None:
            self.series.add(float(self.line.env.now), self.counts())

    def _stations(self) -> list[dict[str, Any]]:
        assert self.line is not None
        out = []
        for st in self.layout["stations"]:
            station = self.line.stations[st["name"]]
            levels = station.state.levels()
            out.append({"name": st["name"], "levels": dict(zip(STATE_NAMES, levels)),
                        "state": _dominant(levels), "queue": station.queue_length()})
        return out

    def _presses(self) -> dict[str, Any]:
        assert self.line is not None
        now = float(self.line.env.now)
        out: dict[str, Any] = {}
        for station, cyc in self.cycles.items():
            meas = cyc.measurement
            entry: dict[str, Any] = {"started_h": _num(cyc.started_h, 6), "cells": cyc.cells}
            if meas is not None and meas.trace is not None:
                elapsed_s = (now - cyc.started_h) * SECONDS_PER_H
                tr = meas.trace
                n = sum(1 for t in tr.t_s if t <= elapsed_s)
                entry.update(run_id=meas.run_id, t_s=[_num(t, 2) for t in tr.t_s[:n]],
                             p_mpa=[_num(p, 3) for p in tr.p_mpa[:n]], temp_c=[_num(t, 2) for t in tr.temp_c[:n]],
                             done=elapsed_s >= meas.duration_s, ok=meas.ok, faults=list(meas.faults))
            live = self.live_traces.get(station)
            if live is not None:
                entry.update(live)
            out[station] = entry
        for station, live in self.live_traces.items():
            out.setdefault(station, dict(live))
        return out

    def _flush_cells(self) -> None:
        while self._pending:
            cell, wall = self._pending.popleft()
            self.cells.appendleft(cell_view(cell, wall))

    def snapshot(self) -> dict[str, Any]:
        """Every section of the page (see SECTIONS) plus the series."""
        line = self.line
        self._flush_cells()
        now = float(line.env.now) if line is not None else 0.0
        run = self.scenario.run
        meta = {"mode": self.mode, "scenario": self.scenario.name, "duration_h": run.duration_h,
                "warmup_h": run.warmup_h, "pace": self.pace, "running": self.running, "finished": self.finished,
                "final": self.final, "t_h": _num(now, 5)}
        return {
            "meta": meta,
            "line": {**self.layout, "states": self._stations() if line is not None else []},
            "counts": self.counts(),
            "cells": list(self.cells),
            "presses": self._presses() if line is not None else {},
            "devices": self.devices,
            "clock": self.clock() if self.clock is not None else {},
            "events": list(self.events),
            "last_event_wall": self.last_event_wall,
        }


def _dominant(levels: tuple[int, ...]) -> str:
    """The state most of a station's servers are in (ties: the more serious: down, off shift, blocked...)."""
    rank = (3, 4, 1, 0, 2)  # prefer down, off_shift, blocked, busy, starved on a tie
    best = max(range(len(levels)), key=lambda i: (levels[i], -rank.index(i)))
    return STATE_NAMES[best]


class Client:
    """One connected page: what it has been sent, so each message carries only what changed."""

    def __init__(self) -> None:
        self.sent: dict[str, str] = {}
        self.epoch = -1
        self.points = 0

    def message(self, snap: dict[str, Any], series: Series) -> dict[str, Any] | None:
        """The delta for this page (None: nothing new)."""
        out: dict[str, Any] = {}
        for name in SECTIONS:
            text = json.dumps(snap.get(name), separators=(",", ":"), allow_nan=False)
            if self.sent.get(name) != text:
                self.sent[name] = text
                out[name] = snap.get(name)
        if series.epoch != self.epoch:  # first message, or the series was thinned: send it whole
            self.epoch, self.points = series.epoch, 0
            out["series"] = series.since(0)
        elif len(series.t_h) > self.points:
            out["series"] = series.since(self.points)
        if "series" in out:
            self.points = len(series.t_h)
        if not out:
            return None
        out["sent_wall"] = time.time()
        out["last_event_wall"] = snap.get("last_event_wall")
        return out
