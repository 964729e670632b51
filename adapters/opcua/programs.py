"""Program runs on a functional unit, as a profile maps them: StartProgram reconciled by
SupervisoryJobId, completion seen from the unit's state machine by subscription (polling
only as a fallback), the Result read once its Stopped time is set.

A start either returns the RunId, or raises `StartFailed` (nothing was started: the
device was unreachable, busy, faulted or refused; the cells were not pressed and may be
held and tried again) or `CycleLost` (a start may have reached a device that then restarted:
the cells' fate is unknown). A call whose answer was lost is repeated only on the same
server instance, where the job id makes it idempotent.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

from asyncua import ua
from asyncua.ua.ua_binary import Primitives

from adapters.opcua.linklog import (NOT_FOUND, ConfigurationRefused, DeviceRefused, DeviceUnavailable, LinkLost,
                                    Reading, wait_event)
from adapters.opcua.paths import Path, join, substitute
from adapters.opcua.profiles import Profile, Program, to_device, to_twin
from adapters.opcua.session import DeviceSession, Watch

log = logging.getLogger(__name__)
LADS_NS = "http://opcfoundation.org/UA/LADS/"
KEY_VALUE_BINARY = 5045  # LADS KeyValueType "Default Binary" encoding (Key, Value: String)
SAMPLE_INFO_BINARY = 5042  # LADS SampleInfoType "Default Binary" (ContainerId, SampleId, Position, CustomData)
STOPPED, JOB, STATUS = "_stopped", "_job", "_status"


class CycleLost(Exception):
    """A program's outcome cannot be trusted; its cells are quarantined."""


