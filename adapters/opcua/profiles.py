"""Device profiles: how the twin's operations map onto one kind of device, as data.

A profile (YAML, validated here) names the namespaces it uses, where the device object is,
and per operation the browse paths, the method and its argument shapes, the property keys
of a recipe and the unit of every value, so a LADS-like press of another vendor is bound
without code. Units are named (``MPa``, ``kPa``, ``s``, ``ms``, ``degC`` ...) and converted to
the unit in the twin's own key (``target_pressure_mpa``, ``duration_s``). The LADS profile
(`profiles/lads.yaml`, the contract of docs/opcua.md) is the default.

    load_profile(None)            # the LADS profile
    load_profile("acme.yaml")     # a file (relative paths: against the scenario's folder)
"""
from __future__ import annotations

import functools
from pathlib import Path as FsPath
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapters.opcua.paths import Path, PathError, parse_path

PROFILE_DIR = FsPath(__file__).with_name("profiles")
DEFAULT_PROFILE = "lads"

# unit -> (dimension, factor to the dimension's base unit, offset): base = value * factor + offset
UNITS: dict[str, tuple[str, float, float]] = {
    "MPa": ("pressure", 1.0, 0.0), "kPa": ("pressure", 1e-3, 0.0), "Pa": ("pressure", 1e-6, 0.0),
    "bar": ("pressure", 0.1, 0.0), "GPa": ("pressure", 1e3, 0.0), "psi": ("pressure", 0.00689475729, 0.0),
    "s": ("time", 1.0, 0.0), "ms": ("time", 1e-3, 0.0), "min": ("time", 60.0, 0.0), "h": ("time", 3600.0, 0.0),
    "degC": ("temperature", 1.0, 0.0), "K": ("temperature", 1.0, -273.15),
    "um": ("length", 1.0, 0.0), "nm": ("length", 1e-3, 0.0), "mm": ("length", 1e3, 0.0),
    "ppm": ("fraction", 1.0, 0.0), "ppb": ("fraction", 1e-3, 0.0),
    "MPa/s": ("pressure_rate", 1.0, 0.0), "kPa/s": ("pressure_rate", 1e-3, 0.0), "bar/s": ("pressure_rate", 0.1, 0.0),
    "1": ("none", 1.0, 0.0),
}
# the unit of a twin key, from its suffix
SUFFIX_UNITS = {"_mpa_s": "MPa/s", "_mpa": "MPa", "_s": "s", "_c": "degC", "_um": "um", "_mm": "mm", "_ppm": "ppm"}


def twin_unit(key: str) -> str:
    """The unit the twin means by `key` (its suffix), "1" when it names none."""
    for suffix, unit in SUFFIX_UNITS.items():
        if key.endswith(suffix):
            return unit
    return "1"


def to_twin(value: float, device_unit: str, key: str) -> float:
    """A device value in `device_unit` as the twin's `key` wants it."""
    d_dim, d_f, d_o = UNITS[device_unit]
    t_dim, t_f, t_o = UNITS[twin_unit(key)]
    if d_dim != t_dim and "none" not in (d_dim, t_dim):
        raise ValueError(f"{key}: a {d_dim} in {device_unit} is not a {t_dim}")
    return ((value * d_f + d_o) - t_o) / t_f


def to_device(value: float, device_unit: str, key: str) -> float:
    """The twin's `key` value in the device's unit."""
    d_dim, d_f, d_o = UNITS[device_unit]
    t_dim, t_f, t_o = UNITS[twin_unit(key)]
    return ((value * t_f + t_o) - d_o) / d_f


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unit(v: str) -> str:
    if v not in UNITS:
        raise ValueError(f"unknown unit {v!r} (known: {', '.join(UNITS)})")
    return v


class Value(_Model):
    """A variable: its path and the unit the device gives it in."""

    path: list[str] = Field(min_length=1, description="browse path below the object the section names")
    unit: str = Field(default="1", description="the device's unit of the value")
    _u = field_validator("unit")(classmethod(lambda cls, v: _unit(v)))


class Argument(_Model):
    """One input argument of a start method, by what it carries and how it is encoded."""

    kind: Literal["template", "properties", "job", "task", "samples"]
    encoding: Literal["string", "key_values", "json", "sample_info", "strings"] = "string"


class Method(_Model):
    """A method: the object it is called on and the method node (both below the section's base)."""

    object: list[str] = Field(description="path of the object the method is called on")
    method: list[str] = Field(min_length=1, description="path of the method node")


class StartMethod(Method):
    arguments: list[Argument] = Field(min_length=1)


class Property(_Model):
    """A recipe field as a program property key of the device."""

    key: str
    unit: str = "1"
    _u = field_validator("unit")(classmethod(lambda cls, v: _unit(v)))


