"""The protocols the twin's stations call. A station never knows whether its port is
simulated (`adapters.sim`) or real equipment (`adapters.opcua`): every call returns a
SimPy event whose value is the measurement (the dataclasses below). A port may return None
instead of an event when there is nothing to wait for (no equipment to tell, no atmosphere
modelled), which saves the simulation an event per call."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np
import simpy

from adapters.vocabulary import Decision

if TYPE_CHECKING:  # pragma: no cover
    from plant.press import Recipe


class CellLike(Protocol):
    """What a port may read of a cell."""

    id: int
    lot: str
    true_surface: dict[str, float] | None
    press_runs: list[str]


@dataclass
class PressTrace:
    """A press cycle's sampled trace (simulated seconds from the start of the cycle)."""

    t_s: Sequence[float] | np.ndarray
    p_mpa: Sequence[float] | np.ndarray
    temp_c: Sequence[float] | np.ndarray
    phase: Sequence[int] | np.ndarray


@dataclass
class PressMeasurement:
    """What a press reports for one cycle: the run, its status and per-cell pressure."""

    run_id: str
    ok: bool
    status: str
    duration_s: float
    hold_duration_s: float
    mean_temperature_c: float
    cell_pressure_mpa: list[float]
    cell_pressure_cv: list[float]
    faults: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    trace: PressTrace | None = None


@dataclass(frozen=True)
class SurfaceMeasurement:
    """A measured collector surface, with the bandwidth its Sq and Sdq refer to."""

    sq_um: float
    sdq: float
    pv_um: float
    waviness_um: float
    waviness_mm: float
    cutoff_um: float = math.nan  # short-wavelength cut-off of the instrument (nan: not known)

    def get(self, key: str, default: float | None = None) -> float | None:
        """A parameter by name (as in the trace store's columns)."""
        return getattr(self, key, default)


@dataclass(frozen=True)
class AtmosphereExposure:
    """The worst glovebox atmosphere a cell saw while it was worked on."""

    o2_ppm_max: float
    h2o_ppm_max: float
    excursion: bool


class PressPort(Protocol):
    def cycle(self, station: str, recipe: "Recipe", cells: Sequence[CellLike]) -> simpy.Event:
        """Run one press cycle on `cells`; the event's value is a PressMeasurement."""
        ...


class MetrologyPort(Protocol):
    def measure(self, station: str, cell: CellLike) -> simpy.Event:
        """Measure the cell's collector; value: a SurfaceMeasurement (None on failure)."""
        ...


class GloveboxPort(Protocol):
    def exposure(self, resource: str, t_start_h: float, t_end_h: float) -> simpy.Event | None:
        """Worst atmosphere a cell saw in the glovebox; value: an AtmosphereExposure."""
        ...


class DispositionPort(Protocol):
    def report(self, station: str, cell: CellLike, decision: Decision, reason: str) -> simpy.Event | None:
        """Tell the equipment (sorter, press) what was decided for the cell."""
        ...


@dataclass
class Ports:
    """The ports one line uses."""

    press: PressPort
    metrology: MetrologyPort
    glovebox: GloveboxPort
    disposition: DispositionPort
