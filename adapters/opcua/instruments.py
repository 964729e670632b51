"""Instruments on bound devices: collector flatness from a profilometer (program
MeasureCollector, one cell per run) and the worst atmosphere a cell saw, asked of a
glovebox (MaxBetween on its main chamber). A value that is not Good, or an answer that does
not come, makes the measurement unknown: the cell is never accepted on a guess."""
from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime, timezone
from typing import Any

import simpy
from asyncua import ua

from adapters.opcua.link import Bound, DeviceRun, HardwareLink
from adapters.opcua.linklog import ConfigurationRefused, DeviceRefused, DeviceUnavailable, LinkLost
from adapters.opcua.press import run_program, true_surface_property
from adapters.opcua.profiles import to_twin
from adapters.opcua.results import finite, status_text
from adapters.ports import AtmosphereExposure, SurfaceMeasurement

log = logging.getLogger(__name__)
SURFACE_KEYS = ("sq_um", "sdq", "pv_um", "waviness_um", "waviness_mm")


class OpcuaMetrologyPort:
    """Flatness measured by a bound profilometer."""

    def __init__(self, link: HardwareLink, fallback: Any) -> None:
        self.link = link
        self.env = link.env
        self.fallback = fallback

    def measure(self, station: str, cell: Any) -> simpy.Event:
        b = self.link.bound.get(station)
        if b is None:
            return self.fallback.measure(station, cell)
        link = self.link
        run = DeviceRun(station, b.binding.device, link.next_job(station), [link.sample_id(cell)],
                        wall_start=time.time(), sim_start_h=self.env.now)
        return self.env.run_coroutine(self._measure(b, run, cell))

    async def _measure(self, b: Bound, run: DeviceRun, cell: Any) -> SurfaceMeasurement | None:
        sid = run.samples[0]
        props = true_surface_property(sid, cell.true_surface) if b.binding.send_true_surface else {}
        values = await run_program(self.link, b, run, props, ("sample_ids", "_stopped") + SURFACE_KEYS)
        surface = None
        if values is not None and not run.problem:
            got = {k: finite(_first(values.get(k))) for k in SURFACE_KEYS}
            status = status_text(values)
            completed = b.nodes.section.completed if b.nodes is not None else ["Completed"]
            if status not in completed:
                run.problem = f"status {status}"
            elif list(values.get("sample_ids") or []) != [sid]:
                run.problem = "sample ids differ from those sent"
            elif not all(math.isfinite(v) for v in got.values()):
                run.problem = "measurement incomplete"
            else:
                surface = SurfaceMeasurement(**got, cutoff_um=finite(_first(values.get("cutoff_um"))))
        run.ok = surface is not None
        self.link.finish(run)
        return surface


def _first(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return v[0] if v else math.nan
    return v


class OpcuaGloveboxPort:
    """The worst atmosphere a cell saw between two simulated times."""

    def __init__(self, link: HardwareLink, fallback: Any) -> None:
        self.link = link
        self.env = link.env
        self.fallback = fallback

    def exposure(self, resource: str, t_start_h: float, t_end_h: float) -> simpy.Event | None:
        b = self.link.bound.get(resource)
        if b is None or b.profile.glovebox is None:
            return self.fallback.exposure(resource, t_start_h, t_end_h)
        return self.env.run_coroutine(self._exposure(b, t_start_h, t_end_h))

    def _epoch(self, sim_h: float) -> datetime:
        loop = asyncio.get_running_loop()
        wall = self.env.wall_time_of(sim_h) - loop.time() + time.time()
        return datetime.fromtimestamp(wall, tz=timezone.utc)

    async def _exposure(self, b: Bound, t_start_h: float, t_end_h: float) -> AtmosphereExposure:
        gb = b.profile.glovebox
        assert gb is not None
        try:
            o2, h2o, excursion = await b.session.method(
                b.profile.path(gb.max_between.object), b.profile.path(gb.max_between.method),
                ua.Variant(self._epoch(t_start_h), ua.VariantType.DateTime),
                ua.Variant(self._epoch(t_end_h), ua.VariantType.DateTime))
            return AtmosphereExposure(to_twin(float(o2), gb.o2_unit, "o2_ppm"),
                                      to_twin(float(h2o), gb.h2o_unit, "h2o_ppm"), bool(excursion))
        except (DeviceRefused, DeviceUnavailable, LinkLost, ConfigurationRefused) as exc:
            log.warning("atmosphere of %s unknown (%s): cell quarantined", b.name, exc)
        except Exception:
            log.exception("atmosphere query on %s failed", b.name)
        # Unknown atmosphere is treated as an excursion: the cell is never accepted on a guess.
        return AtmosphereExposure(math.nan, math.nan, True)