class StartFailed(Exception):
    """No program was started: the cells were not touched and may be held and retried."""

    def __init__(self, message: str, status: str = "", retry: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retry = retry  # False: the device refused the request itself (recipe, arguments, role)


@dataclass
class ProgramNodes:
    """A profile's program section as paths below the device object."""

    section: Program
    unit: Path
    start_object: Path
    start_method: Path
    state: Path
    results: Path
    result_name: Path
    templates: Path
    template_name: Path | None
    result_fields: dict[str, Path] = field(default_factory=dict)
    active_runtime: Path | None = None
    clear: tuple[Path, Path] | None = None

    @classmethod
    def of(cls, profile: Profile, section: Program) -> "ProgramNodes":
        p = profile.path
        unit = p(section.unit)
        fields = {k: p(v.path) for k, v in section.values.items()}
        fields[STOPPED] = p(section.stopped)
        fields[JOB] = p(section.job)
        if section.status is not None:
            fields[STATUS] = p(section.status)
        runtime = join(unit, p(section.active_runtime.path)) if section.active_runtime is not None else None
        clear = ((join(unit, p(section.clear.object)), join(unit, p(section.clear.method)))
                 if section.clear is not None else None)
        return cls(section, unit, join(unit, p(section.start.object)), join(unit, p(section.start.method)),
                   join(unit, p(section.state)), join(unit, p(section.results)), p([section.result_name]),
                   join(unit, p(section.templates)),
                   p([section.template_name]) if section.template_name else None, fields, runtime, clear)

    def result(self, run_id: str) -> Path:
        return join(self.results, substitute(self.result_name, run_id=run_id))

    def template(self, template: str) -> Path | None:
        if self.template_name is None:
            return None
        return join(self.templates, substitute(self.template_name, template=template))


def _struct(namespaces: Any, encoding_id: int, *strings: str) -> ua.ExtensionObject:
    """An all-String structure (LADS KeyValueType, SampleInfoType) in its binary encoding."""
    body = b"".join(Primitives.String.pack(s) for s in strings)
    return ua.ExtensionObject(TypeId=ua.NodeId(ua.Int32(encoding_id), namespaces.index[LADS_NS]), Body=ua.ByteString(body))


def start_arguments(session: DeviceSession, section: Program, template: str, properties: Mapping[str, Any],
                    job: str, samples: Sequence[str]) -> list[ua.Variant]:
    """The start method's input arguments in the order and encodings the profile gives."""
    ns = session.namespaces
    props: list[tuple[str, str]] = []
    for key, value in properties.items():
        prop = section.recipe.get(key)
        if prop is None:  # passed through as given (e.g. an emulator-only key)
            props.append((key, value if isinstance(value, str) else repr(float(value))))
        else:
            props.append((prop.key, repr(float(to_device(float(value), prop.unit, key)))))
    out = []
    for arg in section.start.arguments:
        if arg.kind == "template":
            out.append(ua.Variant(template, ua.VariantType.String))
        elif arg.kind in ("job", "task"):
            out.append(ua.Variant(job if arg.kind == "job" else f"{job}/t1", ua.VariantType.String))
        elif arg.kind == "properties" and arg.encoding == "key_values":
            out.append(ua.Variant([_struct(ns, KEY_VALUE_BINARY, k, v) for k, v in props],
                                  ua.VariantType.ExtensionObject, is_array=True))
        elif arg.kind == "properties":
            import json
            out.append(ua.Variant(json.dumps(dict(props)), ua.VariantType.String))
        elif arg.encoding == "sample_info":
            out.append(ua.Variant([_struct(ns, SAMPLE_INFO_BINARY, "", s, str(i), "") for i, s in enumerate(samples)],
                                  ua.VariantType.ExtensionObject, is_array=True))
        else:
            out.append(ua.Variant(list(samples), ua.VariantType.String, is_array=True))
    return out


@dataclass
class StartAttempt:
    """What is known of a job's start across retries (held cells keep their attempt)."""

    job: str
    sent_to: str | None = None  # the server instance a start with an unknown outcome went to
    tries: int = 0
    refusals: int = 0  # starts refused with a retryable status (nothing started)
    held_since: float | None = None  # monotonic time of the first failed start
    start_ms: float = float("nan")  # round trip of the accepted call


async def start_program(session: DeviceSession, nodes: ProgramNodes, template: str, properties: Mapping[str, Any],
                        attempt: StartAttempt, samples: Sequence[str], busy_deadline: float,
                        retry_s: float) -> tuple[str, str]:
    """StartProgram, reconciled by SupervisoryJobId; (RunId, server instance)."""
    while True:
        try:
            await session.connect()
        except DeviceUnavailable as exc:
            if attempt.sent_to is not None:
                raise CycleLost(f"{session.device} lost before confirming job {attempt.job} ({exc})") from exc
            raise StartFailed(str(exc), "unreachable") from exc
        except ConfigurationRefused as exc:
            raise StartFailed(str(exc), "refused", retry=False) from exc
        if attempt.sent_to is not None and session.instance != attempt.sent_to:
            raise CycleLost(f"{session.device} restarted before confirming job {attempt.job}")
        instance = session.instance
        assert instance is not None
        args = start_arguments(session, nodes.section, template, properties, attempt.job, samples)
        attempt.tries += 1
        try:
            attempt.sent_to = instance
            t0 = time.perf_counter()
            out = await session.method(nodes.start_object, nodes.start_method, *args, retry=False)
            attempt.start_ms = 1e3 * (time.perf_counter() - t0)
            attempt.sent_to = None
            return str(out[0]), instance
        except LinkLost as exc:
            if time.monotonic() > busy_deadline:  # connecting works, the start is never answered
                raise CycleLost(f"start of job {attempt.job} not confirmed in time ({exc})") from exc
            continue
        except DeviceRefused as exc:
            attempt.sent_to = None  # refused: nothing started
            retry = exc.status in nodes.section.retry_statuses
            attempt.refusals += 1
            attempt.held_since = attempt.held_since or time.monotonic()
            if retry and time.monotonic() < busy_deadline:
                await asyncio.sleep(retry_s)  # busy or faulted for a moment: wait for it
                continue
            raise StartFailed(f"{session.device} refused the start: {exc.status}", exc.status, retry) from exc


async def estimated_wall_s(session: DeviceSession, nodes: ProgramNodes) -> float | None:
    """The started program's EstimatedRuntime (wall seconds), if the device gives it."""
    spec = nodes.section.active_runtime
    if nodes.active_runtime is None or spec is None:
        return None
    try:
        r = (await session.read([nodes.active_runtime], retry=False))[0]
    except (LinkLost, DeviceRefused):
        return None
    if not r.good or r.value is None:
        return None
    value = to_twin(float(r.value), spec.unit, "runtime_s")
    return value if value > 0 else None


async def clear_if_needed(session: DeviceSession, nodes: ProgramNodes, timeout_s: float) -> None:
    """After a run that did not complete, wait (at most `timeout_s`) for the unit to leave its
    running states and, if it is in a state that needs it (Aborted), acknowledge it (LADS
    Clear) so the next start is accepted. Best effort: a refusal is logged, and a start
    refused meanwhile is retried anyway (BadInvalidState)."""
    if nodes.clear is None:
        return
    watch = await session.watch(nodes.state, 50.0)
    end = time.monotonic() + timeout_s
    state = None
    while time.monotonic() < end:
        watch.changed.clear()
        try:
            state = state_name((await session.read([nodes.state], retry=False))[0])
        except (LinkLost, DeviceRefused):
            state = None
        if state is not None and state not in nodes.section.running_states:
            break
        await wait_event(watch.changed, min(0.5, end - time.monotonic()))
    if state not in nodes.section.clear_states:
        return
    try:
        await session.method(*nodes.clear, retry=False)
        log.info("%s: unit cleared after a run ended %s", session.device, state)
    except (LinkLost, DeviceRefused) as exc:
        log.warning("%s: Clear refused (%s)", session.device, exc)


NULL_DATETIME_BEFORE = datetime(1601, 1, 2)  # OPC UA's null DateTime (0 = 1601-01-01) decodes as a date


def is_set(value: Any) -> bool:
    """A DateTime that was written: not None and not OPC UA's null DateTime."""
    if value is None:
        return False
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) > NULL_DATETIME_BEFORE
    return True


