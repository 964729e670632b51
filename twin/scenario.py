"""Pydantic models of a scenario file (YAML), its validation into a *resolved* scenario, and
its JSON Schema.

A scenario is data only: stations, buffers, routing, batch rules, shared resources,
collector lots, quality settings, run control and `expect:` assertions. Units are in the
field names; unknown fields are errors. Validation also resolves what the scenario refers
to (press, profilometer and glovebox specs, lot library entries, the interface model and
its parameters), reading each file once; `Scenario.resolved` holds them for the line, the
ports, the quality model and the hardware checks. Station kinds come from the registry in
twin.stations (each kind checks its own references).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (Field, PrivateAttr, ValidationError, ValidationInfo, WithJsonSchema,
                      model_validator)
from typing_extensions import Annotated

from adapters.settings import Hardware
from twin.cost import CostModel
from twin.disposition import DispositionPolicy
from twin.distributions import Distribution
from twin.interface.params import InterfaceParams
from twin.lots import CollectorLot
from twin.stations import KINDS, StationUnion
from twin.stations.config import SCRAP, SINK, TERMINALS, Model
from twin.stations.registry import CheckContext, Problem

__all__ = ["Scenario", "ScenarioError", "Resolved", "load_scenario", "load_scenario_data", "parse_scenario",
           "json_schema", "SINK", "SCRAP", "TERMINALS"]

MAX_SCENARIO_BYTES = 5_000_000
MAX_NESTING = 40


class SharedResource(Model):
    """A resource several stations share, e.g. the glovebox's work places."""

    capacity: int = Field(ge=1)
    atmosphere: str | None = Field(default=None, description="glovebox spec (name or YAML path) for O2/H2O physics")
    antechamber_cycles_per_h: float = Field(default=0.0, ge=0, description="mean rate of antechamber cycles (Poisson)")
    leak_mtbf_h: float | None = Field(default=None, gt=0, description="mean time between glove/seal leaks")


