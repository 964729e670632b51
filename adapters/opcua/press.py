"""Press cycles on bound presses (the PressPort); unbound stations use the fallback port.

Each call returns a SimPy event from `env.run_coroutine`, so the twin's real-time clock
wakes the moment the device reports. A coroutine here never raises into the simulation:
when a cycle's data cannot be trusted (device lost or restarted mid-cycle, fault
reported, a value Uncertain or Bad, gap in the trace, no result in time) the measurement
says so (`ok=False`) and the batch station quarantines its cells. When a start fails and
nothing was pressed (device unreachable, faulted, busy, refusing), the cells are held: the
start is tried again with the same SupervisoryJobId until it is accepted, and they are
never reported as pressed. If the twin stops meanwhile, they stay in process.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from datetime import datetime, timezone
from typing import Any, Sequence

import simpy

from adapters import observe
from adapters.opcua.link import Bound, DeviceRun, HardwareLink
from adapters.opcua.linklog import ConfigurationRefused
from adapters.opcua.programs import (CycleLost, StartAttempt, StartFailed, clear_if_needed, estimated_wall_s,
                                     start_program, wait_result)
from adapters.opcua.results import finite, plain, press_result_problems, quality_problems, status_text
from adapters.ports import PressMeasurement

log = logging.getLogger(__name__)
CONFIG_REFUSALS = frozenset({"BadUserAccessDenied", "BadArgumentsMissing", "BadTooManyArguments", "refused"})
PRESS_REQUIRED = ("sample_ids", "cell_pressure_mpa", "cell_pressure_cv", "_stopped")


async def _hold_start(link: HardwareLink, b: Bound, run: DeviceRun, template: str, properties: dict[str, Any],
                      attempt: StartAttempt) -> tuple[str, str]:
    """Start the program, holding the samples while starts fail: an unreachable or busy
    (BadInvalidState) device is tried again with the same SupervisoryJobId; a refusal of the
    request itself (recipe, arguments, role) is reported and not retried, the samples held
    until the twin stops. Never returns without a RunId."""
    assert b.nodes is not None
    conn = link.hardware.connection
    delay = conn.backoff_initial_s
    held_since: float | None = None
    while True:
        try:
            started = await start_program(b.session, b.nodes, template, properties, attempt, run.samples,
                                          time.monotonic() + conn.give_up_s, conn.backoff_max_s)
            run.start_failures = max(run.start_failures, attempt.refusals)
            held_since = attempt.held_since if held_since is None else min(held_since, attempt.held_since or held_since)
            if held_since is not None:
                run.held_s = time.monotonic() - held_since
                log.info("%s started on %s after %.1f s held", run.job_id, b.binding.device, run.held_s)
            run.problem = ""
            return started
        except StartFailed as exc:  # nothing pressed: hold the cells
            run.start_failures += 1
            held_since = held_since or time.monotonic()
            run.problem = f"held: {exc}"
            if not exc.retry:
                log.error("start of %s on %s refused (%s): cells held, not retried", run.job_id,
                          b.binding.device, exc)
                link.note_refusal(run, str(exc))
                if exc.status in CONFIG_REFUSALS:  # the login, role or profile is wrong: stop the run (exit 2)
                    link.fail(ConfigurationRefused(f"{b.binding.device} at {b.session.endpoint}: the start was "
                                                   f"refused with {exc.status} (hardware.bindings.{b.name}: "
                                                   f"check the credentials' role and the profile)"))
                await asyncio.Event().wait()  # until the twin stops (cancelled)
            if run.start_failures == 1:
                log.warning("start of %s on %s failed (%s): cells held, retrying", run.job_id, b.binding.device, exc)
            await asyncio.sleep(delay)
            delay = min(2 * delay, max(conn.backoff_max_s, conn.disposition_retry_s))


async def run_program(link: HardwareLink, b: Bound, run: DeviceRun, properties: dict[str, Any],
                      required: Sequence[str]) -> dict[str, Any] | None:
    """Start one program on the bound device (holding the samples while starts fail) and
    wait for its Result: field -> value in the twin's units, or None with `run.status` and
    `run.problem` saying why. Cancelled (the twin stops): the run is recorded as Abandoned
    (NotStarted while its samples were held) and the cancellation goes on."""
    assert b.nodes is not None
    session, nodes, conn = b.session, b.nodes, link.hardware.connection
    template = b.binding.template or nodes.section.template
    attempt = StartAttempt(run.job_id)
    t_start = time.monotonic()
    observe.emit("run_start", **run.__dict__)
    try:
        run.run_id, instance = await _hold_start(link, b, run, template, properties, attempt)
        watch = session.watches.get(nodes.state)
        seen = watch.notifications if watch is not None else None
        run.start_ms = attempt.start_ms
        t_start = time.monotonic()
        factor = b.binding.cycle_timeout_factor

        async def device_estimate() -> float | None:
            """Only when the nominal deadline passes: the started program's own EstimatedRuntime."""
            est = await estimated_wall_s(session, nodes)
            return None if est is None else t_start + factor * est + conn.give_up_s

        if math.isfinite(b.nominal_s):
            deadline = t_start + factor * b.nominal_s / link.time_scale + conn.give_up_s
        else:  # no nominal known before the run: the device's estimate for this run (P5), read now
            deadline = await device_estimate() or t_start + conn.give_up_s
        readings = await wait_result(session, nodes, run.run_id, instance, deadline, conn.poll_s,
                                     b.binding.sampling_ms, b.binding.completion == "subscription", seen,
                                     device_estimate)
    except CycleLost as exc:
        run.status, run.problem = "Lost", str(exc)
        return None
    except ConfigurationRefused as exc:
        run.status, run.problem = "Lost", str(exc)
        link.fail(exc)
        return None
    except asyncio.CancelledError:
        run.status = "Abandoned" if run.run_id else "NotStarted"
        run.problem = run.problem or "the twin stopped before the result"
        link.finish(run)
        raise
    except Exception as exc:  # an adapter bug must quarantine, not crash the line
        log.exception("%s on %s failed", template, b.binding.device)
        run.status, run.problem = "Lost", repr(exc)
        return None
    now = time.time()
    stopped = readings.get("_stopped")
    if stopped is not None and isinstance(stopped.value, datetime):
        run.completion_ms = (now - _epoch(stopped.value)) * 1e3
    if watch is not None and watch.last is not None and watch.notifications > (seen or 0):
        if watch.last.source_time is not None:
            run.notified_ms = (watch.arrived - _epoch(watch.last.source_time)) * 1e3
        run.read_ms = (now - watch.arrived) * 1e3
    values = plain(readings, nodes.section)
    run.status = status_text(values)
    run.device_duration_s = finite(values.get("duration_s"))
    run.problem = "; ".join(quality_problems(readings, required))
    if run.status not in nodes.section.completed:
        await clear_if_needed(session, nodes, conn.call_timeout_s)
    return values


