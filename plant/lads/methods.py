"""Method handlers and value setters of a LADS device (docs/opcua.md sections 4.3, 5 and 10).

Every handler is a module-level ``async def name(host, parent, *args)`` behind ``@guarded(role)``
(plant.lads.access); ``bind(host)`` gives the callables the address space registers. A handler
checks argument count and types first (BadArgumentsMissing, BadTooManyArguments,
BadInvalidArgument with BadTypeMismatch per argument), then lets the device decide; the device's
ProgramError names the StatusCode. ``host`` is the plant.server.DeviceServer of the device.
"""
from __future__ import annotations

import functools
import logging
from datetime import timezone
from typing import TYPE_CHECKING, Any, Callable

from asyncua import ua

from plant.devices import ProgramError
from plant.instruments import GloveboxDevice
from plant.lads.access import guarded, is_device, require, user_name

if TYPE_CHECKING:
    from plant.server import DeviceServer

_log = logging.getLogger(__name__)
S = ua.VariantType
ArgSpec = tuple[ua.VariantType, bool, type | None]  # (variant type, is array, element class)


def check_args(args: tuple, spec: list[ArgSpec]) -> ua.CallMethodResult | None:
    """Count and type checks (docs/opcua.md P2); None if fine, else the refusal."""
    if len(args) < len(spec):
        return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadArgumentsMissing))
    if len(args) > len(spec):
        return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadTooManyArguments))
    per = []
    for a, (vt, array, cls) in zip(args, spec):
        ok = isinstance(a, ua.Variant)
        if ok and array:
            if a.VariantType == S.Null or (a.Value is None and a.VariantType == vt):
                ok = True  # an empty array sent as Null
            else:
                ok = a.VariantType == vt and isinstance(a.Value, list) and (
                    cls is None or all(isinstance(x, cls) for x in a.Value))
        elif ok:
            ok = a.VariantType == vt and not isinstance(a.Value, list) and (cls is None or isinstance(a.Value, cls))
        per.append(ua.StatusCode(ua.StatusCodes.Good if ok else ua.StatusCodes.BadTypeMismatch))
    if all(s.is_good() for s in per):
        return None
    return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadInvalidArgument),
                               InputArgumentResults=per)


def refusal(err: ProgramError) -> ua.CallMethodResult:
    """The CallMethodResult of a refused call."""
    _log.info("method refused: %s (%s)", err, err.status)
    return ua.CallMethodResult(StatusCode=ua.StatusCode(getattr(ua.StatusCodes, err.status)))


def _values(arg: ua.Variant) -> list:
    return list(arg.Value or []) if arg.VariantType != S.Null else []


@guarded("operator")
async def start_program(host: "DeviceServer", parent: ua.NodeId, *args: ua.Variant) -> Any:
    """StartProgram(ProgramTemplateId, Properties, SupervisoryJobId, SupervisoryTaskId, Samples)."""
    bad = check_args(args, [(S.String, False, None), (S.ExtensionObject, True, ua.KeyValueType),
                            (S.String, False, None), (S.String, False, None),
                            (S.ExtensionObject, True, ua.SampleInfoType)])
    if bad is not None:
        return bad
    template = args[0].Value or ""
    props = [(kv.Key or "", kv.Value or "") for kv in _values(args[1])]
    job, task = args[2].Value or "", args[3].Value or ""
    samples = _values(args[4])
    now = host.now()
    context = {"task_id": task, "properties": props, "samples": samples, "user": user_name()}
    try:
        host.retention.check_capacity(host.device, job)  # plant.retention: back-pressure, never a silent drop
        run_id = host.device.start_program(template, props, job, [s.SampleId or "" for s in samples], now,
                                           context)
    except ProgramError as err:
        return refusal(err)
    await host.pump(now)
    return [ua.Variant(run_id, S.String)]


@guarded("operator")
async def stop(host: "DeviceServer", parent: ua.NodeId, *args: ua.Variant) -> Any:
    """LADS Stop."""
    return await _transition(host, args, host.device.stop)


