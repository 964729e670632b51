"""The probe's dry run (`--dry-run`): a press program with no samples (docs/opcua.md P4), and
the rules only a run can show: roles (S2), argument statuses (P2), start (P5, 4.5),
idempotence (P1), a Result that appears only when complete (R1, R2, R3), the trace (7) and the
status vocabulary of its values (V1)."""
from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from datetime import datetime
from typing import Any

from asyncua import ua

from adapters import vocabulary as v
from adapters.opcua.linklog import DeviceRefused, LinkLost
from adapters.opcua.paths import Path, join
from adapters.opcua.programs import KEY_VALUE_BINARY, _struct
from adapters.opcua.session import DeviceSession
from adapters.probe.nodes import Nodes
from adapters.probe.report import ProbeReport

NULL_DATETIME = datetime(1601, 1, 2)  # at or before: OPC UA's null DateTime
POLL_S = 0.02
# The contract publishes no rate limits (only EURange of the setpoints): a gentle cycle that any
# isostatic press should accept; --set overrides.
DRY_PRESSURE_MPA = 20.0
# "is the mean / the maximum of p_mpa" (section 7) up to the rounding of the trace's numbers
TRACE_REL_TOL, TRACE_ABS_TOL_MPA = 1e-4, 1e-3
DRY_RATE_MPA_S = 2.0  # how often the dry run looks for a premature Result while the unit runs
RUNNING = {v.UnitState.RUNNING.value, v.UnitState.STOPPING.value, v.UnitState.ABORTING.value}


async def property_limits(nodes: Nodes, up: Path) -> dict[str, float]:
    """4.4 plant:PropertyLimits of PressCycle ({"<key>.min"/"<key>.max": bound}), {} if absent."""
    from adapters.probe.nodes import strings_of

    tp = join(up, v.template_path(v.Template.PRESS_CYCLE.value))
    r = (await nodes.read([join(tp, (v.plant("PropertyLimits"),))]))[0]
    out: dict[str, float] = {}
    for kv in (r.value or []) if r.good else []:
        pair = strings_of(kv, 2)
        try:
            if pair:
                out[pair[0]] = float(pair[1])
        except ValueError:
            continue
    return out


def dry_recipe(pressure_high: float | None, t_low: float | None, t_high: float | None,
               overrides: dict[str, float], limits: dict[str, float] | None = None) -> dict[str, float]:
    """A short, gentle PressCycle inside the device's ranges and PropertyLimits (overridden by
    --set KEY=VALUE)."""
    p = min(DRY_PRESSURE_MPA, 0.2 * pressure_high) if pressure_high else DRY_PRESSURE_MPA
    t = 25.0 if t_low is None or t_high is None else min(max(25.0, t_low), t_high)
    recipe = {"target_pressure_mpa": p, "ramp_rate_mpa_s": DRY_RATE_MPA_S, "hold_s": 5.0, "temperature_c": t,
              "decompression_rate_mpa_s": DRY_RATE_MPA_S}
    for key, value in list(recipe.items()):
        hi = (limits or {}).get(f"{key}.max")
        lo = (limits or {}).get(f"{key}.min")
        if hi is not None and value > hi:
            recipe[key] = hi
        if lo is not None and value < lo:
            recipe[key] = lo
    recipe.update(overrides)
    return recipe


def start_variants(session: DeviceSession, template: str, recipe: dict[str, float], job: str) -> list[ua.Variant]:
    ns = session.namespaces
    props = [_struct(ns, KEY_VALUE_BINARY, k, val) for k, val in v.properties_from(dict(recipe))]
    return [ua.Variant(template, ua.VariantType.String),
            ua.Variant(props, ua.VariantType.ExtensionObject, is_array=True),
            ua.Variant(job, ua.VariantType.String), ua.Variant("", ua.VariantType.String),
            ua.Variant([], ua.VariantType.ExtensionObject, is_array=True)]


async def _call(session: DeviceSession, up: Path, args: list[ua.Variant]) -> tuple[str, list[Any]]:
    obj, method = join(up, v.UNIT_STATE), join(up, v.UNIT_START_PROGRAM)
    try:
        return (await session.call_many([(obj, method, args)], retry=False))[0]
    except DeviceRefused as exc:  # e.g. no StartProgram to call (BadNoMatch)
        return exc.status, []


async def _state(nodes: Nodes, up: Path) -> str:
    r = (await nodes.read([join(up, v.UNIT_CURRENT_STATE)]))[0]
    return str(r.value.Text) if isinstance(r.value, ua.LocalizedText) else str(r.value)


