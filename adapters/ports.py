"""The protocols the twin's stations call. A station never knows whether its port is
simulated (`adapters.sim`) or real equipment (`adapters.opcua`): every call returns a
SimPy event whose value is the measurement. A port may return None instead of an event
when there is nothing to wait for (no equipment to tell, no atmosphere modelled), which
saves the simulation an event per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import simpy


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
    summary: dict = field(default_factory=dict)


class PressPort(Protocol):
    def cycle(self, station: str, recipe, cells: Sequence) -> simpy.Event:
        """Run one press cycle on `cells`; the event's value is a PressMeasurement."""


class MetrologyPort(Protocol):
    def measure(self, station: str, cell) -> simpy.Event:
        """Measure the cell's collector; value: dict sq_um, sdq, pv_um, waviness_um, waviness_mm (or None on failure)."""


class GloveboxPort(Protocol):
    def exposure(self, resource: str, t_start_h: float, t_end_h: float) -> simpy.Event | None:
        """Worst atmosphere a cell saw in the glovebox; value: dict o2_ppm_max, h2o_ppm_max, excursion (bool)."""


class DispositionPort(Protocol):
    def report(self, station: str, cell, decision: int, reason: str) -> simpy.Event | None:
        """Tell the equipment (sorter, press) what was decided for the cell."""


@dataclass
class Ports:
    """The ports one line uses."""

    press: PressPort
    metrology: MetrologyPort
    glovebox: GloveboxPort
    disposition: DispositionPort