@guarded("operator")
async def abort(host: "DeviceServer", parent: ua.NodeId, *args: ua.Variant) -> Any:
    """LADS Abort."""
    return await _transition(host, args, host.device.abort)


@guarded("operator")
async def clear(host: "DeviceServer", parent: ua.NodeId, *args: ua.Variant) -> Any:
    """LADS Clear."""
    return await _transition(host, args, host.device.clear)


async def _transition(host: "DeviceServer", args: tuple, action: Callable[[float], None]) -> Any:
    bad = check_args(args, [])
    if bad is not None:
        return bad
    now = host.now()
    try:
        action(now)
    except ProgramError as err:
        return refusal(err)
    await host.pump(now)
    return []


@guarded("operator")
async def set_disposition(host: "DeviceServer", parent: ua.NodeId, *args: ua.Variant) -> Any:
    """plant:SetDisposition(RunId, SampleId, Decision, Reason) [ext]."""
    bad = check_args(args, [(S.String, False, None)] * 4)
    if bad is not None:
        return bad
    try:
        res = host.device.set_disposition(*(a.Value or "" for a in args))
    except ProgramError as err:
        return refusal(err)
    host.retention.disposed(res)
    await host.space.write_dispositions(res, host.now())
    return []


@guarded("operator")
async def inject_fault(host: "DeviceServer", parent: ua.NodeId, *args: ua.Variant) -> Any:
    """plant:InjectFault(Kind) [ext, test endpoints only]."""
    bad = check_args(args, [(S.String, False, None)])
    if bad is not None:
        return bad
    try:
        host.device.inject_fault(args[0].Value or "", host.now())
    except ProgramError as err:
        return refusal(err)
    await host.pump(host.now())
    return []


@guarded("anonymous")
async def max_between(host: "DeviceServer", parent: ua.NodeId, *args: ua.Variant) -> Any:
    """plant:MaxBetween(StartTime, EndTime) -> MaxO2_ppm, MaxH2O_ppm, Excursion [ext, glovebox]."""
    bad = check_args(args, [(S.DateTime, False, None)] * 2)
    if bad is not None:
        return bad
    dev = host.device
    assert isinstance(dev, GloveboxDevice)
    t0, t1 = (a.Value.replace(tzinfo=a.Value.tzinfo or timezone.utc).timestamp() for a in args)
    if t1 < t0:
        return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadOutOfRange))
    now = host.now()
    dev._advance(now)
    o2, h2o, exc = dev.max_between(t0, min(t1, now))
    return [ua.Variant(o2, S.Double), ua.Variant(h2o, S.Double), ua.Variant(exc, S.Boolean)]


def target_value_setter(host: "DeviceServer", attr: str, low: float, high: float) -> Callable[..., None]:
    """The value setter of a TargetValue (docs/opcua.md F3): operator, Double, in EURange, while Stopped."""
    import dataclasses
    from datetime import datetime

    from adapters.vocabulary import UnitState

    def set_target_value(node: Any, attr_id: ua.AttributeIds, value: ua.DataValue) -> None:
        if is_device():  # the device publishing its own setpoint
            node.attributes[attr_id].value = value
            return
        require("operator")
        v = value.Value.Value if value.Value is not None else None
        if value.Value is None or value.Value.VariantType != S.Double or not isinstance(v, float):
            raise ua.uaerrors.BadTypeMismatch
        if not low <= v <= high:
            raise ua.uaerrors.BadOutOfRange
        if host.device.state != UnitState.STOPPED:
            raise ua.uaerrors.BadInvalidState
        value = dataclasses.replace(value, SourceTimestamp=datetime.now(timezone.utc))
        node.attributes[attr_id].value = value
        setattr(host.device, attr, v)
    return set_target_value


def bind(host: "DeviceServer") -> dict[str, Callable[..., Any]]:
    """Handlers bound to ``host``, by method browse name."""
    funcs = {"StartProgram": start_program, "Stop": stop, "Abort": abort, "Clear": clear,
             "SetDisposition": set_disposition, "InjectFault": inject_fault, "MaxBetween": max_between}
    return {name: functools.partial(f, host) for name, f in funcs.items()}
