"""Start the emulated plant: one OPC UA server per device, one publishing loop for all.

``serve_plant`` (async, until cancelled or ``stop`` is set) and ``run_plant`` (blocking, until
Ctrl-C) are what ``twin plant serve`` calls. ``start_plant`` returns a running plant for
tests, benchmarks and hardware-in-the-loop runs; ``PlantThread`` runs one in a background
thread with its own event loop.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from plant.devices import make_device, warm_up
from plant.plantfile import PlantFile, load_plant_file
from plant.server import DeviceServer, make_server

_log = logging.getLogger(__name__)


@dataclass
class RunningPlant:
    """Servers of a started plant and the task publishing their values."""

    plant: PlantFile
    servers: dict[str, DeviceServer]
    start_wall: float
    pump_task: asyncio.Task | None = None
    ticks: int = field(default=0)
    late_ticks: int = field(default=0)

    @property
    def endpoints(self) -> dict[str, str]:
        """Device name -> ``opc.tcp://host:port``."""
        return {name: s.endpoint for name, s in self.servers.items()}

    async def stop(self) -> None:
        """Stop publishing and close every server."""
        if self.pump_task is not None:
            self.pump_task.cancel()
            try:
                await self.pump_task
            except asyncio.CancelledError:
                pass
        await asyncio.gather(*(s.stop() for s in self.servers.values()), return_exceptions=True)


def _with_overrides(plant: PlantFile, time_scale: float | None, host: str | None) -> PlantFile:
    upd = {}
    if time_scale is not None:
        upd["time_scale"] = float(time_scale)
    if host is not None:
        upd["host"] = host
    return plant.model_copy(update=upd) if upd else plant


async def start_plant(plant: PlantFile | str | Path, time_scale: float | None = None,
                      host: str | None = None) -> RunningPlant:
    """Build, start and begin publishing every device of ``plant``."""
    pf = plant if isinstance(plant, PlantFile) else load_plant_file(plant)
    pf = _with_overrides(pf, time_scale, host)
    if any(cfg.is_press for cfg in pf.devices):
        warm_up()
    start = time.time()
    servers: dict[str, DeviceServer] = {}
    for cfg in pf.devices:
        srv = make_server(make_device(cfg, pf, start), cfg, pf)
        await srv.init(time.time)
        servers[cfg.name] = srv
    running = RunningPlant(pf, servers, start)
    try:
        for srv in servers.values():
            await srv.start()
    except Exception:
        await running.stop()
        raise
    running.pump_task = asyncio.create_task(_pump_loop(running))
    _log.info("plant %s serving %s", pf.name, running.endpoints)
    return running


async def _pump_loop(running: RunningPlant) -> None:
    """Tick every device on the publishing grid."""
    dt = 1.0 / running.plant.publish_hz
    k = 0
    while True:
        k += 1
        target = running.start_wall + k * dt
        delay = target - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            running.late_ticks += 1
            await asyncio.sleep(0)
            k = max(k, int((time.time() - running.start_wall) / dt))
        now = time.time()
        for srv in running.servers.values():
            try:
                await srv.pump(now)
            except Exception:  # one device's error must not silence the others
                _log.exception("publishing %s failed", srv.cfg.name)
        running.ticks += 1


async def serve_plant(plant_file: Path, time_scale: float | None = None, *, host: str | None = None,
                      ready: Callable[[dict[str, str]], None] | None = None,
                      stop: asyncio.Event | None = None) -> None:
    """Serve the plant until cancelled (or ``stop`` is set); ``ready`` gets the endpoints."""
    running = await start_plant(plant_file, time_scale, host)
    try:
        if ready is not None:
            ready(running.endpoints)
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        await running.stop()


def run_plant(plant_file: Path, time_scale: float | None = None, *, host: str | None = None,
              ready: Callable[[dict[str, str]], None] | None = None) -> None:
    """Blocking: serve until Ctrl-C."""
    try:
        asyncio.run(serve_plant(Path(plant_file), time_scale, host=host, ready=ready))
    except KeyboardInterrupt:
        _log.info("plant stopped")


class PlantThread:
    """A plant served from a background thread: ``with PlantThread(pf) as p: p.endpoints``."""

    def __init__(self, plant: PlantFile | str | Path, time_scale: float | None = None,
                 host: str | None = None, start_timeout_s: float = 60.0) -> None:
        self._args = (plant, time_scale, host)
        self._timeout = start_timeout_s
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.running: RunningPlant | None = None
        self._thread = threading.Thread(target=self._main, name="plant", daemon=True)

    @property
    def endpoints(self) -> dict[str, str]:
        """Device name -> endpoint URL."""
        assert self.running is not None
        return self.running.endpoints

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self.running = await start_plant(*self._args)
        except BaseException as exc:  # surfaced to the caller of start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.running.stop()

    def start(self) -> "PlantThread":
        """Start and wait until every server listens."""
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise TimeoutError("plant did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the servers and join the thread."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)

    def __enter__(self) -> "PlantThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
