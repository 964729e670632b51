"""Pydantic models of a scenario file (YAML) and its JSON Schema.

A scenario is data only: stations, buffers, routing, batch rules, shared resources,
collector lots, quality settings, run control and `expect:` assertions. Units are in
the field names; unknown fields are errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from adapters.settings import Hardware
from plant.press import Recipe
from twin.cost import CostModel
from twin.disposition import DispositionPolicy
from twin.distributions import Distribution
from twin.interface.params import InterfaceParams

SINK = "sink"
SCRAP = "scrap"
TERMINALS = (SINK, SCRAP)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Route(Model):
    """One branch of a probabilistic routing."""

    to: str
    p: float = Field(gt=0, le=1)


Next = Union[str, list[Route]]


class Breakdowns(Model):
    """Random failures: exponential time to failure (calendar time), repair time distribution."""

    mtbf_h: float = Field(gt=0)
    mttr_h: Distribution


class Shifts(Model):
    """A repeating calendar: the station works only inside `windows_h` of each period."""

    period_h: float = Field(default=24.0, gt=0)
    windows_h: list[tuple[float, float]] = Field(min_length=1)

    @model_validator(mode="after")
    def _windows(self):
        last = 0.0
        for start, end in self.windows_h:
            if not (last <= start < end <= self.period_h):
                raise ValueError("windows_h must be increasing, non-overlapping (start, end) pairs within the period")
            last = end
        return self


class StationBase(Model):
    servers: int = Field(default=1, ge=1, description="parallel servers (or vessels for a batch station)")
    buffer_capacity: int | None = Field(
        default=None, ge=0, description="cells that may wait in front of the servers; null = unlimited; a full buffer blocks upstream"
    )
    breakdowns: Breakdowns | None = None
    shifts: Shifts | None = None


class RoutedStation(StationBase):
    next: Next = Field(description="the next station, sink or scrap, or a list of {to, p} branches")


class ProcessStation(RoutedStation):
    """A timed step (collector prep, sealing, ...)."""

    kind: Literal["process"]
    process_time_h: Distribution


class MetrologyStation(RoutedStation):
    """Measures the collector flatness of each cell (Sq, Sdq, PV, waviness)."""

    kind: Literal["metrology"]
    process_time_h: Distribution
    instrument: str = Field(default="profilometer", description="profilometer spec name or YAML path")


class GloveboxStation(RoutedStation):
    """A step done inside a glovebox: holds one unit of the shared glovebox resource."""

    kind: Literal["glovebox"]
    process_time_h: Distribution
    glovebox: str = Field(description="name of a shared resource under `resources`")


class PressSettings(Model):
    """The press used by a batch station and its recipe."""

    spec: str = Field(description="press kind (wip, cip, manual_uniaxial, automatic_uniaxial, heated_uniaxial, glovebox_uniaxial) or a spec YAML path")
    recipe: Recipe
    fault_probabilities: dict[str, float] = Field(
        default_factory=dict, description="chance per cycle of each device fault (leak, overpressure, heater, comm_loss)"
    )

    @model_validator(mode="after")
    def _faults(self):
        from plant.press import FAULT_KINDS

        for kind, p in self.fault_probabilities.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"fault_probabilities: unknown fault '{kind}' (one of {', '.join(FAULT_KINDS)})")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault_probabilities.{kind}: must be within [0, 1]")
        return self


class BatchRule(Model):
    """Loading rule: start when `capacity_cells` wait, or `timeout_h` after the first one arrived."""

    capacity_cells: int = Field(ge=1)
    min_cells: int = Field(default=1, ge=1)
    timeout_h: float | None = Field(default=None, ge=0, description="null = always wait for a full batch")

    @model_validator(mode="after")
    def _sizes(self):
        if self.min_cells > self.capacity_cells:
            raise ValueError("min_cells must be <= capacity_cells")
        return self


class BatchStation(RoutedStation):
    """A batch machine (isostatic press vessel, uniaxial press): N cells per cycle."""

    kind: Literal["batch"]
    batch: BatchRule = Field(default_factory=lambda: BatchRule(capacity_cells=1))
    press: PressSettings | None = None
    process_time_h: Distribution | None = Field(default=None, description="cycle time when no press physics is given")

    @model_validator(mode="after")
    def _timing(self):
        if self.press is None and self.process_time_h is None:
            raise ValueError("a batch station needs `press` (physics cycle) or `process_time_h`")
        return self


class FixedQuality(Model):
    """Outcome probabilities of an inspection in fixed quality mode."""

    p_accept: float = Field(ge=0, le=1)
    p_rework: float = Field(default=0.0, ge=0, le=1)
    p_reject: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self):
        total = self.p_accept + self.p_rework + self.p_reject
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"p_accept + p_rework + p_reject must be 1 (got {total:g})")
        return self


class InspectStation(StationBase):
    """Inspection and disposition: accept, rework (re-press) or reject."""

    kind: Literal["inspect"]
    process_time_h: Distribution
    fixed: FixedQuality | None = Field(default=None, description="outcome probabilities in fixed quality mode")
    on_accept: str = SINK
    on_rework: str
    on_reject: str = SCRAP


Station = Annotated[
    Union[ProcessStation, MetrologyStation, GloveboxStation, BatchStation, InspectStation],
    Field(discriminator="kind"),
]


class SharedResource(Model):
    """A resource several stations share, e.g. the glovebox's work places."""

    capacity: int = Field(ge=1)
    atmosphere: str | None = Field(default=None, description="glovebox spec (name or YAML path) for O2/H2O physics")
    antechamber_cycles_per_h: float = Field(default=0.0, ge=0, description="mean rate of antechamber cycles (Poisson)")
    leak_mtbf_h: float | None = Field(default=None, gt=0, description="mean time between glove/seal leaks")


