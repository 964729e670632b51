"""Cell releases: interarrival times, lot choice and the true flatness of each collector."""

from __future__ import annotations

from typing import Generator

import numpy as np

from twin.cell import SURFACE_KEYS, Cell
from twin.distributions import sampler


class Source:
    """Releases cells into the first station; blocks while the first buffer is full."""

    def __init__(self, cfg, lots: dict, line):
        self.cfg = cfg
        self.line = line
        self.env = line.env
        streams = line.streams
        self.interarrival = sampler(cfg.interarrival_h, streams.generator("source:interarrival"))
        self.lot_names = list(lots)
        weights = np.array([lot.weight for lot in lots.values()], dtype=float)
        self._lot_cum = (np.cumsum(weights) / weights.sum()).tolist()
        self._lot_rng = streams.generator("source:lot")
        self._surface = {
            name: [sampler(getattr(lot, key), streams.generator(f"lot:{name}:{key}")) for key in SURFACE_KEYS]
            for name, lot in lots.items()
        }
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

    def run(self, first) -> Generator:
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
            cell.true_surface = dict(zip(SURFACE_KEYS, (draw() for draw in self._surface[lot])))
            cell.slot = slot
            self.released += 1
            self.line.release(cell, first)
