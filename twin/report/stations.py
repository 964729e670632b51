"""The equipment view: utilisation per station, shares of time in each state (busy, blocked,
starved, down, off-shift), a state Gantt over a window, and one press cycle's pressure trace."""

from __future__ import annotations

import math

import numpy as np

from twin.report.data import RunOutputs, mapping, num
from twin.report.plotting import STATE_COLOURS, Figure, clipped_errors, finite, go, new_figure, thin
from twin.report.units import FRACTION_UNIT

STATES = tuple(STATE_COLOURS)
MAX_GANTT_SEGMENTS = 20000


def utilisation(run: RunOutputs) -> Figure:
    """Busy share of each station's servers with its 95% interval (clipped to [0, 1])."""
    title = "Utilisation per station (mean ± 95% CI)"
    util = {k: num(v) for k, v in mapping(run.summary, "utilisation").items()}
    util = {k: v for k, v in util.items() if math.isfinite(v)}
    if not util:
        return Figure("utilisation", title, note="no station utilisation recorded in this run")
    ci = mapping(mapping(run.summary, "ci95"), "utilisation")
    names = list(util)
    plus, minus = clipped_errors([util[n] for n in names], [ci.get(n) for n in names], 0.0, 1.0)
    fig = new_figure(height=max(260, 40 * len(names) + 120))
    fig.add_trace(go().Bar(y=names, x=[util[n] for n in names], orientation="h", marker_color="#1f77b4",
                           error_x=dict(type="data", array=plus, arrayminus=minus, symmetric=False),
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_xaxes(title_text=f"utilisation, busy share of servers ({FRACTION_UNIT})", range=[0, 1.05])
    fig.update_yaxes(autorange="reversed", title_text="station")
    return Figure("utilisation", title, fig)


def state_shares(run: RunOutputs) -> Figure:
    """Stacked shares of server-time per state and station over the observation window."""
    title = "Station states: share of server-time (busy, blocked, starved, down, off-shift)"
    table = {st: {k: num(v) for k, v in shares.items()} for st, shares in mapping(run.summary, "station_states").items()
             if isinstance(shares, dict)}
    table = {st: v for st, v in table.items() if any(math.isfinite(x) for x in v.values())}
    if not table:
        return Figure("station_state_shares", title, note="station states not recorded in this run "
                                                          "(summary.json has no station_states)")
    names = list(table)
    fig = new_figure(height=max(280, 40 * len(names) + 140), barmode="stack")
    states = [s for s in STATES if any(s in v for v in table.values())]
    states += sorted({k for v in table.values() for k in v} - set(states))
    for state in states:
        x = [table[n].get(state, 0.0) for n in names]
        x = [v if math.isfinite(v) else 0.0 for v in x]
        fig.add_trace(go().Bar(y=names, x=x, name=state.replace("_", "-"), orientation="h",
                               marker_color=STATE_COLOURS.get(state),
                               hovertemplate=f"%{{y}} {state}: %{{x:.3f}}<extra></extra>"))
    fig.update_xaxes(title_text=f"share of server-time ({FRACTION_UNIT})", range=[0, 1.0])
    fig.update_yaxes(autorange="reversed", title_text="station")
    return Figure("station_state_shares", title, fig)


def state_gantt(run: RunOutputs) -> Figure:
    """The state of every server over the recorded window: one lane per server of each station."""
    title = "Station state Gantt over the recorded window (replication 0; one lane per server)"
    import pandas as pd

    table = run.trace.get("station_states")
    if table is None or not {"station", "t_h"} <= set(table.columns) or not len(table):
        return Figure("station_state_gantt", title, note="station state timeline not recorded in this run "
                                                         "(trace.sqlite has no station_states)")
    states = [s for s in STATES if s in table.columns]
    table = table.assign(t_h=pd.to_numeric(table["t_h"], errors="coerce"))
    table = table[np.isfinite(table["t_h"].to_numpy(dtype=float))]
    if "replication" in table.columns and table["replication"].notna().any():
        table = table[table["replication"] == table["replication"].min()]
    segments: dict[str, tuple[list, list, list]] = {s: ([], [], []) for s in states}
    lanes: list[str] = []
    end = float(table["t_h"].max()) if len(table) else 0.0
    for station, g in table.groupby("station", sort=False):
        g = g.sort_values("t_h")
        t = g["t_h"].to_numpy(dtype=float)
        raw = g[states].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        counts = np.nan_to_num(raw).clip(min=0).round().astype(int)
        servers = int(counts.sum(axis=1).max()) if len(counts) else 0
        names = [str(station)] if servers == 1 else [f"{station} #{k + 1}" for k in range(servers)]
        lanes += names
        stops = np.append(t[1:], max(end, t[-1]))
        for k, lane in enumerate(names):
            _lane_segments(lane, k, t, stops, counts, states, segments)
    total = sum(len(v[0]) for v in segments.values())
    if total == 0:
        return Figure("station_state_gantt", title, note="the station state timeline is empty in this run")
    fig = new_figure(height=max(300, 22 * len(lanes) + 140), barmode="overlay")
    for state, (on, base, width) in segments.items():
        if not on:
            continue
        keep = slice(None) if total <= MAX_GANTT_SEGMENTS else thin(len(on), MAX_GANTT_SEGMENTS * len(on) // total)
        fig.add_trace(go().Bar(y=on[keep], base=base[keep], x=width[keep], orientation="h",
                               name=state.replace("_", "-"), marker_color=STATE_COLOURS.get(state),
                               hovertemplate=f"%{{y}}: {state} from %{{base:.2f}} h for %{{x:.2f}} h<extra></extra>"))
    fig.update_xaxes(title_text="simulated time (h)")
    fig.update_yaxes(autorange="reversed", type="category", categoryorder="array", categoryarray=lanes)
    note = "" if total <= MAX_GANTT_SEGMENTS else f"Thinned to about {MAX_GANTT_SEGMENTS} of {total} segments."
    return Figure("station_state_gantt", title, fig, note)


def _lane_segments(lane: str, k: int, t: np.ndarray, stops: np.ndarray, counts: np.ndarray, states: list[str],
                   out: dict[str, tuple[list, list, list]]) -> None:
    """Server k of a station is in the state whose cumulative count first exceeds k (busy first)."""
    cum = np.cumsum(counts, axis=1)
    current, since = None, None
    for i in range(len(t)):
        idx = int(np.searchsorted(cum[i], k, side="right"))
        state = states[idx] if idx < len(states) else None
        if state != current:
            if current is not None and since is not None:
                _add(out, current, lane, since, t[i])
            current, since = state, t[i]
    if current is not None and since is not None:
        _add(out, current, lane, since, stops[-1])


def _add(out: dict[str, tuple[list, list, list]], state: str, lane: str, start: float, stop: float) -> None:
    if stop > start:
        lanes, bases, widths = out[state]
        lanes.append(lane)
        bases.append(float(start))
        widths.append(float(stop - start))


def press_traces(run: RunOutputs) -> list[Figure]:
    """One press cycle per press station: pressure (MPa) and temperature (°C) against time in the cycle."""
    title = "Press cycle: pressure and temperature"
    table = run.trace.get("press_traces")
    if table is None or not {"station", "t_s", "p_mpa"} <= set(table.columns) or not len(table):
        return [Figure("press_trace", title, note="press traces not recorded in this run "
                                                  "(trace.sqlite has no press_traces)")]
    from plotly.subplots import make_subplots

    out = []
    for i, (station, g) in enumerate(table.groupby("station", sort=False)):
        if "run_id" in g.columns and g["run_id"].notna().any():
            g = g[g["run_id"] == g["run_id"].dropna().iloc[0]]
        g = g.sort_values("t_s")
        t, p = g["t_s"].to_numpy(dtype=float), g["p_mpa"].to_numpy(dtype=float)
        name = f"press_trace_{i}"
        run_id = str(g["run_id"].iloc[0]) if "run_id" in g.columns and len(g) else ""
        head = f"{title} at {station}" + (f" (run {run_id})" if run_id else "")
        if finite(p).size == 0:
            out.append(Figure(name, head, note="this press trace has no pressure samples"))
            continue
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        fig.update_layout(template="plotly_white", height=380, margin=dict(l=70, r=70, t=30, b=60),
                          legend=dict(orientation="h", y=-0.25))
        keep = thin(len(t))
        fig.add_trace(go().Scatter(x=t[keep], y=p[keep], name="pressure", line=dict(color="#1f77b4"),
                                   hovertemplate="%{x:.0f} s: %{y:.4g} MPa<extra></extra>"), secondary_y=False)
        if "temp_c" in g.columns and finite(g["temp_c"]).size:
            fig.add_trace(go().Scatter(x=t[keep], y=g["temp_c"].to_numpy(dtype=float)[keep], name="temperature",
                                       line=dict(color="#d62728", dash="dot"),
                                       hovertemplate="%{x:.0f} s: %{y:.4g} °C<extra></extra>"), secondary_y=True)
            fig.update_yaxes(title_text="temperature (°C)", secondary_y=True, rangemode="tozero")
        if "phase" in g.columns:
            _shade_phases(fig, t, g["phase"].astype(str).to_numpy())
        fig.update_xaxes(title_text="time in cycle (s)")
        fig.update_yaxes(title_text="pressure (MPa)", secondary_y=False, rangemode="tozero")
        out.append(Figure(name, head, fig))
    return out


def phase_name(code: object) -> str:
    """A trace's phase code as the press names it (plant.press.PHASES), text phases unchanged."""
    from plant.press import PHASES

    try:
        i = int(float(str(code)))
    except (ValueError, OverflowError):
        return str(code)
    return PHASES[i] if 0 <= i < len(PHASES) else f"phase {i}"


def _shade_phases(fig, t: np.ndarray, phase: np.ndarray) -> None:
    """A labelled band per phase of the cycle (ramp, hold, release...)."""
    if not len(t):
        return
    phase = np.array([phase_name(p) for p in phase], dtype=object)
    starts = [0] + [i for i in range(1, len(phase)) if phase[i] != phase[i - 1]]
    for n, i in enumerate(starts):
        j = starts[n + 1] if n + 1 < len(starts) else len(t) - 1
        if math.isfinite(t[i]) and math.isfinite(t[j]) and t[j] > t[i]:
            fig.add_vrect(x0=float(t[i]), x1=float(t[j]), fillcolor="#7f7f7f" if n % 2 else "#c7c7c7",
                          opacity=0.12, line_width=0, annotation_text=str(phase[i]), annotation_position="top left")
