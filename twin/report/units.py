"""Units and short labels for axes and tables.

KPIs take their unit from the KPI catalog (twin.kpis). Every other quantity in this project
carries its unit in its name (`hold_s`, `pressure_mpa`, `r_int_ohm_cm2`); this module turns that
rule into axis titles, with counts, fractions and money (in the run's currency) named once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# name suffix -> unit, longest first so `_ma_cm2` wins over `_cm2`
SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_ohm_cm2", "Ω·cm²"),
    ("_ma_cm2", "mA/cm²"),
    ("_per_h", "1/h"),
    ("_mpa", "MPa"),
    ("_ppm", "ppm"),
    ("_um", "µm"),
    ("_mm", "mm"),
    ("_s", "s"),
    ("_h", "h"),
    ("_c", "°C"),
)
FRACTION_UNIT = "fraction, 0–1"
COUNT_UNIT = "cells"
# names without a unit suffix whose value is a share of 1
FRACTION_NAMES = ("yield", "fraction", "utilisation", "availability", "blocked", "starved", "busy", "down",
                  "off_shift", "p_short", "cv")
PER_CELL_COUNTS = ("cells_", "wip_start", "wip_end", "rejects")


def leaf(name: str) -> str:
    """The last dotted segment: `yield_by_press.wip_press` -> `wip_press`, `stations.a.hold_s` -> `hold_s`."""
    return name.rsplit(".", 1)[-1]


STAT_SUFFIXES = ("_min", "_max", "_mean", "_low", "_high")


GENERIC_LEAVES = ("mean", "value", "low", "high", "mode", "sd", "min", "max", "spec")


def param_label(path: str) -> str:
    """A scenario path for a tick label: its last segment, or the last two when the last is generic
    (`source.interarrival_h.mean` -> `interarrival_h.mean`)."""
    parts = path.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 and parts[-1] in GENERIC_LEAVES else parts[-1]


def is_fraction(name: str) -> bool:
    """Whether a KPI or column is a share of 1 (a yield, utilisation, contact fraction, probability...)."""
    kpi = catalog_kpi(name)
    if kpi is not None:
        return kpi.share
    head = name.split(".", 1)[0]
    base = leaf(name)
    for suffix in STAT_SUFFIXES:
        base = base.removesuffix(suffix)
    for part in (head, base):
        if any(part == f or part.endswith("_" + f) or part.startswith(f + "_") for f in FRACTION_NAMES):
            return True
    return False


def is_count(name: str) -> bool:
    return name.startswith(PER_CELL_COUNTS) or name in ("mean_wip", "waiting", "wip")


def is_cost(name: str) -> bool:
    return name.startswith("cost") or ".cost" in name


def catalog_kpi(name: str):
    """The KPI catalog's definition of a KPI name (twin.kpis, the one parser), None for other names."""
    from twin.kpis import KpiError, parse_kpi

    try:
        return parse_kpi(name).definition
    except KpiError:
        return None


def unit_of(name: str, currency: str | None = None) -> str:
    """The unit of a KPI (from the KPI catalog), a column or a scenario path (from its name), '' when
    the name tells none."""
    kpi = catalog_kpi(name)
    if kpi is not None:
        if kpi.unit == "currency":
            return f"{currency or 'currency not recorded'} per good cell"
        return FRACTION_UNIT if kpi.share else kpi.unit
    if is_cost(name):
        money = currency or "currency not recorded"
        return f"{money} per good cell" if "per_good_cell" in name or name.startswith("cost_breakdown") else money
    if is_count(name):
        return COUNT_UNIT
    base = leaf(name)
    for suffix, unit in SUFFIX_UNITS:
        if base.endswith(suffix):
            return unit
    if is_fraction(name):
        return FRACTION_UNIT
    if base in ("servers", "capacity_cells", "replications", "max_reworks", "min_cells"):
        return "count"
    return ""


def bounds_of(name: str) -> tuple[float, float]:
    """Physical range of a KPI's value (for cutting intervals): [0, 1] for fractions, >= 0 for counts,
    times, rates and money, unbounded otherwise."""
    if is_fraction(name):
        return 0.0, 1.0
    if catalog_kpi(name) is not None:  # every KPI of the catalog is a count, rate, time or cost: never negative
        return 0.0, math.inf
    if is_count(name) or is_cost(name) or unit_of(name) in ("h", "s", "cells/h", "1/h", "MPa", "µm", "mm"):
        return 0.0, math.inf
    return -math.inf, math.inf


def axis_title(name: str, currency: str | None = None, label: str | None = None, numeric: bool = True) -> str:
    """`final_yield (fraction, 0–1)`, `hold_s (s)`: the name (or label) and its unit in brackets.

    A numeric quantity whose name carries no unit is dimensionless by the naming rule (`sdq`,
    `hotspot_factor`) and says so; a categorical axis (a press spec file) gets its name only."""
    text = label or name
    unit = unit_of(name, currency) or ("dimensionless" if numeric else "")
    return f"{text} ({unit})" if unit else text


def short_value(value: Any, limit: int = 24) -> str:
    """A grid value for a tick label: a file path by its stem, long text cut with an ellipsis."""
    if isinstance(value, str) and ("/" in value or value.endswith((".yaml", ".yml", ".json"))):
        text = Path(value).stem
    elif isinstance(value, float):
        text = f"{value:.6g}" if math.isfinite(value) else str(value)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