async def check_anonymous(report: ProbeReport, anon: DeviceSession | None, device: str, up: Path,
                          args: list[ua.Variant]) -> None:
    """S2: an anonymous session may read but not start a program."""
    if anon is None:
        report.add("S2", "anonymous may not start a program", None, "no anonymous session offered", device)
        return
    status, _ = await _call(anon, up, args)
    report.add("S2", "anonymous StartProgram refused with BadUserAccessDenied", status == "BadUserAccessDenied",
               status, device)


async def check_arguments(report: ProbeReport, session: DeviceSession, device: str, up: Path,
                          args: list[ua.Variant], pressure_high: float | None) -> None:
    """P2: count, template and limit refusals (none of these may start anything)."""
    cases: list[tuple[str, list[ua.Variant], set[str]]] = [
        ("4 arguments -> BadArgumentsMissing", args[:4], {"BadArgumentsMissing"}),
        ("6 arguments -> BadTooManyArguments", args + [ua.Variant("", ua.VariantType.String)], {"BadTooManyArguments"}),
        ("unknown template -> BadInvalidArgument", [ua.Variant("NoSuchTemplate-probe", ua.VariantType.String)] + args[1:],
         {"BadInvalidArgument"}),
        ("wrong argument type -> BadInvalidArgument (or BadTypeMismatch)", [ua.Variant(1, ua.VariantType.Int32)]
         + args[1:], {"BadInvalidArgument", "BadTypeMismatch"}),
    ]
    if pressure_high:
        recipe = {**dry_recipe(pressure_high, None, None, {}), "target_pressure_mpa": 10.0 * pressure_high}
        over = start_variants(session, v.Template.PRESS_CYCLE.value, recipe, f"probe-over-{uuid.uuid4().hex[:8]}")
        cases.append(("pressure above the device's range -> BadOutOfRange", over, {"BadOutOfRange"}))
    for what, a, want in cases:
        status, _ = await _call(session, up, a)
        report.add("P2", what, status in want, status, device)
    if await _state(Nodes(session), up) != v.UnitState.STOPPED.value:
        report.add("P2", "refused starts leave the unit Stopped", False, "a refused call started something", device)


async def dry_run(report: ProbeReport, session: DeviceSession, nodes: Nodes, device: str, up: Path,
                  recipe: dict[str, float], timeout_s: float) -> None:
    """Start a dry PressCycle and check the run and its Result."""
    state = await _state(nodes, up)
    if state != v.UnitState.STOPPED.value:
        report.add("P3", "dry run: unit Stopped before the start", None, f"unit is {state}: dry run skipped", device)
        return
    job = f"probe-{uuid.uuid4().hex[:12]}"
    args = start_variants(session, v.Template.PRESS_CYCLE.value, recipe, job)
    status, out = await _call(session, up, args)
    if not report.add("5.1", "dry run: StartProgram (operator, no samples) Good", status == "Good", status, device):
        return
    run_id = str(out[0]) if out else ""
    report.add("5.1", "dry run: a non-empty DeviceProgramRunId", bool(run_id), repr(run_id), device)
    state = await _state(nodes, up)
    rid, est = await nodes.read([join(up, v.active_program("DeviceProgramRunId")), join(up, v.active_program("EstimatedRuntime"))])
    report.add("P5", "Running (or later) when StartProgram returns", state in RUNNING | {"Stopped"} and
               (state != "Stopped" or rid.value == run_id), state, device)
    report.add("P5", "ActiveProgram/DeviceProgramRunId = the new RunId", rid.value == run_id, repr(rid.value), device)
    report.add("P5", "ActiveProgram/EstimatedRuntime > 0 (ms)", isinstance(est.value, (int, float)) and est.value > 0,
               repr(est.value), device)
    status2, out2 = await _call(session, up, args)
    report.add("P1", "the same SupervisoryJobId again returns the same RunId", status2 == "Good" and bool(out2)
               and str(out2[0]) == run_id, f"{status2} {out2[:1]}", device)
    result = join(up, v.result_path(run_id))
    premature: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        state = await _state(nodes, up)
        if state not in RUNNING:
            break
        if time.monotonic() > deadline:
            report.add("T4", "dry run ends in time", False, f"still {state} after {timeout_s:.0f} s", device)
            return
        if await nodes.resolve(result) is not None:
            stopped = (await nodes.read([join(result, v.RESULT_STOPPED)]))[0]
            if not (stopped.good and is_set(stopped.value)):
                premature.append(state)
        await asyncio.sleep(POLL_S)
    report.add("R1", "no Result (or only a final one) while the unit runs", not premature,
               f"a Result without Stopped was there while {premature[0]}" if premature else "", device)
    await check_result(report, nodes, device, result, state)


