"""Work inside the glovebox: holds a server of the station and a place of the shared box."""

from __future__ import annotations

from typing import Generator

from twin.stations.base import Station


class GloveboxStation(Station):
    """Stacking, electrolyte and cathode layers, sealing: anything done under argon.
    The worst atmosphere seen during the work is recorded on the cell; an excursion
    above the glovebox's limit quarantines the cell."""

    def __init__(self, name, cfg, line):
        super().__init__(name, cfg, line)
        self.box_name = cfg.glovebox
        self.box = line.shared[cfg.glovebox]

    def visit(self, cell) -> Generator:
        env = self.env
        t_arrive = env.now
        req = self.servers.request()
        yield req
        place = self.box.request()
        yield place
        t_start = env.now
        yield from self.work(self.process_time())
        t_end = env.now
        self.box.release(place)
        exposure = self.line.ports.glovebox.exposure(self.box_name, t_start, t_end)
        seen = None if exposure is None else (yield exposure)
        if seen is not None:
            h2o = seen["h2o_ppm_max"]
            if not (cell.h2o_max_ppm >= h2o):
                cell.h2o_max_ppm = h2o
            if seen["excursion"]:
                cell.quarantined = True
                cell.reason = "atmosphere_excursion"
        target = self.router.choose()
        yield from self.move_on(cell, target)
        self.servers.release(req)
        self.line.visit(cell, self.name, t_arrive, t_start, t_end, env.now)
        return target
