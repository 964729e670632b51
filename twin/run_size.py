"""How big a run is before it starts: an estimate of the simulation events a scenario asks for,
so a run that cannot finish (a duration of 1e9 h, 1e9 replications, a release every 1e-300 h,
a billion servers) is refused at validation with the fields that make it big, unless the
scenario opts in with `run.allow_long_run: true`.

The estimate is deliberately generous (it refuses only what would take hours of CPU): every
released cell costs about EVENTS_PER_VISIT events at each station on its route (plus rework
loops), every breakdown and shift window a few, over all replications. A SimPy line does
roughly 1e5-1e6 events per CPU second, so MAX_EVENTS is an hour or more of CPU; the longest
legitimate test (an 8,000 h tandem, ~1e8 events) is ten times below it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from twin.scenario import Scenario

MAX_EVENTS = 2e9
MAX_SERVERS_TOTAL = 100_000  # SimPy processes built before the first event
EVENTS_PER_VISIT = 6.0
# a replication's fixed cost (building the line and its streams, committing its records) in
# event-equivalents: about 10 ms of CPU, what 1e4-1e5 events cost; 1e6 short replications take hours
EVENTS_PER_REPLICATION = 2e4
REWORK_FACTOR = 3.0
LONG_DURATION_H = 1e5  # 11 years: beyond it the duration is what makes a run too big  # a rework loop may send a cell through part of the line again


def _mean(dist: Any) -> float:
    try:
        value = float(dist.mean_value)
    except (TypeError, AttributeError, ValueError):
        return math.nan
    return value


def estimate(s: "Scenario") -> dict[str, float]:
    """Expected cells released per replication, events per replication and in total."""
    run = s.run
    gap = _mean(s.source.interarrival_h)
    cells = run.duration_h / gap if gap > 0 else math.inf
    if s.source.max_cells is not None:
        cells = min(cells, float(s.source.max_cells))
    stations = len(s.stations)
    reworks = any(getattr(st, "on_rework", None) not in (None, "scrap", "sink") for st in s.stations.values())
    events = cells * stations * EVENTS_PER_VISIT * (REWORK_FACTOR if reworks else 1.0)
    for st in s.stations.values():
        if st.breakdowns is not None:
            events += 4.0 * run.duration_h / st.breakdowns.mtbf_h * st.servers
        if st.shifts is not None:
            events += 4.0 * run.duration_h / st.shifts.period_h * len(st.shifts.windows_h) * st.servers
    for res in s.resources.values():
        events += 2.0 * run.duration_h * res.antechamber_cycles_per_h
        if res.leak_mtbf_h:
            events += 4.0 * run.duration_h / res.leak_mtbf_h
    return {"cells_per_replication": cells, "events_per_replication": events,
            "events": (events + EVENTS_PER_REPLICATION) * run.replications}


def problems(s: "Scenario") -> Iterator[tuple[str, str]]:
    """The fields that make a run too big to finish (none with `run.allow_long_run`)."""
    servers = sum(st.servers for st in s.stations.values()) + sum(r.capacity for r in s.resources.values())
    if servers > MAX_SERVERS_TOTAL:
        biggest = max(s.stations, key=lambda n: s.stations[n].servers)
        yield f"stations.{biggest}.servers", (f"{servers} servers in all exceed {MAX_SERVERS_TOTAL} (each is a "
                                              "process in memory)")
    if s.run.allow_long_run:
        return
    est = estimate(s)
    if not est["events"] <= MAX_EVENTS:
        per = est["cells_per_replication"]
        why = (f"about {est['events']:.3g} simulation events ({per:.3g} cells per replication x "
               f"{s.run.replications} replication(s)) exceed {MAX_EVENTS:.0e}, hours of CPU or more. "
               "Shorten the run, or set run.allow_long_run to true")
        if s.run.replications > 1 and est["events_per_replication"] + EVENTS_PER_REPLICATION <= MAX_EVENTS:
            yield "run.replications", why
        elif s.run.duration_h > LONG_DURATION_H:
            yield "run.duration_h", why
        else:
            yield "source.interarrival_h", why
