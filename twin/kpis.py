"""The KPI catalog: every KPI a run reports, with its unit and meaning, and the one parser
of KPI names that `expect:`, sweeps, studies, the report and the CLI use.

A KPI name is a scalar (`final_yield`) or a group and a member (`utilisation.wip_press`,
`yield_by_lot.cu_shiny`, `blocked.sealing`). `kpi_value` reads one from a replication's
KPIs or from a summary (the same layout), nan when absent."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class KpiDef:
    """One KPI (or KPI group) of the catalog."""

    name: str
    unit: str  # "" for dimensionless, "currency" for the cost model's currency
    description: str
    member: str | None = None  # what the part after the dot names: "station", "lot", "press station"
    share: bool = False  # a fraction in [0, 1] (yields, utilisations): intervals are clipped to it
    better: str | None = None  # "higher", "lower" or None
    integer: bool = False  # a count
    listed: bool = True  # shown in KPI tables and sweep tables (False: available by name only)


CATALOG: tuple[KpiDef, ...] = (
    KpiDef("cells_started", "cells", "cells released into the line in the observation window", integer=True),
    KpiDef("cells_accepted", "cells", "cells that left the line accepted", integer=True, better="higher"),
    KpiDef("cells_rejected", "cells", "cells that left the line rejected (scrap, quarantine)", integer=True,
           better="lower"),
    KpiDef("cells_reworked", "cells", "departed cells that were re-pressed at least once", integer=True),
    KpiDef("throughput_per_h", "cells/h", "accepted cells per hour of the window", better="higher"),
    KpiDef("departures_per_h", "cells/h", "cells that left the line (accepted or rejected) per hour", listed=False),
    KpiDef("first_pass_yield", "", "accepted without rework / departed", share=True, better="higher"),
    KpiDef("final_yield", "", "accepted / departed", share=True, better="higher"),
    KpiDef("mean_cycle_time_h", "h", "mean time from release to departure", better="lower"),
    KpiDef("mean_wip", "cells", "time-average number of cells in the line", better="lower"),
    KpiDef("cost_per_good_cell", "currency", "cost of the window per accepted cell", better="lower"),
    KpiDef("utilisation", "", "share of server-time busy", member="station", share=True),
    KpiDef("availability", "", "share of time the station is up", member="station", share=True, better="higher"),
    KpiDef("blocked", "", "share of server-time blocked by a full buffer downstream", member="station", share=True,
           better="lower"),
    KpiDef("starved", "", "share of server-time idle for want of work", member="station", share=True),
    KpiDef("yield_by_press", "", "final yield of the cells a press station pressed last", member="press station",
           share=True, better="higher"),
    KpiDef("yield_by_lot", "", "final yield of the cells of a collector lot", member="lot", share=True,
           better="higher"),
)
BY_NAME: dict[str, KpiDef] = {k.name: k for k in CATALOG}
SCALAR_KPIS: tuple[str, ...] = tuple(k.name for k in CATALOG if k.member is None and k.listed)
STATION_GROUPS: tuple[str, ...] = tuple(k.name for k in CATALOG if k.member == "station")
STATE_GROUPS = ("blocked", "starved")  # read from summary["station_states"][station][group]
MEMBER_GROUPS: tuple[str, ...] = tuple(k.name for k in CATALOG if k.member is not None)


class KpiError(ValueError):
    """A KPI name that is not in the catalog (or names a member that does not exist)."""


@dataclass(frozen=True)
class KpiRef:
    """A parsed KPI name."""

    name: str
    group: str  # the catalog entry
    member: str | None = None

    @property
    def definition(self) -> KpiDef:
        return BY_NAME[self.group]


def known_names() -> str:
    """The KPI names, for error messages."""
    groups = ", ".join(f"{k.name}.<{k.member}>" for k in CATALOG if k.member)
    return f"{', '.join(SCALAR_KPIS)}, {groups}"


def parse_kpi(name: str, stations: Iterable[str] | None = None, lots: Iterable[str] | None = None,
              press_stations: Iterable[str] | None = None) -> KpiRef:
    """Parse a KPI name; with the scenario's stations/lots given, members are checked too."""
    head, dot, tail = name.strip().partition(".")
    kpi = BY_NAME.get(head)
    if kpi is None or (kpi.member is None) != (not dot) or (dot and not tail):
        raise KpiError(f"unknown KPI '{name}' (one of {known_names()})")
    if kpi.member is None:
        return KpiRef(head, head)
    members = {"station": stations, "lot": lots, "press station": press_stations}[kpi.member]
    if members is not None and tail not in set(members):
        known = ", ".join(sorted(members)) or "none"
        raise KpiError(f"unknown {kpi.member} '{tail}' in KPI '{name}' (known: {known})")
    return KpiRef(name.strip(), head, tail)


def kpi_value(kpis: Mapping[str, Any], kpi: KpiRef | str) -> float:
    """The KPI's value in a replication's KPIs or a summary (nan when absent)."""
    ref = kpi if isinstance(kpi, KpiRef) else parse_kpi(kpi)
    if ref.member is None:
        value = kpis.get(ref.group, math.nan)
    elif ref.group in STATE_GROUPS:
        value = (kpis.get("station_states") or {}).get(ref.member, {}).get(ref.group, math.nan)
    else:
        value = (kpis.get(ref.group) or {}).get(ref.member, math.nan)
    return math.nan if value is None else float(value)


def kpi_halfwidth(summary: Mapping[str, Any], kpi: KpiRef | str) -> float:
    """The KPI's 95% half-width in a summary's `ci95` (nan when absent)."""
    return kpi_value(summary.get("ci95") or {}, kpi)


def unit_label(kpi: KpiRef | str, currency: str | None = None) -> str:
    """The KPI's unit for axes and tables (the cost model's currency for costs)."""
    ref = kpi if isinstance(kpi, KpiRef) else parse_kpi(kpi)
    unit = ref.definition.unit
    if unit == "currency":
        return f"{currency or 'currency'} per cell"
    return unit


def table_rows(summary: Mapping[str, Any]) -> list[tuple[str, float, float, str]]:
    """(KPI name, mean, 95% half-width, unit) of every KPI a summary holds, in catalog order:
    the one KPI table of the terminal and the report."""
    currency = summary.get("currency")
    rows = []
    for kpi in CATALOG:
        if not kpi.listed:
            continue
        if kpi.member is None:
            if kpi.name in summary:
                rows.append((kpi.name, kpi_value(summary, kpi.name), kpi_halfwidth(summary, kpi.name),
                             unit_label(kpi.name, currency)))
            continue
        source = summary.get("station_states", {}) if kpi.name in STATE_GROUPS else summary.get(kpi.name, {})
        for member in source or {}:
            name = f"{kpi.name}.{member}"
            ref = KpiRef(name, kpi.name, member)
            rows.append((name, kpi_value(summary, ref), kpi_halfwidth(summary, ref), kpi.unit))
    return rows