async def check_result(report: ProbeReport, nodes: Nodes, device: str, result: Path, state: str) -> None:
    rid = await nodes.resolve(result)
    if not report.add("R1", "the Result exists once the run ended", rid is not None, f"unit {state}", device):
        return
    std = ("Started", "Stopped", "SupervisoryJobId", "SupervisoryTaskId", "DeviceProgramRunId", "Samples",
           "Properties", "TotalRuntime", "ApplicationUri", "User", "Description")
    got = await nodes.read([join(result, (v.lads(k),)) for k in std])
    missing = [k for k, r in zip(std, got) if r.value is None and k not in ("Samples", "Properties")]
    report.add("R2", "standard Result children", not missing, f"missing {missing}" if missing else "", device)
    started, stopped = got[0].value, got[1].value
    report.add("R1", "Stopped set and not before Started", is_set(stopped) and is_set(started)
               and stopped >= started, f"{started} .. {stopped}", device)
    names = v.RESULT_VARS[v.Template.PRESS_CYCLE]
    vals = await nodes.read([join(result, v.result_variable(n.value)) for n in names])
    bad = [f"{n.value}: {r.status}" for n, r in zip(names, vals) if not r.good]
    report.add("V1", "every VariableSet value Good", not bad, "; ".join(bad), device)
    by = {n: r.value for n, r in zip(names, vals)}
    report.add("R3", "Outcome Completed", by[v.ResultVar.OUTCOME] == v.Outcome.COMPLETED.value,
               repr(by[v.ResultVar.OUTCOME]), device)
    empty = [n.value for n in names if n in v.PER_SAMPLE_VARS and by[n] not in ([], None)]
    report.add("R3", "per-sample arrays empty for a run without samples", not empty and by[v.ResultVar.SAMPLE_IDS]
               in ([], None), ", ".join(empty), device)
    for n, unit in v.RESULT_VAR_UNITS.items():
        if n not in names:
            continue
        nid = await nodes.resolve(join(result, v.result_variable(n.value)))
        if nid is None:
            continue
        from adapters.probe.static import _units_ok

        await _units_ok(report, nodes, nid, f"Result {n.value}", unit, device, with_range=False)
    problems = trace_problems(by[v.ResultVar.TRACE], by[v.ResultVar.HOLD_PRESSURE_MEAN], by[v.ResultVar.PEAK_PRESSURE])
    report.add("7", "Trace layout (keys, lengths, t_s, phases ending in 5, period, consistent values)", not problems,
               "; ".join(problems), device)
    disp = (await nodes.read([join(result, v.RESULT_DISPOSITIONS)]))[0]
    report.add("X1", "Result plant:Dispositions is \"{}\" when it appears", disp.value == "{}", repr(disp.value), device)


def is_set(dt: Any) -> bool:
    """A DateTime that is set: not None and not OPC UA's null DateTime (0, i.e. 1601-01-01),
    which is what stacks such as node-opcua hold in a DateTime property never written."""
    return isinstance(dt, datetime) and dt.replace(tzinfo=None) > NULL_DATETIME