class Lot(Model):
    """A collector lot: distributions of its true flatness parameters."""

    weight: float = Field(default=1.0, gt=0)
    sq_um: Distribution
    sdq: Distribution
    pv_um: Distribution
    waviness_um: Distribution
    waviness_mm: Distribution


class Source(Model):
    """Cell releases into the line."""

    interarrival_h: Distribution
    first: str = Field(description="the first station a cell visits")
    max_cells: int | None = Field(default=None, ge=1)


class Quality(Model):
    """How inspection decides: fixed probabilities, or physics (interface model + disposition)."""

    mode: Literal["fixed", "physics"] = "fixed"
    current_ma_cm2: float = Field(default=1.0, gt=0, description="plating current density the cells must survive")
    interface: InterfaceParams = Field(default_factory=InterfaceParams)
    disposition: DispositionPolicy = Field(default_factory=DispositionPolicy)
    same_level_frac: float = Field(
        default=0.9, gt=0, le=1,
        description="a press cycle below this share of the highest pressure seen leaves the interface as it was",
    )


class RunControl(Model):
    duration_h: float = Field(gt=0)
    warmup_h: float = Field(default=0.0, ge=0)
    replications: int = Field(default=1, ge=1)
    seed: int = Field(default=1, ge=0)
    write_trace: bool = Field(default=True, description="write every station visit to trace.sqlite")
    press_sample_hz: float = Field(default=0.1, gt=0, description="trace sample rate of simulated press cycles")

    @model_validator(mode="after")
    def _warmup(self):
        if self.warmup_h >= self.duration_h:
            raise ValueError("warmup_h must be shorter than duration_h")
        return self


class Expectation(Model):
    """A KPI assertion for CI: the mean across replications must lie in [min, max]."""

    kpi: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bound(self):
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


SCALAR_KPIS = (
    "cells_started",
    "cells_accepted",
    "cells_rejected",
    "cells_reworked",
    "throughput_per_h",
    "first_pass_yield",
    "final_yield",
    "mean_cycle_time_h",
    "mean_wip",
    "cost_per_good_cell",
)


