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
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

from adapters import vocabulary as v
from plant.devices import Device, PressDevice, Reading
from plant.instruments import GloveboxDevice
from plant.lads import access, methods, sampling
from plant.lads.nodesets import init_with_nodesets
from plant.lads.space import LadsSpace
from plant.plantfile import DeviceConfig, PlantFile
from plant.security import PlantRuleset, PlantUserManager, ensure_certificate, load_users

NAMESPACE = v.PLANT_NS
_log = logging.getLogger(__name__)
_POLICIES = {"Basic256Sha256": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
             "Aes256_Sha256_RsaPss": ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt}
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
        self.server = Server(user_manager=PlantUserManager(
            load_users(plant.security.users_file) if plant.security.users_file else {},
            plant.security.allow_anonymous))
        self.space = LadsSpace(self.server, device, methods.bind(self), plant.test_endpoints)
        self.space.host = self
        self._clock: Callable[[], float] | None = None

    async def init(self, clock: Callable[[], float]) -> None:
        """Create the server, its security and its address space (call before ``start``)."""
        self._clock = clock
        access.install()
        sampling.install()
        srv = self.server
        await init_with_nodesets(srv)
        await self.setup_endpoints()
        await srv.register_namespace(NAMESPACE)
        await self.space.build(clock())

    async def setup_endpoints(self) -> None:
        """Endpoint URL, application URI, certificate, security policies, identity tokens, trust list."""
        sec = self.plant.security
        srv = self.server
        srv.set_endpoint(self.endpoint)
        srv.set_server_name(f"Emulated {self.cfg.name}")
        app_uri = f"{NAMESPACE}:{self.cfg.name}"
        await srv.set_application_uri(app_uri)
        cert, key = await ensure_certificate(sec.cert_dir, self.cfg.name, app_uri, self.plant.host)
        await srv.load_certificate(str(cert))
        await srv.load_private_key(str(key))
        policies = [_POLICIES[p] for p in sec.policies]
        if sec.allow_insecure:
            policies.insert(0, ua.SecurityPolicyType.NoSecurity)
        srv.set_security_policy(policies, permission_ruleset=PlantRuleset())
        tokens = [ua.UserNameIdentityToken] + ([ua.AnonymousIdentityToken] if sec.allow_anonymous else [])
        srv.set_identity_tokens(tokens)
        if sec.trusted_clients_dir is not None:
            store = TrustStore([sec.trusted_clients_dir], [])
            await store.load()
            srv.set_certificate_validator(CertificateValidator(
                CertificateValidatorOptions.TRUSTED | CertificateValidatorOptions.TIME_RANGE
                | CertificateValidatorOptions.PEER_CLIENT, store))

    def now(self) -> float:
        """Wall clock of the plant."""
        assert self._clock is not None
        return self._clock()

    # ----- publishing -------------------------------------------------------------------
    async def pump(self, now: float) -> int:
        """Publish the device's readings, states and new Results up to ``now``; returns values written."""
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
        dev.new_results.clear()
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