def trace_problems(text: Any, hold_mean: Any, peak: Any) -> list[str]:
    """What breaks section 7 in a PressCycle trace (empty: conforming)."""
    try:
        tr = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (TypeError, ValueError) as exc:
        return [f"not RFC 8259 JSON ({exc})"]
    if not isinstance(tr, dict):
        return ["not a JSON object"]
    keys = v.TRACE_KEYS[v.Template.PRESS_CYCLE]
    missing = [k for k in keys if not isinstance(tr.get(k), list)]
    if missing:
        return [f"missing {missing}"]
    n = {len(tr[k]) for k in keys}
    if len(n) != 1 or not n.pop():
        return ["arrays empty or of different lengths"]
    out = []
    t, ph, p = tr["t_s"], tr["phase"], tr["p_mpa"]
    if any(b <= a for a, b in zip(t, t[1:])):
        out.append("t_s not strictly increasing")
    if any(b < a for a, b in zip(ph, ph[1:])) or any(c not in range(6) for c in ph):
        out.append("phase codes decrease or are not 0..5")
    if ph[-1] != v.LAST_PHASE:
        out.append(f"last phase {ph[-1]}, not 5")
    steps = sorted(b - a for a, b in zip(t, t[1:]))
    if steps and (steps[-1] > 2.5 * steps[len(steps) // 2] or steps[len(steps) // 2] > 1.0):
        out.append("sample period above 1 s or a gap")
    hold = [x for x, c in zip(p, ph) if c == v.Phase.HOLDING and x is not None]
    if hold and isinstance(hold_mean, float) and not math.isclose(hold_mean, sum(hold) / len(hold), rel_tol=TRACE_REL_TOL, abs_tol=TRACE_ABS_TOL_MPA):
        out.append(f"HoldPressureMean_MPa {hold_mean:.6g} is not the mean of p_mpa over code 3 "
                   f"({sum(hold) / len(hold):.6g} over {len(hold)} samples)")
    finite = [x for x in p if x is not None]
    if finite and isinstance(peak, float) and not math.isclose(peak, max(finite), rel_tol=TRACE_REL_TOL, abs_tol=TRACE_ABS_TOL_MPA):
        out.append(f"PeakPressure_MPa {peak:.6g} is not the maximum of p_mpa ({max(finite):.6g})")
    return out


async def clear_after(session: DeviceSession, nodes: Nodes, up: Path) -> None:
    """Leave the unit as found: Clear an Aborted unit (best effort)."""
    try:
        if await _state(nodes, up) == v.UnitState.ABORTED.value:
            await session.call_many([(join(up, v.UNIT_STATE), join(up, v.UNIT_CLEAR), [])], retry=False)
    except (LinkLost, DeviceRefused):
        pass


async def _write(session: DeviceSession, nid: ua.NodeId, variant: ua.Variant) -> str:
    """The status name of writing `variant` to `nid` (Good or the refusal)."""
    async def op(client: Any) -> str:
        try:
            await client.get_node(nid).write_value(ua.DataValue(variant))
        except ua.UaStatusCodeError as exc:
            return type(exc).__name__
        return "Good"
    try:
        return str(await session.call(op, retry=False))
    except DeviceRefused as exc:
        return exc.status


async def check_writes(report: ProbeReport, session: DeviceSession, anon: DeviceSession | None, device: str,
                       up: Path) -> None:
    """F3 while the unit is Stopped: the operator may write a TargetValue (its own value back, so
    nothing changes), inside EURange and as a Double only; anonymous may not; CurrentValue is
    read-only."""
    nodes = Nodes(session)
    fn = v.function_path(v.Function.PRESSURE.value)
    target, current = await nodes.resolve(join(up, fn + (v.TARGET_VALUE,))), await nodes.resolve(join(up, fn + (v.CURRENT_VALUE,)))
    if target is None or current is None or await _state(nodes, up) != v.UnitState.STOPPED.value:
        report.add("F3", "TargetValue writes", None, "no Pressure function or unit not Stopped", device)
        return
    now = (await nodes.value(target)).value
    rng = (await nodes.read([join(up, fn + (v.TARGET_VALUE, v.EU_RANGE))]))[0].value
    if not isinstance(now, float):
        report.add("F3", "TargetValue writes", False, f"TargetValue is {now!r}, not a Double", device)
        return
    got = await _write(session, target, ua.Variant(now, ua.VariantType.Double))
    report.add("F3", "operator writes TargetValue (its own value) while Stopped", got == "Good", got, device)
    got = await _write(session, target, ua.Variant(str(now), ua.VariantType.String))
    report.add("F3", "a String written to TargetValue -> BadTypeMismatch", got == "BadTypeMismatch", got, device)
    if rng is not None:
        got = await _write(session, target, ua.Variant(float(rng.High) * 10 + 1, ua.VariantType.Double))
        report.add("F3", "a TargetValue outside EURange -> BadOutOfRange", got == "BadOutOfRange", got, device)
    got = await _write(session, current, ua.Variant(now, ua.VariantType.Double))
    report.add("F3", "CurrentValue refuses writes", got in ("BadNotWritable", "BadUserAccessDenied"), got, device)
    if anon is not None:
        got = await _write(anon, target, ua.Variant(now, ua.VariantType.Double))
        report.add("S2", "anonymous TargetValue write -> BadUserAccessDenied", got == "BadUserAccessDenied", got, device)
