"""The server host of one emulated device: endpoints, security policies, certificates, users and
the publishing pump. The address space (LADS, docs/opcua.md) is plant/lads/space.py, its method
handlers and value setters plant/lads/methods.py; NodeIds are numeric and not part of the
contract, clients browse by qualified-name paths (adapters/vocabulary.py).
"""
from __future__ import annotations

import logging
import socket
from typing import Callable

from asyncua import Server, ua

from adapters import vocabulary as v
from plant.devices import Device, PressDevice, Reading
from plant.instruments import GloveboxDevice
from plant.lads import methods, sampling
from plant.lads.nodesets import init_with_nodesets
from plant.lads.space import LadsSpace
from plant.plantfile import DeviceConfig, PlantFile
from plant.security import load_users
# security (issue 12): guarded sessions, PKI, throttled logins, audit, bounded retention
from plant.access import as_device
from plant.hardening import secure_server
from plant.retention import Retention
from plant.throttle import LoginThrottle, ThrottledUserManager, ThrottleSettings

NAMESPACE = v.PLANT_NS
_log = logging.getLogger(__name__)
S = ua.VariantType


def free_port(host: str) -> int:
    """A currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class DeviceServer:
    """An asyncua server exposing one ``Device`` as a LADS device."""

    def __init__(self, device: Device, cfg: DeviceConfig, plant: PlantFile, port: int) -> None:
        self.device = device
        self.cfg = cfg
        self.plant = plant
        self.port = port
        self.endpoint = f"opc.tcp://{plant.host}:{port}"
        sec = plant.security
        users = load_users(sec.users_file, allow_demo=sec.demo) if sec.users_file else {}
        self.server = Server(user_manager=ThrottledUserManager(
            users, sec.allow_anonymous, cfg.name, LoginThrottle(ThrottleSettings(**sec.throttle.model_dump()))))
        self.retention = Retention(plant.retention)
        self.space = LadsSpace(self.server, device, methods.bind(self), plant.test_endpoints)
        self.space.host = self
        self._clock: Callable[[], float] | None = None

    async def init(self, clock: Callable[[], float]) -> None:
        """Create the server, its security and its address space (call before ``start``)."""
        self._clock = clock
        sampling.install()
        srv = self.server
        await init_with_nodesets(srv)
        await self.setup_endpoints()
        await srv.register_namespace(NAMESPACE)
        await self.space.build(clock())

    async def setup_endpoints(self) -> None:
        """Endpoint URL, application URI, then plant.hardening.secure_server: certificate, policies,
        identity tokens, trust list, guarded sessions, audit."""
        srv = self.server
        srv.set_endpoint(self.endpoint)
        srv.set_server_name(f"Emulated {self.cfg.name}")
        app_uri = f"{NAMESPACE}:{self.cfg.name}"
        await srv.set_application_uri(app_uri)
        self.guard = await secure_server(srv, self.cfg.name, self.plant, app_uri)
        self.guard.read_hooks.append(self.retention.on_read)

    def now(self) -> float:
        """Wall clock of the plant."""
        assert self._clock is not None
        return self._clock()

    # ----- publishing -------------------------------------------------------------------
    async def pump(self, now: float) -> int:
        """Publish the device's readings, states and new Results up to ``now``; returns values written."""
        with as_device():  # the device's own values pass the setters' role checks
            return await self._pump(now)

    async def _pump(self, now: float) -> int:
        dev, space = self.device, self.space
        readings: list[Reading] = dev.tick(now)
        n = 0
        for key, value, ts in readings:
            if key == "step":
                n += await self._write_step(str(value), ts)
            else:
                n += await space.write(key, float(value), S.Double, ts, force=True)
                if f"{key}.raw" in space.nodes:
                    await space.write(f"{key}.raw", float(value), S.Double, ts, force=True)
        for res in dev.new_results:  # the Result first, then the state that ends the run (R1)
            await space.add_result(res, now)
            await self._track_result(res.run_id)
        dev.new_results.clear()
        drop = self.retention.due(dev, now)  # plant.retention: only collected Results go
        if drop:
            self.retention.forget(dev, drop)
            dev.pruned.extend(drop)
        for run_id in dev.pruned:
            await space.remove_result(run_id)
        dev.pruned.clear()
        await self._write_active_program(now)
        await space.write("faults", dev.faults_visible(), S.String, now, is_array=True)
        if isinstance(dev, PressDevice):
            await space.write("Pressure.target", float(dev.target_pressure_mpa), S.Double, now)
            await space.write("Temperature.target", float(dev.target_temperature_c), S.Double, now)
        if isinstance(dev, GloveboxDevice) and dev.excursions_changed:
            dev.excursions_changed = False
            await space.write("excursions", dev.excursions_json(), S.String, now)
        await space.publish_states(now)
        return n

    async def _track_result(self, run_id: str) -> None:
        """Watch operator reads of the Result's VariableSet/Outcome (collected, plant.retention)."""
        node = self.server.get_node(self.space.result_nodes[run_id])
        for q in (v.lads("VariableSet"), v.plant(v.ResultVar.OUTCOME.value)):
            node = await self.space.child(node, q)
        self.retention.track(run_id, node.nodeid)

    async def _write_step(self, phase: str, ts: float) -> int:
        from plant.press import PHASES

        space = self.space
        n = await space.write("active.CurrentStepName", ua.LocalizedText(phase), S.LocalizedText, ts)
        if n:
            await space.write("active.CurrentStepNumber", PHASES.index(phase) + 1, S.UInt32, ts)
        return n

    async def _write_active_program(self, now: float) -> None:
        run = self.device.active or self.device.last_run
        if run is None:
            return
        space = self.space
        await space.write("active.DeviceProgramRunId", run.run_id, S.String, now)
        await space.write("active.EstimatedRuntime", run.estimated_wall_s * 1000.0, S.Double, now)
        steps = 6 if isinstance(self.device, PressDevice) else 0
        await space.write("active.EstimatedStepNumbers", steps, S.UInt32, now)
        if self.device.active is not None:
            elapsed_ms = float(int((now - run.start_wall) * 10.0) * 100.0)  # updated every 0.1 s
            await space.write("active.CurrentRuntime", elapsed_ms, S.Double, now)

    async def start(self) -> None:
        """Listen."""
        await self.server.start()

    async def stop(self) -> None:
        """Close connections and the socket."""
        await self.server.stop()


def make_server(device: Device, cfg: DeviceConfig, plant: PlantFile) -> DeviceServer:
    """A server for ``device`` on its configured port (or a free one)."""
    port = cfg.port or free_port(plant.host)
    return DeviceServer(device, cfg, plant, port)

