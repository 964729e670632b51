"""Cell releases: interarrival times, lot choice and the true flatness of each collector."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import simpy

from twin.cell import Cell
from twin.distributions import sampler
from twin.lots import LotSampler
from twin.stations.base import Node, Process

if TYPE_CHECKING:  # pragma: no cover
    from twin.streams import Streams


class Source:
    """Releases cells into the first station; blocks while the first buffer is full."""

    def __init__(self, cfg: Any, lots: Mapping[str, Any], streams: "Streams", env: simpy.Environment,
                 release: Callable[[Cell, Node], None]):
        self.cfg = cfg
        self.env = env
        self.release = release
        self.interarrival = sampler(cfg.interarrival_h, streams.generator("source:interarrival"))
        self.lot_names = list(lots)
        weights = np.array([lot.weight for lot in lots.values()], dtype=float)
        self._lot_cum = (np.cumsum(weights) / weights.sum()).tolist()
        self._lot_rng = streams.generator("source:lot")
        self._surface = {name: LotSampler(name, lot, streams.generator) for name, lot in lots.items()}
        self.released = 0
        self.stopped = False

    def stop(self) -> None:
        """Release no more cells (the line drains)."""
        self.stopped = True

    def _lot(self) -> str:
        if len(self.lot_names) == 1:
            return self.lot_names[0]
        u = self._lot_rng.random()
        for name, c in zip(self.lot_names, self._lot_cum):
            if u < c:
                return name
        return self.lot_names[-1]

    def run(self, first: Node) -> Process[None]:
        env = self.env
        limit = self.cfg.max_cells
        while limit is None or self.released < limit:
            yield env.timeout(self.interarrival())
            if self.stopped:
                return
            slot = None
            if first.slots is not None:
                slot = first.slots.request()
                yield slot
            lot = self._lot()
            cell = Cell(self.released, lot, env.now)
            cell.true_surface = self._surface[lot].draw()
            cell.slot = slot
            self.released += 1
            self.release(cell, first)