def _epoch(t: datetime) -> float:
    return t.replace(tzinfo=t.tzinfo or timezone.utc).timestamp()


def recipe_properties(recipe: Any) -> dict[str, Any]:
    return {k: v for k, v in recipe.model_dump().items() if v is not None}


class OpcuaPressPort:
    """Press cycles on bound presses; unbound stations use `fallback`."""

    def __init__(self, link: HardwareLink, fallback: Any) -> None:
        self.link = link
        self.env = link.env
        self.fallback = fallback

    def cycle(self, station: str, recipe: Any, cells: Sequence[Any]) -> simpy.Event:
        b = self.link.bound.get(station)
        if b is None:
            return self.fallback.cycle(station, recipe, cells)
        link = self.link
        run = DeviceRun(station, b.binding.device, link.next_job(station), [link.sample_id(c) for c in cells],
                        wall_start=time.time(), sim_start_h=self.env.now)
        return self.env.run_coroutine(self._cycle(b, run, recipe))

    async def _cycle(self, b: Bound, run: DeviceRun, recipe: Any) -> PressMeasurement:
        values = await run_program(self.link, b, run, recipe_properties(recipe), PRESS_REQUIRED)
        if values is not None:
            section = b.nodes.section if b.nodes is not None else None
            problems = [run.problem] if run.problem else []
            problems += press_result_problems(values, run.samples, section, run.job_id)
            run.problem = "; ".join(problems)
        run.ok = values is not None and not run.problem
        self.link.finish(run)
        if not run.ok or values is None:
            log.warning("run %s (%s) on %s quarantined: %s", run.run_id or "-", run.job_id, b.binding.device,
                        run.problem)
            return PressMeasurement(run.run_id or run.job_id, False, run.status, 0.0, 0.0, math.nan, [], [],
                                    faults=[f"{b.binding.device}: {run.problem}"])
        return PressMeasurement(
            run_id=run.run_id, ok=True, status=run.status,
            duration_s=finite(values.get("duration_s"), 0.0),
            hold_duration_s=finite(values.get("hold_duration_s"), 0.0),
            mean_temperature_c=finite(values.get("mean_temperature_c")),
            cell_pressure_mpa=[float(x) for x in values["cell_pressure_mpa"]],
            cell_pressure_cv=[float(x) for x in values["cell_pressure_cv"]],
            summary={k: v for k, v in values.items() if k != "trace" and not k.startswith("_")},
        )


def true_surface_property(sample: str, surface: dict | None) -> dict[str, str]:
    """The emulator-only property telling a profilometer a cell's true surface."""
    return {"true_surfaces": json.dumps({sample: surface})} if surface else {}
