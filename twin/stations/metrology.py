"""Flatness metrology: measures each collector through the MetrologyPort."""

from __future__ import annotations

from typing import Generator

from twin.stations.process import ProcessStation


class MetrologyStation(ProcessStation):
    """A process step whose result is the cell's measured Sq, Sdq, PV and waviness.
    A failed measurement quarantines the cell: it is never accepted on a guess."""

    def after_work(self, cell, t_start: float, t_end: float) -> Generator:
        surface = yield self.line.ports.metrology.measure(self.name, cell)
        if surface is None:
            cell.quarantined = True
            cell.reason = "metrology_failed"
        else:
            cell.surface = surface
            cell.quality = None