class Program(_Model):
    """A unit that runs programs: start, completion, result (press, profilometer)."""

    unit: list[str] = Field(description="the functional unit, below the device object")
    template: str = Field(description="the program template the twin starts")
    start: StartMethod
    state: list[str] = Field(description="the unit's state variable, below the unit")
    running_states: list[str] = Field(min_length=1, description="state names while a program runs")
    templates: list[str] = Field(default_factory=list, description="the template set, below the unit")
    template_name: str | None = Field(default=None, description="a template's browse name in the set "
                                                                "(needed with `templates`)")
    estimated_runtime: Value | None = Field(default=None, description="below a template: its nominal duration")
    active_runtime: Value | None = Field(default=None, description="below the unit: the running program's "
                                                                   "EstimatedRuntime (wall clock), set by the start")
    clear: Method | None = Field(default=None, description="below the unit: acknowledges a faulted/aborted unit")
    clear_states: list[str] = Field(default_factory=list, description="states after a run that need `clear`")
    retry_statuses: list[str] = Field(default_factory=lambda: ["BadInvalidState"],
                                      description="start refusals that are retried (the cells held meanwhile)")
    results: list[str] = Field(description="the result set, below the unit")
    result_name: str = Field(description="a result's browse name in the set ({run_id}: the RunId)")
    stopped: list[str] = Field(description="below a result: the time it stopped (set once final)")
    job: list[str] = Field(description="below a result: its SupervisoryJobId")
    status: list[str] | None = Field(default=None, description="below a result: its outcome text")
    completed: list[str] = Field(default_factory=lambda: ["Completed"], description="outcomes that are a success")
    values: dict[str, Value] = Field(description="twin key -> variable below a result")
    recipe: dict[str, Property] = Field(default_factory=dict, description="recipe field -> property key")


DispositionArg = Literal["run_id", "sample_id", "decision", "reason"]
DISPOSITION_ARGS: tuple[DispositionArg, ...] = ("run_id", "sample_id", "decision", "reason")


class Press(Program):
    capacity: Value | None = Field(default=None, description="below the unit: cells per cycle")
    pressure_range: Value | None = Field(default=None, description="below the unit: EURange of the pressure setpoint")
    temperature_range: Value | None = Field(default=None, description="below the unit: EURange of the temperature")
    disposition: Method | None = Field(default=None, description="below the unit: SetDisposition")
    disposition_arguments: list[DispositionArg] = Field(default_factory=lambda: list(DISPOSITION_ARGS))


class Glovebox(_Model):
    max_between: Method = Field(description="below the device: (start, end) -> (max O2, max H2O, excursion)")
    o2_unit: str = "ppm"
    h2o_unit: str = "ppm"


class Profile(_Model):
    """A device profile (see the module's docstring)."""

    profile: str = Field(description="the profile's name")
    version: str = Field(description="the contract version it implements")
    source: str = Field(description="where the names come from (document, vendor manual)")
    namespaces: dict[str, str] = Field(min_length=1, description="alias -> namespace URI")
    device: list[str] = Field(min_length=1, description="the device object, below Objects ({device}: its name)")
    press: Press | None = None
    profilometer: Program | None = None
    glovebox: Glovebox | None = None

    @model_validator(mode="after")
    def _paths(self) -> "Profile":
        for section in (self.press, self.profilometer):
            if section is not None and section.templates and section.template_name is None:
                raise ValueError("a program section with `templates` needs `template_name`")
        for where, elements in self._all_paths():
            try:
                parse_path(elements, self.namespaces)
            except PathError as exc:
                raise ValueError(f"{where}: {exc}") from None
        return self

    def _all_paths(self) -> list[tuple[str, list[str]]]:
        out: list[tuple[str, list[str]]] = []

        def walk(where: str, model: BaseModel) -> None:
            for name, val in model:
                here = f"{where}.{name}" if where else name
                if isinstance(val, BaseModel):
                    walk(here, val)
                elif isinstance(val, dict):
                    for k, v in val.items():
                        if isinstance(v, BaseModel):
                            walk(f"{here}.{k}", v)
                elif name in PATH_FIELDS and isinstance(val, list):
                    out.append((here, val))
                elif name in ("result_name", "template_name") and val is not None:
                    out.append((here, [val]))
        walk("", self)
        return out

    def path(self, elements: list[str]) -> Path:
        return parse_path(elements, self.namespaces)


PATH_FIELDS = frozenset({"device", "unit", "state", "templates", "results", "stopped", "job", "status", "path",
                         "object", "method"})


class ProfileError(ValueError):
    """A profile file is missing or invalid; the message names the file and the field."""


def load_profile(name: str | FsPath | None, base: FsPath | None = None) -> Profile:
    """A shipped profile by name (``lads``) or a YAML file; ProfileError naming the field.
    Parsed once per file version (a profile is immutable)."""
    if name is None or (isinstance(name, str) and (PROFILE_DIR / f"{name}.yaml").exists()):
        path = PROFILE_DIR / f"{name or DEFAULT_PROFILE}.yaml"
    else:
        path = FsPath(name).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
    try:
        stat = path.stat()
    except OSError as exc:
        raise ProfileError(f"profile {path}: cannot read it ({exc.strerror})") from None
    return _load(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _load(name: str, mtime_ns: int, size: int) -> Profile:
    path = FsPath(name)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except OSError as exc:
        raise ProfileError(f"profile {path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {path}: not YAML ({exc})") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ProfileError(f"profile {path}: {where}: {err['msg']}") from None
