"""Plot building blocks every figure uses: a figure record, safe statistics of columns that may be
empty, constant or all-NaN, intervals clipped to their physical range, integer ticks for integer
axes. plotly is imported here, lazily, only when a report is made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.report.data import num

MAX_BINS = 60
MAX_LINE_POINTS = 4000
FEW_TICKS = 15
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
STATE_COLOURS = {"busy": "#2ca02c", "blocked": "#ff7f0e", "starved": "#1f77b4", "down": "#d62728",
                 "off_shift": "#7f7f7f"}


@dataclass
class Figure:
    """One figure of a report: a plotly figure, or only a note saying why there is none."""

    name: str
    title: str
    plot: Any = None
    note: str = ""
    section: str = ""
    failed: bool = False  # the builder raised: the page says so and the test suite treats it as a bug


def go() -> Any:
    import plotly.graph_objects as go_module

    return go_module


def new_figure(height: int = 380, **layout: Any) -> Any:
    """A blank figure with the report's look (white template, compact margins, hover on x)."""
    fig = go().Figure()
    fig.update_layout(template="plotly_white", height=height, margin=dict(l=70, r=30, t=40, b=60),
                      legend=dict(orientation="h", y=-0.2), **layout)
    return fig


def finite(values: Any) -> np.ndarray:
    """The finite floats among `values` (None, NaN, inf and text dropped)."""
    a = np.asarray(_floats(values), dtype=float)
    return a[np.isfinite(a)]


def _floats(values: Any) -> list[float]:
    out = []
    for v in np.asarray(values, dtype=object).ravel() if values is not None else ():
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return out


def clipped_errors(means: Sequence[Any], halfwidths: Sequence[Any], low: float = -math.inf,
                   high: float = math.inf) -> tuple[list[float], list[float]]:
    """Plus and minus error bar lengths of mean ± hw cut at [low, high] (a yield never exceeds 1)."""
    plus, minus = [], []
    for m, h in zip(means, halfwidths):
        m, h = num(m), num(h)
        if not (math.isfinite(m) and math.isfinite(h)) or h < 0:
            plus.append(0.0)
            minus.append(0.0)
            continue
        plus.append(max(0.0, min(m + h, high) - m))
        minus.append(max(0.0, m - max(m - h, low)))
    return plus, minus


def nice_step(span: float, target: int = 6) -> float:
    """A 1-2-5 step giving about `target` ticks over `span`."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def integer_axis(values: Iterable[Any]) -> dict[str, Any]:
    """Axis settings for an integer quantity: ticks only at integers (never 2.5 servers)."""
    ints = sorted({int(v) for v in finite(list(values)) if float(v).is_integer()})
    if not ints:
        return {"tickformat": "d", "dtick": 1}
    if len(ints) <= FEW_TICKS:
        return {"tickmode": "array", "tickvals": ints, "ticktext": [str(i) for i in ints]}
    return {"tickformat": "d", "tickmode": "linear", "dtick": max(1, int(nice_step(ints[-1] - ints[0])))}


def count_axis(max_count: float) -> dict[str, Any]:
    """A y axis of counts: integer ticks from zero."""
    top = max(1.0, num(max_count) if math.isfinite(num(max_count)) else 1.0)
    return {"tickformat": "d", "tickmode": "linear", "tick0": 0, "dtick": max(1, int(nice_step(top))),
            "rangemode": "tozero"}


def histogram(values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Bin centres, counts and widths of the finite values; one bar for a constant column, None for no data.

    numpy's automatic bin rule fails on near-constant data ("Too many bins for data range"); the
    bins here come from the data's own spread and never exceed MAX_BINS."""
    x = finite(values)
    if x.size == 0:
        return None
    lo, hi = float(x.min()), float(x.max())
    span = hi - lo
    if span <= max(abs(lo), abs(hi), 1e-300) * 1e-9:
        width = max(abs(lo) * 0.02, 1e-12)
        return np.array([lo]), np.array([x.size]), np.array([width])
    n_unique = np.unique(x).size
    bins = int(min(MAX_BINS, max(1, n_unique), max(5, math.ceil(2 * x.size ** (1 / 3)))))
    counts, edges = np.histogram(x, bins=bins, range=(lo, hi))
    return (edges[:-1] + edges[1:]) / 2, counts, np.diff(edges)


def box_stats(values: Any) -> dict[str, float] | None:
    """Quartiles, Tukey fences and mean of the finite values, for a precomputed plotly box."""
    x = finite(values)
    if x.size == 0:
        return None
    q1, med, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
    iqr = q3 - q1
    low = float(x[x >= q1 - 1.5 * iqr].min())
    high = float(x[x <= q3 + 1.5 * iqr].max())
    return {"q1": q1, "median": med, "q3": q3, "lowerfence": low, "upperfence": high, "mean": float(x.mean()),
            "n": int(x.size)}


def thin(n: int, limit: int = MAX_LINE_POINTS) -> slice:
    """A stride that keeps at most `limit` of `n` points."""
    return slice(None, None, max(1, math.ceil(n / limit)))


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]
