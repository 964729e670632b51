"""The facade of a hardware-in-the-loop run: `HardwareRun(scenario, plant).run(out_dir)`.

The scenario's `hardware:` section binds stations (and glovebox resources) to devices of
the plant file; every other station stays simulated. The line runs once, paced by the
real-time clock at the plant's time scale. Each finished cell, each device run and each
disposition is committed to `trace.sqlite` as it happens, so a crash loses nothing already
recorded; `summary.json` gets a `hardware` section saying what happened on every link.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from plant.plantfile import DeviceConfig, PlantFile
from twin.scenario import BatchStation, MetrologyStation, Scenario
from twin.simulation import RunResult, judge, json_safe, summarise

CLIENT_CERT_NAME = "twin-client"
log = logging.getLogger(__name__)


class HilSetupError(Exception):
    """The run cannot start: a binding, the credentials or the equipment is not usable."""


@dataclass
class _Target:
    name: str
    device: str
    endpoint: str
    config: DeviceConfig | None


def _targets(scenario: Scenario, plant: PlantFile) -> dict[str, _Target]:
    """Binding name -> device and endpoint; the kind of device must fit what is bound."""
    assert scenario.hardware is not None
    devices = {d.name: d for d in plant.devices}
    out = {}
    for name, b in scenario.hardware.bindings.items():
        cfg = devices.get(b.device)
        if cfg is None and b.endpoint is None:
            raise HilSetupError(f"hardware.bindings.{name}.device: '{b.device}' is not in plant '{plant.name}' "
                                f"(devices: {', '.join(devices)}) and no endpoint is given")
        if cfg is not None:
            st = scenario.stations.get(name)
            want = ("press" if isinstance(st, BatchStation) else "profilometer" if isinstance(st, MetrologyStation)
                    else "glovebox")
            got = "press" if cfg.is_press else cfg.kind
            if want != got:
                raise HilSetupError(f"hardware.bindings.{name}.device: '{b.device}' is a {got}, "
                                    f"but '{name}' needs a {want}")
        endpoint = b.endpoint or f"opc.tcp://{plant.host}:{cfg.port}"
        out[name] = _Target(name, b.device, endpoint, cfg)
    return out


class HardwareRun:
    """One replication of a scenario with some stations on OPC UA equipment."""

    def __init__(self, scenario: Scenario, plant: PlantFile, *, time_scale: float | None = None,
                 seed: int | None = None, scenario_dir: Path | None = None) -> None:
        if scenario.hardware is None:
            raise HilSetupError("the scenario has no `hardware:` section binding stations to devices")
        self.scenario = scenario
        self.plant = plant
        self.hardware = scenario.hardware
        self.time_scale = float(time_scale or plant.time_scale)
        self.seed = scenario.run.seed if seed is None else seed
        self.scenario_dir = scenario_dir
        self.targets = _targets(scenario, plant)
        self.tag = f"{scenario.name}-{uuid.uuid4().hex[:8]}"

    def run(self, out_dir: str | Path) -> RunResult:
        """Blocking: run on a fresh event loop."""
        return asyncio.run(self.run_async(out_dir))

    async def _sessions(self) -> dict:
        from adapters.session import DeviceSession
        from plant.security import ensure_certificate

        conn = self.hardware.connection
        try:
            credentials = conn.credentials.resolve(self.scenario_dir)
        except ValueError as exc:
            raise HilSetupError(str(exc)) from exc
        cert = None
        if conn.security_policy != "None":
            cert = await ensure_certificate(conn.client_cert_dir.expanduser(), CLIENT_CERT_NAME,
                                            conn.application_uri, "127.0.0.1", client=True)
        return {name: DeviceSession(t.device, t.endpoint, conn, credentials, cert) for name, t in self.targets.items()}

    def _wall_estimates(self):
        """Nominal wall durations of a press cycle / a measurement on each bound device."""
        from plant.metrology import load_profilometer_spec, measure_duration_s
        from plant.press import load_press_spec, nominal_cycle_s

        specs = {}
        for name, t in self.targets.items():
            st = self.scenario.stations.get(name)
            if isinstance(st, BatchStation):
                specs[name] = load_press_spec(t.config.spec or t.config.kind if t.config else st.press.spec)
            elif isinstance(st, MetrologyStation):
                specs[name] = load_profilometer_spec(t.config.spec if t.config and t.config.spec else st.instrument)
        ts = self.time_scale
        return (lambda station, recipe: nominal_cycle_s(specs[station], recipe) / ts,
                lambda station: measure_duration_s(specs[station], 1) / ts)

    async def run_async(self, out_dir: str | Path) -> RunResult:
        from adapters.opcua import HardwareLink, hardware_ports
        from adapters.session import DeviceUnavailable
        from adapters.sim import sim_ports
        from twin.clock import AsyncRealtimeEnvironment
        from twin.line import Line
        from twin.store import ParquetCells, TraceStore, cell_row
        from twin.streams import Streams

        sc, hw = self.scenario, self.hardware
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("trace.sqlite", "trace.sqlite-wal", "trace.sqlite-shm", "cells.parquet", "summary.json"):
            (out / name).unlink(missing_ok=True)
        env = AsyncRealtimeEnvironment(time_scale=self.time_scale, on_lag=hw.on_lag,
                                       lag_threshold_s=hw.lag_threshold_s)
        link = HardwareLink(env, hw, await self._sessions(), self.tag, self.time_scale)
        press_wall_s, metrology_wall_s = self._wall_estimates()
        ports = hardware_ports(link, sim_ports(env, sc, Streams(self.seed, 0)), press_wall_s, metrology_wall_s)
        line = Line(sc, 0, seed=self.seed, env=env, ports=ports)
        store = TraceStore(out / "trace.sqlite")
        written = {"visits": 0}

        def write_cell(cell) -> None:
            store.add_cells([cell_row(0, cell)])
            store.add_visits(0, line.visits[written["visits"]:])
            written["visits"] = len(line.visits)

        line.on_finish = write_cell
        link.on_run = _chain(link.on_run, lambda r: store.add_device_run(dict(r.__dict__)))
        link.on_disposition = lambda rec: store.add_disposition(rec)
        wall0 = time.time()
        try:
            try:
                await link.open()
            except DeviceUnavailable as exc:
                raise HilSetupError(f"equipment not reachable: {exc}") from exc
            line.start()
            await env.run(until=sc.run.duration_h)
            drained = await self._drain(env, line) if hw.drain else False
            kpis = line.kpis()
        finally:
            await env.aclose()
            await link.close(flush_timeout_s=hw.connection.give_up_s)
            for cell in line.cells:  # cells still in process keep their record too
                if cell.outcome is None:
                    store.add_cells([cell_row(0, cell)])
            store.add_visits(0, line.visits[written["visits"]:])
            store.close()
            parquet = ParquetCells(out / "cells.parquet")
            parquet.add([cell_row(0, c) for c in line.cells])
            parquet.close()
        return self._finish(out, kpis, env, link, line, drained, time.time() - wall0)

    async def _drain(self, env, line) -> bool:
        """Release no more cells, let batch machines run part-filled batches, and run
        until the line is empty or the drain limit."""
        line.source.stop()
        for station in line.stations.values():
            if hasattr(station, "flush"):
                station.flush()
        if line.wip.level == 0:
            return True
        empty = env.event()
        previous = line.on_finish

        def check(cell) -> None:
            previous(cell)
            if line.wip.level == 0 and not empty.triggered:
                empty.succeed()

        line.on_finish = check
        limit = env.timeout(self.hardware.drain_limit_h)
        await env.run(until=env.any_of([empty, limit]))
        return empty.triggered

    def _finish(self, out: Path, kpis: dict, env, link, line, drained: bool, wall_s: float) -> RunResult:
        sc = self.scenario
        summary = summarise(sc, [kpis], self.seed)
        summary.update(sim_time_h=env.now - sc.run.warmup_h, duration_h=env.now)
        stats = env.stats()
        summary["hardware"] = {
            "plant": self.plant.name, "time_scale": self.time_scale, "tag": self.tag, "wall_s": wall_s,
            "bindings": {n: {"device": t.device, "endpoint": t.endpoint} for n, t in self.targets.items()},
            "drained": drained, "cells_in_process": int(line.wip.level),
            "clock": {"events": stats.events, "late_events": stats.late_events, "lag_mean_ms": stats.mean_s * 1e3,
                      "lag_p95_ms": stats.p95_s * 1e3, "lag_max_ms": stats.max_s * 1e3, "rebases": stats.rebases,
                      "external_completions": stats.external},
            "timing": _timing(link.runs),
            **link.report(),
        }
        expectations = judge(sc, summary)
        (out / "summary.json").write_text(json.dumps(json_safe(summary), indent=2))
        return RunResult(summary, expectations)


def _timing(runs) -> dict:
    """How the cycle times the twin saw compare with what the devices report: the delay is
    polling and publishing latency in simulated seconds (a constant per cycle); the slope of
    seen against reported durations far from 1 means the twin's time scale is not the plant's."""
    import numpy as np

    ok = [r for r in runs if r.ok and r.device_duration_s > 0]
    seen = np.array([(r.sim_end_h - r.sim_start_h) * 3600.0 for r in ok])
    told = np.array([r.device_duration_s for r in ok])
    if not len(seen):
        return {"runs": 0}
    out = {"runs": int(len(seen)), "median_delay_sim_s": float(np.median(seen - told)),
           "p95_delay_sim_s": float(np.percentile(seen - told, 95))}
    if np.ptp(told) > 0.2 * np.max(told):  # cycles of different lengths: the slope is defined
        slope = float(np.polyfit(told, seen, 1)[0])
        out["slope_seen_over_device"] = slope
        if not 0.7 < slope < 1.4:
            log.warning("cycles took %.2fx longer per second of device time than the devices report: is the "
                        "plant served at the same --time-scale as the twin?", slope)
    return out


def _chain(first, second):
    """A callback calling `first` (if any) then `second`."""
    def both(arg) -> None:
        if first is not None:
            first(arg)
        second(arg)
    return both