class Lot(CollectorLot):
    """A collector lot of the line: its share of the releases and its surface model (written
    out, or `ref:` to a lot of the shipped library, `name` or `path/lots.yaml#name`)."""

    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _reference(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or "ref" not in data:
            return data
        from plant.spec_files import SpecError
        from twin.lots import library_lot

        rest = {k: v for k, v in data.items() if k != "ref"}
        if not isinstance(data["ref"], str):
            raise ValueError("ref: must name a lot of a library (`name` or `path/lots.yaml#name`)")
        base = (info.context or {}).get("base_dir")
        try:
            lot = library_lot(data["ref"], base)
        except SpecError as exc:
            raise ValueError(f"ref: {exc}") from None
        return {**lot.model_dump(exclude_defaults=True), **rest}


class Source(Model):
    """Cell releases into the line."""

    interarrival_h: Distribution
    first: str = Field(description="the first station a cell visits")
    max_cells: int | None = Field(default=None, ge=1)


InterfaceSettings = Annotated[dict[str, Any], WithJsonSchema(InterfaceParams.model_json_schema())]


class Quality(Model):
    """How inspection decides: fixed probabilities, or physics (interface model + disposition)."""

    mode: Literal["fixed", "physics"] = "fixed"
    model: str = Field(default="fast", description="interface model: `fast` (shipped) or package.module:attribute")
    current_ma_cm2: float = Field(default=1.0, gt=0, description="plating current density the cells must survive")
    interface: InterfaceSettings = Field(
        default_factory=dict, description="parameters of the interface model (the shipped model: InterfaceParams; "
                                          "missing keys take the shipped values of materials.yaml)")
    params: str | None = Field(default=None, description="calibrated parameter file (`twin calibrate` output, YAML; "
                                                          "relative to the scenario): its values set the interface")
    disposition: DispositionPolicy = Field(default_factory=DispositionPolicy)
    same_level_frac: float = Field(
        default=0.9, gt=0, le=1,
        description="a press cycle below this share of the highest pressure seen leaves the interface as it was",
    )

    stack_pressure_mpa: float | None = Field(
        default=None, ge=0,
        description="stack pressure on the cells in operation (unset: the interface model's default)")
    operating_temperature_c: float | None = Field(
        default=None, description="cell temperature in operation (unset: the interface model's default)")

    def operating_conditions(self) -> dict[str, float]:
        """Inputs of the interface model the scenario sets for every cell."""
        out = {"current_ma_cm2": self.current_ma_cm2}
        for name in ("stack_pressure_mpa", "operating_temperature_c"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


class RunControl(Model):
    duration_h: float = Field(gt=0)
    warmup_h: float = Field(default=0.0, ge=0)
    replications: int = Field(default=1, ge=1)
    seed: int = Field(default=1, ge=0, lt=2**63)
    write_trace: bool = Field(default=True, description="write every station visit to trace.sqlite")
    press_sample_hz: float = Field(default=0.1, gt=0, description="trace sample rate of simulated press cycles")
    timeline_h: float = Field(default=24.0, ge=0, description="hours after warm-up of replication 0 whose station "
                                                               "states and buffer levels go to trace.sqlite (0: none)")

    @model_validator(mode="after")
    def _warmup(self) -> "RunControl":
        if self.warmup_h >= self.duration_h:
            raise ValueError("warmup_h must be shorter than duration_h")
        return self


class Expectation(Model):
    """A KPI assertion for CI: the mean across replications must lie in [min, max], or with
    `evidence: ci95` the whole 95% interval (lower bound >= min, upper bound <= max)."""

    kpi: str
    min: float | None = None
    max: float | None = None
    evidence: Literal["mean", "ci95"] = Field(
        default="mean", description="mean: the mean must clear the bounds; ci95: the 95% interval must (needs >= 2 "
                                    "replications), so a lucky mean does not pass")

    @model_validator(mode="after")
    def _bound(self) -> "Expectation":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


@dataclass
class Resolved:
    """What validation loaded for a scenario, each spec read once."""

    base_dir: Path | None
    presses: dict[str, Any] = field(default_factory=dict)  # batch station -> PressSpec
    instruments: dict[str, Any] = field(default_factory=dict)  # metrology station -> ProfilometerSpec
    gloveboxes: dict[str, Any] = field(default_factory=dict)  # shared resource -> GloveboxSpec
    lots: dict[str, CollectorLot] = field(default_factory=dict)
    interface_model: Any = None  # an InterfaceModel
    interface_params: Any = None  # its params_type instance
    calibration: Any = None  # the quality.params file (twin.calibration.paramfile.ParamFile)


class Scenario(Model):
    """A whole what-if study: the line, its inputs, and how to run and judge it."""

    name: str = Field(max_length=200)
    description: str = ""
    run: RunControl
    source: Source
    lots: dict[str, Lot] = Field(min_length=1)
    resources: dict[str, SharedResource] = Field(default_factory=dict)
    stations: dict[str, StationUnion] = Field(min_length=1)
    quality: Quality = Field(default_factory=Quality)
    cost: CostModel | None = Field(default=None, description="cost model for the cost_per_good_cell KPI")
    expect: list[Expectation] = Field(default_factory=list)
    hardware: Hardware | None = Field(default=None, description="stations bound to OPC UA equipment (`twin hil`)")

    _resolved: Resolved | None = PrivateAttr(default=None)

    @property
    def resolved(self) -> Resolved:
        """The specs, lots and interface model this scenario refers to (loaded at validation)."""
        if self._resolved is None:  # built by model_copy or construct: resolve now
            problems, self._resolved = _resolve(self, None)
            if problems:
                raise ScenarioError(self.name, problems)
        return self._resolved

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> "Scenario":
        problems, resolved = _resolve(self, (info.context or {}).get("base_dir"))
        if problems:
            raise ValueError("; ".join(f"{loc}: {msg}" for loc, msg in problems))
        self._resolved = resolved
        return self


def _resolve(s: Scenario, base_dir: Path | None) -> tuple[list[Problem], Resolved]:
    resolved = Resolved(base_dir=base_dir, lots=dict(s.lots))
    ctx = CheckContext(s.stations, s.resources, s.quality.mode, base_dir, resolved.presses, resolved.instruments)
    problems = list(_reference_problems(s, ctx, resolved))
    return problems, resolved


def _reference_problems(s: Scenario, ctx: CheckContext, resolved: Resolved) -> Any:
    """Every cross-field problem, each named by its field path."""
    names = set(s.stations)
    for name in names & set(TERMINALS):
        yield f"stations.{name}", f"'{name}' is reserved for the end of the line"
    yield from ctx.target("source.first", s.source.first)
    if s.source.first in TERMINALS:
        yield "source.first", "must be a station"
    provided: set[str] = set()
    for name, st in s.stations.items():
        for field_path, message in st.route_problems():
            yield f"stations.{name}.{field_path}", message
        for field_path, target in st.routes():
            yield from ctx.target(f"stations.{name}.{field_path}", target)
        kind = KINDS[st.kind]
        if kind.check is not None:
            yield from kind.check(name, st, ctx)
        provided |= st.provides()
    for name, res in s.resources.items():
        if res.atmosphere is not None:
            from plant.glovebox import load_glovebox_spec

            spec, problems = ctx.load(f"resources.{name}.atmosphere", load_glovebox_spec, res.atmosphere)
            yield from problems
            if spec is not None:
                resolved.gloveboxes[name] = spec
    if s.quality.mode == "physics":
        if "flatness" not in provided:
            yield "stations", "physics quality mode needs a metrology station to measure flatness"
        if "pressing" not in provided:
            yield "stations", "physics quality mode needs a batch station with `press`"
    yield from _interface_problems(s, resolved)
    for field_name in ("equipment_per_server_h", "equipment_per_busy_h") if s.cost else ():
        for station in sorted(set(getattr(s.cost, field_name)) - names):
            yield f"cost.{field_name}.{station}", f"'{station}' is not a station"
    for name in s.hardware.bindings if s.hardware else ():
        yield from _binding_problems(s, name)
    yield from _expectation_problems(s)


def _interface_problems(s: Scenario, resolved: Resolved) -> Any:
    from twin.interface.model import load_model

    try:
        model = load_model(s.quality.model)
    except ValueError as exc:
        yield "quality.model", str(exc)
        return
    resolved.interface_model = model
    calibrated: dict[str, Any] = {}
    if s.quality.params is not None:
        from twin.calibration.scenario_params import resolve_params

        resolved.calibration, calibrated, problems = resolve_params(s.quality, resolved.base_dir)
        yield from problems
    try:
        if model.params_type is InterfaceParams:
            from twin.interface.params import load_params

            resolved.interface_params = load_params(**{**calibrated, **s.quality.interface})
        else:
            resolved.interface_params = model.params_type.model_validate(s.quality.interface)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            yield f"quality.interface.{loc}" if loc else "quality.interface", err["msg"].removeprefix("Value error, ")


def _binding_problems(s: Scenario, name: str) -> Any:
    """A binding must name a station that takes equipment or a glovebox resource."""
    path = f"hardware.bindings.{name}"
    st = s.stations.get(name)
    if st is None:
        res = s.resources.get(name)
        if res is None:
            yield path, f"'{name}' is neither a station nor a resource"
        elif res.atmosphere is None:
            yield path, f"resource '{name}' has no `atmosphere` to read from a glovebox"
    elif st.device_role() is None:
        yield path, "only a batch station with `press` or a metrology station can be bound to equipment"


def _expectation_problems(s: Scenario) -> Any:
    from twin.kpis import KpiError, parse_kpi

    presses = [n for n, st in s.stations.items() if "pressing" in st.provides()]
    for i, e in enumerate(s.expect):
        try:
            parse_kpi(e.kpi, s.stations, s.lots, presses)
        except KpiError as exc:
            yield f"expect.{i}.kpi", str(exc)


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
    out: list[tuple[str, str]] = []
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


def parse_scenario(data: Any, source: str = "<scenario>", base_dir: str | Path | None = None) -> Scenario:
    """Validate already-loaded data (relative spec paths against `base_dir`, then the current
    directory); raise ScenarioError naming every bad field."""
    if not isinstance(data, dict):
        raise ScenarioError(source, [("", "a scenario must be a mapping")])
    try:
        return Scenario.model_validate(data, context={"base_dir": Path(base_dir) if base_dir else None})
    except ValidationError as exc:
        raise ScenarioError(source, _problems_from(exc, data)) from None


def _depth(x: Any, limit: int) -> int:
    """Nesting depth of plain data, stopping at `limit`."""
    depth, level = 0, [x]
    while level and depth <= limit:
        nxt: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                nxt.extend(item.values())
            elif isinstance(item, list):
                nxt.extend(item)
        level, depth = nxt, depth + 1
    return depth


def load_scenario_data(path: str | Path) -> dict:
    """Read a scenario YAML file into plain data (no validation); ScenarioError when the file
    cannot be read, is not UTF-8, is too large or too deeply nested, or is not YAML."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ScenarioError(str(path), [("", "is a directory, not a scenario file")]) from None
    except OSError as exc:
        raise ScenarioError(str(path), [("", f"cannot read file: {exc.strerror}")]) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(str(path), [("", f"file too large ({len(raw)} bytes > {MAX_SCENARIO_BYTES})")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), [("", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ScenarioError(str(path), [("", f"nested deeper than {MAX_NESTING} levels")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [("", f"invalid YAML: {exc}")]) from None
    if _depth(data, MAX_NESTING) > MAX_NESTING:
        raise ScenarioError(str(path), [("", f"nested deeper than {MAX_NESTING} levels")])
    return data


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (relative paths in it resolve against its directory)."""
    path = Path(path)
    return parse_scenario(load_scenario_data(path), str(path), path.resolve().parent)


def json_schema() -> str:
    """The JSON Schema of scenario files."""
    return json.dumps(Scenario.model_json_schema(), indent=2)
