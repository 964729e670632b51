"""`twin view DIR`: a finished run replayed in the live page, from its trace.sqlite and
summary.json, under a time slider. Replication 0 is shown (the one with the timeline of
station states, buffer levels and press traces); at the end of the slider its counts are the
run's (`summary.json`, or its `per_replication[0]` when there were several)."""

from __future__ import annotations

import bisect
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from twin.live.feed import LAST_CELLS, QUALITY, STATE_NAMES, SURFACE, _dominant, _num

SERIES_POINTS = 300


class ReplayError(Exception):
    """The folder is not a finished run the view can replay."""


def _rows(db: sqlite3.Connection, sql: str) -> list[sqlite3.Row]:
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # a table an older output does not have
        return []


class Replay:
    """The frames of one finished run."""

    def __init__(self, directory: str | Path):
        d = Path(directory)
        try:
            self.summary = json.loads((d / "summary.json").read_text())
        except (OSError, ValueError) as exc:
            raise ReplayError(f"{d}: no readable summary.json ({exc})") from None
        if not (d / "trace.sqlite").exists():
            raise ReplayError(f"{d}: no trace.sqlite (was the run written with run.write_trace?)")
        db = sqlite3.connect(f"file:{d / 'trace.sqlite'}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            self._load(db)
        finally:
            db.close()
        self.title = str(self.summary.get("scenario", d.name))
        self._series = self._make_series()

    def _load(self, db: sqlite3.Connection) -> None:
        s = self.summary
        self.warmup_h = float(s.get("warmup_h") or 0.0)
        self.end_h = float(s.get("duration_h") or (self.warmup_h + float(s.get("sim_time_h") or 0.0)))
        cells = [dict(r) for r in _rows(db, "SELECT * FROM cells WHERE replication = 0 ORDER BY cell_id")]
        if not cells:
            raise ReplayError("trace.sqlite holds no cells of replication 0")
        self.cells = cells
        nan = math.nan
        self.t_in = np.array([c["t_in_h"] for c in cells], float)
        self.t_out = np.array([nan if c["t_out_h"] is None else c["t_out_h"] for c in cells], float)
        self.accepted = np.array([c["outcome"] == "accepted" for c in cells])
        self.rejected = np.array([c["outcome"] == "rejected" for c in cells])
        self.reworked = np.array([(c["reworks"] or 0) > 0 for c in cells])
        self.quarantined = np.array([bool(c["quarantined"]) for c in cells])
        order = np.argsort(np.where(np.isnan(self.t_out), np.inf, self.t_out), kind="stable")
        self.by_out = [int(i) for i in order if not math.isnan(self.t_out[i])]
        self.out_sorted = [float(self.t_out[i]) for i in self.by_out]
        self.states: dict[str, list[tuple]] = {}
        for r in _rows(db, "SELECT * FROM station_states WHERE replication = 0 ORDER BY t_h"):
            self.states.setdefault(r["station"], []).append(
                (r["t_h"], (r["busy"], r["blocked"], r["starved"], r["down"], r["off_shift"])))
        self.levels: dict[str, list[tuple[float, int]]] = {}
        for r in _rows(db, "SELECT * FROM buffer_levels WHERE replication = 0 ORDER BY t_h"):
            self.levels.setdefault(r["station"], []).append((r["t_h"], r["waiting"]))
        self.traces: dict[str, dict[str, Any]] = {}
        for r in _rows(db, "SELECT * FROM press_traces WHERE replication = 0 ORDER BY station, t_s"):
            tr = self.traces.setdefault(r["station"], {"run_id": r["run_id"], "t_s": [], "p_mpa": [], "temp_c": [],
                                                       "done": True, "note": "first cycle in the timeline window"})
            tr["t_s"].append(_num(r["t_s"], 2))
            tr["p_mpa"].append(_num(r["p_mpa"], 3))
            tr["temp_c"].append(_num(r["temp_c"], 2))
        self.device_runs = [dict(r) for r in _rows(db, "SELECT * FROM device_runs ORDER BY sim_end_h")]
        self.layout = self._layout(db)

    def _layout(self, db: sqlite3.Connection) -> dict[str, Any]:
        """Stations in the order cells first reach them; edges from consecutive visits."""
        first: dict[str, float] = {}
        edges: set[tuple[str, str]] = set()
        prev: dict[int, str] = {}
        for r in _rows(db, "SELECT cell_id, station, t_arrive_h FROM visits WHERE replication = 0 "
                           "ORDER BY cell_id, t_arrive_h"):
            first[r["station"]] = min(first.get(r["station"], math.inf), r["t_arrive_h"])
            p = prev.get(r["cell_id"])
            if p is not None and p != r["station"]:
                edges.add((p, r["station"]))
            prev[r["cell_id"]] = r["station"]
        names = sorted(first, key=first.__getitem__)
        names += [n for n in (self.summary.get("utilisation") or {}) if n not in names]
        names += [n for n in self.states if n not in names]
        servers = {n: max((sum(lv) for _, lv in self.states.get(n, [])), default=1) for n in names}
        return {"stations": [{"name": n, "kind": "", "servers": servers[n], "buffer_capacity": None} for n in names],
                "edges": [list(e) for e in sorted(edges)]}

    # --- frames ----------------------------------------------------------------------
    def counts(self, t_h: float) -> dict[str, Any]:
        done = self.t_out <= t_h
        window = (self.t_out >= self.warmup_h) & done
        accepted = int(np.sum(self.accepted & window))
        rejected = int(np.sum(self.rejected & window))
        first_pass = int(np.sum(self.accepted & window & ~self.reworked))
        departed = accepted + rejected
        span = t_h - self.warmup_h
        return {
            "cells_started": int(np.sum((self.t_in >= self.warmup_h) & (self.t_in <= t_h))),
            "cells_accepted": accepted, "cells_rejected": rejected,
            "cells_reworked": int(np.sum(self.reworked & window)),
            "wip": int(np.sum((self.t_in <= t_h) & ~done)),
            "quarantined": int(np.sum(self.quarantined & done)), "in_warmup": t_h < self.warmup_h,
            "throughput_per_h": _num(accepted / span) if span > 0 else None,
            "first_pass_yield": _num(first_pass / departed) if departed else None,
            "final_yield": _num(accepted / departed) if departed else None,
        }

    def _make_series(self) -> dict[str, list]:
        grid = np.linspace(0.0, self.end_h, SERIES_POINTS + 1)[1:]
        out: dict[str, list] = {"t_h": [], "throughput_per_h": [], "final_yield": [], "first_pass_yield": [],
                                "wip": []}
        for t in grid:
            c = self.counts(float(t))
            out["t_h"].append(round(float(t), 5))
            for k in ("throughput_per_h", "final_yield", "first_pass_yield", "wip"):
                out[k].append(c[k])
        return out

    def _stations(self, t_h: float) -> list[dict[str, Any]]:
        out = []
        for st in self.layout["stations"]:
            rows = self.states.get(st["name"], [])
            i = bisect.bisect_right([r[0] for r in rows], t_h) - 1
            levels = rows[i][1] if i >= 0 else (0, 0, st["servers"], 0, 0)
            lv = self.levels.get(st["name"], [])
            j = bisect.bisect_right([r[0] for r in lv], t_h) - 1
            out.append({"name": st["name"], "levels": dict(zip(STATE_NAMES, levels)), "state": _dominant(levels),
                        "queue": lv[j][1] if j >= 0 else 0})
        return out

    def _cells(self, t_h: float) -> list[dict[str, Any]]:
        n = bisect.bisect_right(self.out_sorted, t_h)
        out = []
        for i in reversed(self.by_out[max(0, n - LAST_CELLS):n]):
            c = self.cells[i]
            decision = {"accepted": "accept", "rejected": "reject"}.get(c["outcome"])
            out.append({"id": c["cell_id"], "lot": c["lot"], "outcome": c["outcome"], "reason": c["reason"],
                        "quarantined": bool(c["quarantined"]), "reworks": c["reworks"], "t_out_h": _num(c["t_out_h"]),
                        **{k: _num(c.get(k)) for k in SURFACE}, "pressure_mpa": _num(c["pressure_mpa"]),
                        "pressure_cv": _num(c["pressure_cv"]), "temperature_c": _num(c["temperature_c"]),
                        "hold_s": _num(c["hold_s"]), **{k: _num(c.get(k)) for k in QUALITY},
                        "decision": decision, "press": c["press_station"], "wall": 0})
        return out

    def _devices(self, t_h: float) -> dict[str, Any]:
        hw = self.summary.get("hardware") or {}
        out = {}
        for name, d in (hw.get("devices") or {}).items():
            runs = [r for r in self.device_runs if r["station"] == name and (r["sim_end_h"] or 0) <= t_h]
            out[name] = {"device": d.get("device"), "connected": None, "calls": d.get("calls"),
                         "timeouts": d.get("timeouts"), "reconnects": d.get("reconnects"),
                         "restarts": d.get("restarts"), "call_ms": d.get("call_ms_p95"), "state": None,
                         "faults": sorted({r["problem"] for r in runs if not r["ok"] and r["problem"]}),
                         "runs": len(runs), "quarantined": sum(not r["ok"] for r in runs)}
        return out

    def meta(self) -> dict[str, Any]:
        return {"mode": "replay", "scenario": self.title, "start_h": 0.0, "end_h": self.end_h,
                "warmup_h": self.warmup_h, "replications": self.summary.get("replications")}

    def frame(self, t_h: float) -> dict[str, Any]:
        t = min(max(float(t_h), 0.0), self.end_h) if math.isfinite(t_h) else self.end_h
        n = bisect.bisect_right(self._series["t_h"], t + 1e-9)
        events = [{"wall": r["wall_end"] or 0, "kind": "quarantine", "severity": "error",
                   "text": f"{r['station']} run {r['run_id'] or r['job_id']} quarantined: {r['problem']}"}
                  for r in self.device_runs if not r["ok"] and (r["sim_end_h"] or 0) <= t]
        return {
            "meta": {"mode": "replay", "scenario": self.title, "duration_h": self.end_h, "warmup_h": self.warmup_h,
                     "running": False, "finished": t >= self.end_h, "t_h": _num(t, 5), "pace": 0, "final": None},
            "line": {**self.layout, "states": self._stations(t)},
            "counts": self.counts(t),
            "series": {"epoch": 0, "from": 0, **{k: v[:n] for k, v in self._series.items()}},
            "cells": self._cells(t),
            "presses": self.traces,
            "devices": self._devices(t),
            "clock": {},
            "events": events[-40:],
        }