class Scenario(Model):
    """A whole what-if study: the line, its inputs, and how to run and judge it."""

    name: str
    description: str = ""
    run: RunControl
    source: Source
    lots: dict[str, Lot] = Field(min_length=1)
    resources: dict[str, SharedResource] = Field(default_factory=dict)
    stations: dict[str, Station] = Field(min_length=1)
    quality: Quality = Field(default_factory=Quality)
    cost: CostModel | None = Field(default=None, description="cost model for the cost_per_good_cell KPI")
    expect: list[Expectation] = Field(default_factory=list)
    hardware: Hardware | None = Field(default=None, description="stations bound to OPC UA equipment (`twin hil`)")

    @model_validator(mode="after")
    def _cross_references(self):
        problems = list(_reference_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _reference_problems(s: Scenario):
    """Every cross-field problem, each named by its field path."""
    names = set(s.stations)
    clash = names & set(TERMINALS)
    for name in clash:
        yield f"stations.{name}: '{name}' is reserved for the end of the line"

    def check_target(path: str, target: str):
        if target not in names and target not in TERMINALS:
            yield f"{path}: '{target}' is not a station, '{SINK}' or '{SCRAP}'"

    yield from check_target("source.first", s.source.first)
    if s.source.first in TERMINALS:
        yield "source.first: must be a station"
    for name, st in s.stations.items():
        base = f"stations.{name}"
        if isinstance(st, InspectStation):
            for field in ("on_accept", "on_rework", "on_reject"):
                yield from check_target(f"{base}.{field}", getattr(st, field))
            if s.quality.mode == "fixed" and st.fixed is None:
                yield f"{base}.fixed: required when quality.mode is 'fixed'"
        else:
            if isinstance(st.next, str):
                yield from check_target(f"{base}.next", st.next)
            else:
                total = sum(r.p for r in st.next)
                if abs(total - 1.0) > 1e-9:
                    yield f"{base}.next: branch probabilities must sum to 1 (got {total:g})"
                for i, route in enumerate(st.next):
                    yield from check_target(f"{base}.next.{i}.to", route.to)
        if isinstance(st, GloveboxStation) and st.glovebox not in s.resources:
            yield f"{base}.glovebox: '{st.glovebox}' is not under `resources`"
        if isinstance(st, BatchStation) and st.press is not None:
            yield from _press_problems(f"{base}.press", st)
    if s.quality.mode == "physics":
        if not any(isinstance(st, MetrologyStation) for st in s.stations.values()):
            yield "stations: physics quality mode needs a metrology station to measure flatness"
        if not any(isinstance(st, BatchStation) and st.press for st in s.stations.values()):
            yield "stations: physics quality mode needs a batch station with `press`"
    for field in ("equipment_per_server_h", "equipment_per_busy_h") if s.cost else ():
        for station in sorted(set(getattr(s.cost, field)) - names):
            yield f"cost.{field}.{station}: '{station}' is not a station"
    for name in s.hardware.bindings if s.hardware else ():
        yield from _binding_problems(s, name)
    for i, e in enumerate(s.expect):
        if not _known_kpi(e.kpi, names, set(s.lots)):
            yield (f"expect.{i}.kpi: unknown KPI '{e.kpi}' (one of {', '.join(SCALAR_KPIS)}, utilisation.<station>, "
                   "availability.<station>, yield_by_press.<station>, yield_by_lot.<lot>)")


def _press_problems(path: str, st: BatchStation):
    from plant.press import RecipeError, check_recipe, load_press_spec

    try:
        spec = load_press_spec(st.press.spec)
    except (FileNotFoundError, ValueError) as exc:
        yield f"{path}.spec: {exc}"
        return
    try:
        check_recipe(spec, st.press.recipe)
    except RecipeError as exc:
        yield f"{path}.recipe: {exc}"
    if st.batch.capacity_cells > spec.capacity_cells:
        yield f"{path}: batch.capacity_cells {st.batch.capacity_cells} exceeds the press capacity {spec.capacity_cells}"


def _binding_problems(s: Scenario, name: str):
    """A binding must name a pressing batch station, a metrology station or a glovebox resource."""
    path = f"hardware.bindings.{name}"
    st = s.stations.get(name)
    if st is None:
        res = s.resources.get(name)
        if res is None:
            yield f"{path}: '{name}' is neither a station nor a resource"
        elif res.atmosphere is None:
            yield f"{path}: resource '{name}' has no `atmosphere` to read from a glovebox"
    elif not (isinstance(st, MetrologyStation) or (isinstance(st, BatchStation) and st.press is not None)):
        yield f"{path}: only a batch station with `press` or a metrology station can be bound to equipment"


def _known_kpi(kpi: str, stations: set[str], lots: set[str]) -> bool:
    if kpi in SCALAR_KPIS:
        return True
    head, _, tail = kpi.partition(".")
    if head in ("utilisation", "availability", "yield_by_press"):
        return tail in stations
    return head == "yield_by_lot" and tail in lots


class ScenarioError(Exception):
    """A scenario that cannot be used; `problems` lists (field path, message)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {loc or '<root>'}: {msg}" for loc, msg in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _data_path(data: Any, loc: tuple) -> str:
    """The error's location as a path in the scenario file. Pydantic puts union tags in `loc`
    (`stations.x.process.process_time_h.exponential.mean`, `next.list[Route].0.p`); keep only
    the steps that exist in the data, and the last step when it names a key of a mapping
    (a missing or unknown field)."""
    out = []
    cursor = data
    for i, step in enumerate(loc):
        if isinstance(cursor, dict) and step in cursor:
            cursor = cursor[step]
        elif isinstance(cursor, list) and isinstance(step, int) and 0 <= step < len(cursor):
            cursor = cursor[step]
        elif i == len(loc) - 1 and isinstance(cursor, dict):
            cursor = None
        else:
            continue
        out.append(str(step))
    return ".".join(out)


def _problems_from(exc: ValidationError, data: Any = None) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) if data is None else _data_path(data, err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # the cross-reference check: "path: message; path: message"
            out.extend(_split_located(part) for part in msg.split("; "))
        else:
            out.append((loc, msg))
    return out


def _split_located(message: str) -> tuple[str, str]:
    loc, sep, msg = message.partition(": ")
    return (loc, msg) if sep else ("", message)


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate already-loaded data; raise ScenarioError naming every bad field."""
    if not isinstance(data, dict):
        raise ScenarioError(source, [("", "a scenario must be a mapping")])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, _problems_from(exc, data)) from None


def load_scenario_data(path: str | Path) -> dict:
    """Read a scenario YAML file into plain data (no validation)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), [("", f"cannot read file: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [("", f"invalid YAML: {exc}")]) from None
    return data


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    return parse_scenario(load_scenario_data(path), str(path))


def json_schema() -> str:
    """The JSON Schema of scenario files."""
    return json.dumps(Scenario.model_json_schema(), indent=2)
