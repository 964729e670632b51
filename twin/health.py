"""Line health: is the run's answer trustworthy, and is the line itself sound?

Per replication (`replication_health`, from the recorder's WIP bins and the stations' state
at the end):
- jam: no cell moved for a long stretch while a cycle of stations sits with full buffers and
  no server working (a circular wait, e.g. a rework loop with finite buffers on both sides);
  the cycle's stations and their buffers are named;
- WIP trend: least-squares slope of WIP batch means over the window, its t statistic and
  the rise it implies over the window;
- MSER-5 truncation point (White 1997; batch means of 5 bins) over the whole run, the
  warm-up `warmup_h: auto` uses (detected on a pilot replication run with no warm-up).

Across replications (`summarise_health`, into summary.json `health`): an overload warning when
the arrival rate exceeds the bottleneck's capacity (traffic equations on the routing, servers
x availability x shift share / mean service time) or when most replications show a WIP trend;
a warning when the replications are too few or too short for the 95% intervals they report
(fewer than 3; with no warm-up, the window's first 5% further from the reported mean WIP than its
95% half-width, a start-up transient inside the intervals; batch means still strongly correlated).
A warm-up that is too short but not zero is not flagged (MSER-5 on noise finds transients too often).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from twin.scenario import Scenario
    from twin.stations.base import Station

BINS = 1000  # WIP bins over [0, duration]
SERIES = 200  # coarse WIP series per replication kept in its health record (averaged across replications)
PILOTS = 5  # pilot replications of `warmup_h: auto`
TREND_BATCHES = 20
TREND_T = 5.0  # t statistic of the WIP slope that counts as a trend
TREND_RISE = 0.5  # ... with a rise over the window of at least this share of the mean WIP
JAM_QUIET_SHARE = 0.1  # no movement for this share of the window (and a blocked cycle) is a jam
MSER_BATCH = 5
START_SHARE = 0.05  # the start of the window compared with the window's mean
EXIT_JAM = 4


class LevelBins:
    """Time averages of a piecewise-constant level over equal bins of [0, horizon]."""

    __slots__ = ("width", "area", "level", "last", "n")

    def __init__(self, horizon_h: float, n: int = BINS):
        self.n = n
        self.width = horizon_h / n
        self.area = [0.0] * n
        self.level = 0.0
        self.last = 0.0

    def add(self, now: float, delta: float) -> None:
        self._advance(now)
        self.level += delta

    def _advance(self, now: float) -> None:
        t, lvl, w = self.last, self.level, self.width
        if lvl and now > t:
            i = int(t / w)
            while t < now and i < self.n:
                end = min(now, (i + 1) * w)
                self.area[i] += lvl * (end - t)
                t = end
                i += 1
        self.last = max(self.last, now)

    def means(self, now: float) -> np.ndarray:
        """Mean level of each bin that ended by `now`."""
        self._advance(now)
        done = min(self.n, int(now / self.width + 1e-9))
        return np.asarray(self.area[:done]) / self.width


def mser(y: np.ndarray, batch: int = MSER_BATCH) -> int:
    """MSER-`batch` truncation: observations to delete (a multiple of `batch`), searched over
    the first half: argmin_d sum((Y_i - mean(Y_d:))^2) / (k - d)^2 on batch means Y."""
    k = len(y) // batch
    if k < 4:
        return 0
    means = y[: k * batch].reshape(k, batch).mean(axis=1)
    best, best_d = math.inf, 0
    for d in range(k // 2 + 1):
        rest = means[d:]
        stat = float(((rest - rest.mean()) ** 2).sum()) / (len(rest) ** 2)
        if stat < best:
            best, best_d = stat, d
    return best_d * batch


def wip_trend(bins: np.ndarray, width_h: float) -> dict[str, float]:
    """Slope (cells/h) of WIP batch means, its t statistic, the rise over the window, lag-1
    autocorrelation of the batch means."""
    k = TREND_BATCHES
    n = len(bins) // k
    if n < 1:
        return {"slope_per_h": math.nan, "t": math.nan, "rise": math.nan, "mean": math.nan, "lag1": math.nan}
    y = bins[: n * k].reshape(k, n).mean(axis=1)
    t = (np.arange(k) + 0.5) * n * width_h
    slope, intercept = np.polyfit(t, y, 1)
    resid = y - (slope * t + intercept)
    se = math.sqrt(float((resid ** 2).sum()) / (k - 2) / float(((t - t.mean()) ** 2).sum()))
    tstat = slope / se if se > 0 else (math.inf if slope > 0 else 0.0)
    yc = y - y.mean()
    lag1 = float((yc[1:] * yc[:-1]).sum() / (yc ** 2).sum()) if (yc ** 2).sum() > 0 else 0.0
    return {"slope_per_h": float(slope), "t": float(tstat), "rise": float(slope * (t[-1] - t[0])),
            "mean": float(y.mean()), "lag1": lag1}


def find_jam(stations: Mapping[str, "Station"]) -> list[str]:
    """A cycle of stations with full buffers and no server working (a circular wait), or []."""
    stuck = {}
    for name, st in stations.items():
        slots = st.slots
        if slots is None or slots.count < slots.capacity or st.state.busy > 0:
            continue
        targets = [getattr(t, "name", "") for t in getattr(st.router, "_targets", [])]
        targets += [getattr(t, "name", "") for t in getattr(st, "targets", {}).values()]
        stuck[name] = [t for t in targets if t in stations]
    for start in stuck:  # depth-first search for a cycle among stuck stations
        path, seen = [start], {start}
        stack = [iter(stuck[start])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                seen.discard(path.pop())
                continue
            if nxt == start:
                return path
            if nxt in stuck and nxt not in seen:
                path.append(nxt)
                seen.add(nxt)
                stack.append(iter(stuck[nxt]))
    return []


def describe_jam(cycle: Sequence[str], stations: Mapping[str, "Station"]) -> str:
    parts = []
    for name in cycle:
        st = stations[name]
        cap = st.cfg.buffer_capacity
        held = f"{st.slots.count}/{st.slots.capacity}" if st.slots is not None else "?"
        parts.append(f"{name} (places held {held}, buffer capacity {cap}, "
                     f"servers blocked {st.state.blocked}/{st.cfg.servers})")
    return " -> ".join(parts) + f" -> {cycle[0]}"


def replication_health(now: float, warmup_h: float, bins: LevelBins, last_progress_h: float, wip: int,
                       stations: Mapping[str, "Station"]) -> dict[str, Any]:
    """One replication's health record (kpis['health'])."""
    y = bins.means(now)
    first = min(len(y), int(warmup_h / bins.width + 1e-9))
    coarse = y[: len(y) // (BINS // SERIES) * (BINS // SERIES)].reshape(-1, BINS // SERIES).mean(axis=1)
    out: dict[str, Any] = {"wip_series": [float(f"{v:.4g}") for v in coarse],
                           "wip_trend": wip_trend(y[first:], bins.width), "jam": None}
    quiet = now - last_progress_h
    if wip > 0 and quiet >= JAM_QUIET_SHARE * max(now - warmup_h, 0.0):
        cycle = find_jam(stations)
        if cycle:
            out["jam"] = {"stations": cycle, "since_h": last_progress_h, "cells_held": wip,
                          "message": describe_jam(cycle, stations)}
    return out


def detect_warmup(s: "Scenario", seed: int) -> "Scenario":
    """The scenario with `warmup_h: auto` resolved: MSER-5 on the WIP of a pilot replication
    (index 0, no warm-up, the run's seed), capped at half the run; others unchanged."""
    if not s.run.warmup_auto:
        return s
    from twin.replication import run_replication

    pilot = s.model_copy(update={"run": s.run.model_copy(update={"warmup_h": 0.0, "warmup_auto": False,
                                                                  "timeline_h": 0.0})})
    pilot._resolved = s.resolved
    series = [run_replication(pilot, i, seed, keep_visits=False, keep_cells=False).kpis["health"]["wip_series"]
              for i in range(min(PILOTS, s.run.replications))]
    warmup = min(series_mser_h(series, s.run.duration_h, 0.0), 0.5 * s.run.duration_h)
    out = s.model_copy(update={"run": s.run.model_copy(update={"warmup_h": warmup, "warmup_auto": False})})
    out._resolved = s.resolved
    return out


# --- across replications and against the scenario -------------------------------------------

def _visit_ratios(s: "Scenario") -> dict[str, float]:
    """Mean visits per released cell at each station (traffic equations on the routing; an
    inspection's rework share from its fixed probabilities)."""
    names = list(s.stations)
    idx = {n: i for i, n in enumerate(names)}
    p = np.zeros((len(names), len(names)))
    for n, st in s.stations.items():
        nxt = getattr(st, "next", None)
        routes = [(nxt, 1.0)] if isinstance(nxt, str) else [(r.to, r.p) for r in nxt] if nxt else []
        fixed: Any = getattr(st, "fixed", None)
        cfg: Any = st
        if hasattr(cfg, "on_rework"):
            pr = fixed.p_rework if fixed is not None else 0.0
            pa = fixed.p_accept if fixed is not None else 1.0
            routes = [(cfg.on_accept, pa), (cfg.on_rework, pr), (cfg.on_reject, max(0.0, 1 - pa - pr))]
        for to, prob in routes:
            if to in idx:
                p[idx[n], idx[to]] += prob
    e = np.zeros(len(names))
    e[idx[s.source.first]] = 1.0
    try:
        v = np.linalg.solve(np.eye(len(names)) - p.T, e)
    except np.linalg.LinAlgError:
        return {}
    return {n: float(v[i]) for n, i in idx.items()}


def capacities(s: "Scenario") -> dict[str, float]:
    """Cells per hour each station can do (servers x cells per cycle x availability x shift
    share / mean service time); stations whose service time is set by press physics are left out."""
    out = {}
    for n, st in s.stations.items():
        dist = getattr(st, "process_time_h", None)
        try:
            mean = float(dist.mean_value) if dist is not None else math.nan
        except (TypeError, ValueError):
            mean = math.nan
        if not mean > 0:
            continue
        batch = getattr(st, "batch", None)
        per_cycle = batch.capacity_cells if batch is not None else 1
        share = 1.0
        if st.breakdowns is not None:
            mttr = float(st.breakdowns.mttr_h.mean_value)
            share *= st.breakdowns.mtbf_h / (st.breakdowns.mtbf_h + mttr)
        if st.shifts is not None:
            share *= sum(b - a for a, b in st.shifts.windows_h) / st.shifts.period_h
        out[n] = st.servers * per_cycle * share / mean
    return out


def overload(s: "Scenario") -> dict[str, Any] | None:
    """The bottleneck and its load when the arrival rate exceeds its capacity, else None."""
    if s.source.max_cells is not None:
        return None
    try:
        rate = 1.0 / float(s.source.interarrival_h.mean_value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    visits, caps = _visit_ratios(s), capacities(s)
    loads = {n: rate * visits[n] / c for n, c in caps.items() if n in visits and c > 0}
    if not loads:
        return None
    worst = max(loads, key=lambda n: loads[n])
    if loads[worst] < 1.0:
        return None
    return {"station": worst, "load": loads[worst], "arrival_rate_per_h": rate,
            "capacity_per_h": caps[worst] / visits[worst]}


def series_mser_h(series: Sequence[Sequence[float]], duration_h: float, start_h: float) -> float:
    """MSER-5 truncation (hours after `start_h`) of the replications' mean WIP series."""
    if not series:
        return 0.0
    return mser(_window(series, duration_h, start_h)) * (duration_h / SERIES)


def _window(series: Sequence[Sequence[float]], duration_h: float, start_h: float) -> np.ndarray:
    """The replications' mean WIP series from `start_h` on (SERIES bins over `duration_h`)."""
    n = min(len(x) for x in series)
    y = np.mean([np.asarray(x[:n], dtype=float) for x in series], axis=0)
    first = min(n, int(math.ceil(start_h / (duration_h / SERIES) - 1e-9)))
    return y[first:]


def start_bias(series: Sequence[Sequence[float]], duration_h: float, start_h: float) -> float:
    """Mean WIP (across replications) of the window's first START_SHARE minus the window's mean:
    how far the start of the window sits from the level the run reports."""
    if not series:
        return 0.0
    window = _window(series, duration_h, start_h)
    skip = max(1, int(round(START_SHARE * len(window))))
    if len(window) <= skip:
        return 0.0
    return float(window[:skip].mean() - window.mean())


def summarise_health(s: "Scenario", reps: Sequence[dict], ci95_wip: float) -> dict[str, Any]:
    """summary.json `health`: jams, overload, warm-up and replication warnings."""
    records = [r.get("health") or {} for r in reps]
    warnings: list[str] = []
    jams = [dict(rec["jam"], replication=i) for i, rec in enumerate(records) if rec.get("jam")]
    for j in jams:
        warnings.append(f"jam in replication {j['replication']}: no cell moved since {j['since_h']:.1f} h with "
                        f"{j['cells_held']} cells held; circular wait {j['message']}")
    analytic = overload(s)
    trends = [rec["wip_trend"] for rec in records if rec.get("wip_trend")]
    trending = [t for t in trends if t["t"] > TREND_T and t["rise"] > TREND_RISE * max(t["mean"], 1.0)]
    growing = bool(trends) and len(trending) * 2 > len(trends)
    if analytic is not None:
        warnings.append(f"overloaded: arrivals {analytic['arrival_rate_per_h']:.4g}/h exceed the capacity of "
                        f"{analytic['station']} ({analytic['capacity_per_h']:.4g}/h, load {analytic['load']:.3g}); "
                        "WIP and cycle time grow with the run length and are not steady-state values")
    elif growing:
        warnings.append(f"WIP grows through the window in {len(trending)} of {len(trends)} replications "
                        f"(slope {np.mean([t['slope_per_h'] for t in trending]):.3g} cells/h): the line looks "
                        "overloaded or not yet in steady state")
    n = len(reps)
    run = s.run
    window = run.duration_h - run.warmup_h
    series = [rec["wip_series"] for rec in records if rec.get("wip_series")]
    transient = series_mser_h(series, run.duration_h, run.warmup_h)
    lag1 = [t["lag1"] for t in trends if math.isfinite(t["lag1"])]
    if n < 3:
        warnings.append(f"{n} replication(s): the 95% intervals rest on {max(n - 1, 0)} degree(s) of freedom; "
                        "use at least 3 (5 or more for expect: evidence ci95)")
    bias = start_bias(series, run.duration_h, run.warmup_h)
    if (analytic is None and math.isfinite(ci95_wip) and ci95_wip > 0 and run.warmup_h == 0
            and abs(bias) > ci95_wip):
        suggest = max(transient, START_SHARE * window) + run.warmup_h
        warnings.append(f"the first {START_SHARE:.0%} of the window sits {bias:+.3g} cells from the mean WIP it "
                        f"reports, more than its 95% half-width ({ci95_wip:.3g}): a start-up transient is in the "
                        f"window and the intervals may miss the steady-state mean; set warmup_h >= {suggest:.3g} "
                        "(or warmup_h: auto) or run longer")
    elif analytic is None and lag1 and float(np.median(lag1)) > 0.5:
        warnings.append(f"WIP batch means over the window are still correlated (lag-1 {float(np.median(lag1)):.2f}): "
                        "the runs are short for the system's time scale; run longer for trustworthy intervals")
    return {"jams": jams, "overload": analytic, "wip_trend_replications": len(trending),
            "mser_warmup_h": series_mser_h(series, run.duration_h, 0.0), "transient_after_warmup_h": transient,
            "warnings": warnings}