def _final(values: Mapping[str, Reading]) -> bool:
    stopped = values.get(STOPPED)
    return stopped is not None and stopped.good and is_set(stopped.value)


async def read_result(session: DeviceSession, nodes: ProgramNodes, run_id: str,
                      cheap_first: bool = True) -> dict[str, Reading] | None:
    """Every field of the Result of `run_id` in one read, once it is final (Stopped set);
    None while it is not there or not final. `cheap_first`: look at Stopped alone first (a
    poll that is likely too early)."""
    base = nodes.result(run_id)
    if not session.resolved(nodes.results):  # once per connection: fields then resolve below it
        await session.resolve([nodes.results], retry=False)
    if cheap_first:
        stopped = await session.read([join(base, nodes.result_fields[STOPPED])], retry=False)
        if not _final({STOPPED: stopped[0]}):
            return None
    keys = list(nodes.result_fields)
    got = await session.read([join(base, nodes.result_fields[k]) for k in keys], retry=False)
    values = dict(zip(keys, got))
    return values if _final(values) else None


def state_name(r: Reading | None) -> str | None:
    """A state variable's value as text (LocalizedText or String)."""
    if r is None or r.value is None:
        return None
    v = r.value
    return str(v.Text if isinstance(v, ua.LocalizedText) else v)


async def wait_result(session: DeviceSession, nodes: ProgramNodes, run_id: str, instance: str,
                      deadline: float, fallback_poll_s: float, sampling_ms: float = 50.0,
                      subscribe: bool = True, seen: int | None = None,
                      extend: Callable[[], Awaitable[float | None]] | None = None) -> dict[str, Reading]:
    """The Result of `run_id` once final: read when the subscribed unit state leaves its
    running states with a notification newer than the start (`seen`: the watch's count when
    the start returned), and every `fallback_poll_s` when no notification comes. At `deadline`,
    `extend()` may give a later one once (the device's own estimate); then CycleLost, as when
    the device restarted."""
    watch = await session.watch(nodes.state, sampling_ms) if subscribe else Watch(nodes.state, sampling_ms)
    running = nodes.section.running_states
    seen = watch.notifications if seen is None else seen
    poll = not watch.subscribed  # without a subscription: look at once
    while True:
        try:
            await session.connect()
        except DeviceUnavailable as exc:
            raise CycleLost(f"no result for {run_id}: {exc}") from exc
        if session.instance != instance:
            raise CycleLost(f"{session.device} restarted during run {run_id}")
        watch.changed.clear()
        done = watch.subscribed and watch.notifications > seen and state_name(watch.last) not in running
        if poll or done:
            try:
                values = await read_result(session, nodes, run_id, cheap_first=not done)
            except LinkLost:
                values = None
            except DeviceRefused as exc:
                if exc.status not in NOT_FOUND:
                    raise CycleLost(f"reading the result of {run_id}: {exc.status}") from exc
                values = None
            if values is not None:
                return values
        left = deadline - time.monotonic()
        if left <= 0 and extend is not None:
            later, extend = await extend(), None
            if later is not None and later > deadline:
                deadline, left = later, later - time.monotonic()
        if left <= 0:
            raise CycleLost(f"no result for {run_id} in time")
        # no word from the subscription in time: read anyway
        poll = not await wait_event(watch.changed, min(fallback_poll_s, left))


def number(r: Reading | None, unit: str, key: str) -> float | None:
    """A scalar value converted to the twin's unit of `key` (None when absent)."""
    if r is None or r.value is None:
        return None
    return to_twin(float(r.value), unit, key)
