"""Hardware-in-the-loop: `PlantEquipment`, the backend that runs a scenario with some stations
on OPC UA equipment, for the one facade: `Simulation(scenario, ports=PlantEquipment(plant)).run(out)`.

The scenario's `hardware:` section binds stations (and glovebox resources) to devices of the
plant file; every other station stays simulated. Each binding is checked against the device
it names before anything starts (kind, capacity against the batch size, the recipe against
the device's pressure, temperature, rate and hold limits): a mismatch is a setup error naming
the station. The line runs once, paced by the real-time clock at the plant's time scale. Each
finished cell, each device run and each disposition is committed to trace.sqlite as it
happens (in the run's partial folder until the run completes), so a crash loses nothing
already recorded; the summary gets a `hardware` section saying what happened on every link.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from plant.plantfile import DeviceConfig, PlantFile

if TYPE_CHECKING:  # pragma: no cover
    from twin.scenario import Scenario
    from twin.writer import RunWriter

CLIENT_CERT_NAME = "twin-client"
log = logging.getLogger(__name__)


class HilSetupError(Exception):
    """The run cannot start: a binding, the credentials or the equipment is not usable."""


class EquipmentUnreachable(HilSetupError):
    """The equipment did not answer at the start (exit 3)."""


@dataclass
class Target:
    """A binding resolved against the plant file: the device, its endpoint and its spec."""

    name: str
    device: str
    endpoint: str
    config: DeviceConfig | None
    spec: Any = None  # the device's PressSpec or ProfilometerSpec when the plant file names it


def _device_spec(cfg: DeviceConfig, base_dir: Path | None) -> Any:
    from plant.metrology import load_profilometer_spec
    from plant.press import load_press_spec

    if cfg.is_press:
        return load_press_spec(cfg.spec or cfg.kind, base_dir)
    if cfg.kind == "profilometer":
        return load_profilometer_spec(cfg.spec or "profilometer", base_dir)
    return None


def binding_problems(scenario: "Scenario", target: Target) -> list[tuple[str, str]]:
    """(field below the binding, why) the device cannot serve the station it is bound to."""
    from plant.press import RecipeError, check_recipe

    st = scenario.stations.get(target.name)
    role = st.device_role() if st is not None else "glovebox"
    cfg = target.config
    if cfg is None:
        return []
    got = "press" if cfg.is_press else cfg.kind
    if role != got:
        return [("device", f"'{target.device}' is a {got}, but '{target.name}' needs a {role}")]
    problems = []
    if role == "press" and target.spec is not None:
        from twin.stations.batch import BatchConfig

        assert isinstance(st, BatchConfig) and st.press is not None
        spec = target.spec
        if st.batch.capacity_cells > spec.capacity_cells:
            problems.append(("device", f"'{target.name}' loads {st.batch.capacity_cells} cells "
                                       f"(batch.capacity_cells) but '{target.device}' takes {spec.capacity_cells}"))
        try:
            check_recipe(spec, st.press.recipe)
        except RecipeError as exc:
            problems.append(("device", f"the recipe of '{target.name}' exceeds '{target.device}': {exc}"))
    return problems


def resolve_targets(scenario: "Scenario", plant: PlantFile) -> dict[str, Target]:
    """Binding name -> device, endpoint and spec; HilSetupError naming the first bad binding."""
    from plant.spec_files import SpecError

    assert scenario.hardware is not None
    devices = {d.name: d for d in plant.devices}
    out = {}
    for name, b in scenario.hardware.bindings.items():
        path = f"hardware.bindings.{name}"
        cfg = devices.get(b.device)
        if cfg is None and b.endpoint is None:
            raise HilSetupError(f"{path}.device: '{b.device}' is not in plant '{plant.name}' "
                                f"(devices: {', '.join(devices)}) and no endpoint is given")
        try:
            spec = _device_spec(cfg, None) if cfg is not None else None
        except SpecError as exc:
            raise HilSetupError(f"{path}.device: the spec of '{b.device}' cannot be used: {exc}") from None
        endpoint = b.endpoint or f"opc.tcp://{plant.host}:{cfg.port if cfg else 0}"
        target = Target(name, b.device, endpoint, cfg, spec)
        problems = binding_problems(scenario, target)
        if problems:
            raise HilSetupError("; ".join(f"{path}.{where}: {why}" for where, why in problems))
        out[name] = target
    return out


class PlantEquipment:
    """Runs one replication with the bound stations on the plant's OPC UA devices."""

    def __init__(self, plant: PlantFile, *, time_scale: float | None = None, scenario_dir: Path | None = None):
        self.plant = plant
        self.time_scale = float(time_scale or plant.time_scale)
        self.scenario_dir = scenario_dir
        self.targets: dict[str, Target] = {}
        self.tag = ""  # prefixes the run's SupervisoryJobIds and SampleIds; new per scenario checked
        self.carried: list[dict] = []  # undelivered decisions of an earlier run on the same folder
        self.server_check: Any = None  # adapters.pki hook: awaited with (endpoint, server cert DER)

    def check(self, scenario: "Scenario") -> None:
        if scenario.hardware is None:
            raise HilSetupError("the scenario has no `hardware:` section binding stations to devices")
        self.targets = resolve_targets(scenario, self.plant)
        self.tag = f"{scenario.name}-{uuid.uuid4().hex[:8]}"
        if self.scenario_dir is None and scenario.resolved.base_dir is not None:
            self.scenario_dir = scenario.resolved.base_dir

    def recover(self, out_dir: Path) -> None:
        """Before the run's writer clears it: the decisions an earlier run on the same output
        folder (interrupted, or ended with a device away) could not deliver, to send first."""
        from adapters.opcua.dispositions import pending_from
        from twin.writer import PARTIAL_SUFFIX

        out_dir = Path(out_dir)
        self.carried = pending_from([out_dir.with_name(out_dir.name + PARTIAL_SUFFIX), out_dir])
        if self.carried:
            log.info("%d undelivered decision(s) from an earlier run will be sent first", len(self.carried))

    def _needs(self, scenario: "Scenario") -> dict:
        """What each bound station asks of its device, and the nominal program duration of
        the plant file's device spec (used only when the device gives none)."""
        from adapters.opcua.link import Need
        from plant.metrology import measure_duration_s
        from plant.press import nominal_cycle_s
        from twin.stations.batch import BatchConfig

        out = {}
        for name, t in self.targets.items():
            st = scenario.stations.get(name)
            role = st.device_role() if st is not None else "glovebox"
            need = Need(role or "glovebox")
            if role == "press":
                assert isinstance(st, BatchConfig) and st.press is not None
                need.capacity_cells = st.batch.capacity_cells
                need.pressure_mpa = st.press.recipe.target_pressure_mpa
                need.temperature_c = st.press.recipe.temperature_c
                if t.spec is not None:
                    need.fallback_nominal_s = nominal_cycle_s(t.spec, st.press.recipe)
            elif role == "profilometer" and t.spec is not None:
                need.fallback_nominal_s = measure_duration_s(t.spec, 1)
            out[name] = need
        return out

    async def _link(self, scenario: "Scenario", env: Any) -> Any:
        from adapters.opcua import ProfileError, binding_profiles, build_link
        from plant.security import ensure_certificate

        assert scenario.hardware is not None
        conn = scenario.hardware.connection
        try:
            credentials = conn.credentials.resolve(self.scenario_dir)
            profiles = binding_profiles(scenario.hardware, self.scenario_dir)
        except (ValueError, ProfileError) as exc:
            raise HilSetupError(str(exc)) from exc
        cert = None
        if conn.security_policy != "None":
            cert = await ensure_certificate(conn.client_cert_dir.expanduser(), CLIENT_CERT_NAME,
                                            conn.application_uri, "127.0.0.1", client=True)
        server_check = self.server_check
        if server_check is None and conn.security_policy != "None":  # issue 12: only trusted servers, pinned
            from adapters.pki import ServerTrust, plant_own_dir

            own = plant_own_dir(self.plant)
            server_check = ServerTrust(conn.server_trust_dir or conn.client_cert_dir.expanduser() / "servers",
                                       [own] if own is not None else []).check_async
        targets = {name: (t.device, t.endpoint) for name, t in self.targets.items()}
        try:
            return build_link(env, scenario.hardware, targets, self._needs(scenario), profiles, credentials, cert,
                              self.tag, self.time_scale, server_check)
        except ProfileError as exc:
            raise HilSetupError(str(exc)) from exc

    async def run_async(self, scenario: "Scenario", seed: int, writer: "RunWriter | None") -> dict[str, Any]:
        from adapters.opcua import BindingMismatch, ConfigurationRefused, DeviceUnavailable, hardware_ports
        from adapters.sim import sim_ports
        from twin.clock import AsyncRealtimeEnvironment
        from twin.line import Line
        from twin.replication import quality_keys
        from twin.store import cell_row
        from twin.streams import Streams

        hw = scenario.hardware
        assert hw is not None
        tag = self.tag
        keys = quality_keys(scenario)
        env = AsyncRealtimeEnvironment(time_scale=self.time_scale, on_lag=hw.on_lag, lag_threshold_s=hw.lag_threshold_s)
        link = await self._link(scenario, env)
        listeners: list[Any] = []
        if writer is not None:
            listeners.append(writer.trace.add_disposition)
        ports, outbox = hardware_ports(link, sim_ports(env, scenario, Streams(seed, 0).generator), listeners)
        line = Line(scenario, 0, seed=seed, env=env, ports=ports)
        from adapters.observe import emit

        emit("hil_start", env=env, line=line, link=link, scenario=scenario)  # the live view's hook
        written = {"visits": 0}
        if writer is not None:
            trace = writer.trace

            def write_cell(cell: Any) -> None:
                trace.add_cells([cell_row(0, cell, keys)])
                trace.add_visits(0, line.visits[written["visits"]:])
                written["visits"] = len(line.visits)

            line.recorder.on_cell_finished.append(write_cell)
            link.run_listeners.append(lambda r: trace.add_device_run(dict(r.__dict__)))
        for rec in self.carried:  # kept in this run's trace too, until delivered
            outbox.queue(dict(rec))
        wall0 = time.time()
        try:
            try:
                await link.open()
            except DeviceUnavailable as exc:
                raise EquipmentUnreachable(f"equipment not reachable: {exc}") from exc
            except ConfigurationRefused as exc:
                raise HilSetupError(str(exc)) from exc
            except BindingMismatch as exc:
                raise HilSetupError(str(exc)) from exc
            outbox.start()
            line.start()
            try:
                await link.guard(env.run(until=scenario.run.duration_h))
                drained = await link.guard(self._drain(env, line, hw.drain_limit_h)) if hw.drain else False
            except ConfigurationRefused as exc:
                raise HilSetupError(str(exc)) from exc
            kpis = line.kpis()
        finally:
            await env.aclose()
            await outbox.close(flush_timeout_s=hw.connection.give_up_s)
            await link.close()
            if writer is not None:
                unfinished = [cell_row(0, c, keys) for c in line.cells if c.outcome is None]
                writer.trace.add_cells(unfinished)  # cells still in process keep their record too
                writer.trace.add_visits(0, line.visits[written["visits"]:])
                writer.trace.add_run(0, seed, {})
                writer.cells.add([cell_row(0, c, keys) for c in line.cells])
                writer.replications_committed.append(0)
                writer.finish_cells()
        return self._summary(scenario, seed, kpis, env, link, outbox, line, drained, time.time() - wall0, tag)

    async def _drain(self, env: Any, line: Any, limit_h: float) -> bool:
        """Release no more cells, let batch machines run part-filled batches, and run until
        the line is empty or the drain limit."""
        line.drain()
        if line.wip_level == 0:
            return True
        empty = env.event()

        def check(cell: Any) -> None:
            if line.wip_level == 0 and not empty.triggered:
                empty.succeed()

        line.recorder.on_cell_finished.append(check)
        limit = env.timeout(limit_h)
        await env.run(until=env.any_of([empty, limit]))
        return bool(empty.triggered)

    def _summary(self, scenario: "Scenario", seed: int, kpis: dict, env: Any, link: Any, outbox: Any, line: Any,
                 drained: bool, wall_s: float, tag: str) -> dict[str, Any]:
        from twin.simulation import summarise

        summary = summarise(scenario, [kpis], seed)
        summary.update(sim_time_h=env.now - scenario.run.warmup_h, duration_h=env.now)
        stats = env.stats()
        summary["hardware"] = {
            "plant": self.plant.name, "time_scale": self.time_scale, "tag": tag, "wall_s": wall_s,
            "bindings": {n: {"device": t.device, "endpoint": t.endpoint} for n, t in self.targets.items()},
            "drained": drained, "cells_in_process": line.wip_level,
            "clock": {"events": stats.events, "late_events": stats.late_events, "lag_mean_ms": stats.mean_s * 1e3,
                      "lag_p95_ms": stats.p95_s * 1e3, "lag_max_ms": stats.max_s * 1e3, "rebases": stats.rebases,
                      "external_completions": stats.external},
            "timing": _timing(link.runs),
            **link.report(),
            **outbox.report(),
        }
        return summary


def _timing(runs: list[Any]) -> dict[str, Any]:
    """How the cycle times the twin saw compare with what the devices report: the delay is
    polling and publishing latency in simulated seconds (a constant per cycle); the slope of
    seen against reported durations far from 1 means the twin's time scale is not the plant's."""
    import numpy as np

    ok = [r for r in runs if r.ok and r.device_duration_s > 0]
    seen = np.array([(r.sim_end_h - r.sim_start_h) * 3600.0 for r in ok])
    told = np.array([r.device_duration_s for r in ok])
    if not len(seen):
        return {"runs": 0}
    out: dict[str, Any] = {"runs": int(len(seen)), "median_delay_sim_s": float(np.median(seen - told)),
                           "p95_delay_sim_s": float(np.percentile(seen - told, 95))}
    if np.ptp(told) > 0.2 * np.max(told):  # cycles of different lengths: the slope is defined
        slope = float(np.polyfit(told, seen, 1)[0])
        out["slope_seen_over_device"] = slope
        if not 0.7 < slope < 1.4:
            log.warning("cycles took %.2fx longer per second of device time than the devices report: is the "
                        "plant served at the same --time-scale as the twin?", slope)
    return out
