"""One asyncua server per emulated device, with the address space of DESIGN.md (contract).

Node ids are strings in the ``urn:twin:plant`` namespace, equal to the browse path below the
device object, e.g. ``ns=2;s=WIP-1.PressChamber.Pressure.CurrentValue``; clients should still
browse by path. Beyond the contract (documented in the README of the plant): per-sample result
arrays, ``ProgramManager/Templates``, ``ProgramManager/SetDisposition``, ``Faults/ClearFaults``,
``Atmosphere/Excursions``, ``Atmosphere/MaxBetween`` and ``Measurement/Waviness_mm``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import socket
from datetime import datetime, timezone
from typing import Any, Callable

from asyncua import Server, ua

from plant.access import SYSTEM, acting_as, guarded, require  # security (issue 12): role checks in handlers and setters
from plant.devices import Device, PressDevice, ProgramError, Reading, RunResult
from plant.hardening import secure_server
from plant.instruments import GloveboxDevice, ProfilometerDevice
from plant.plantfile import DeviceConfig, PlantFile
from plant.retention import Retention
from plant.security import load_users
from plant.throttle import LoginThrottle, ThrottledUserManager, ThrottleSettings

NAMESPACE = "urn:twin:plant"
_log = logging.getLogger(__name__)


def free_port(host: str) -> int:
    """A currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _ts(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, tz=timezone.utc)


def _dv(value: Any, vtype: ua.VariantType, wall: float, is_array: bool = False) -> ua.DataValue:
    ts = _ts(wall)
    return ua.DataValue(ua.Variant(value, vtype, is_array=is_array), SourceTimestamp=ts, ServerTimestamp=ts)


def _arg(name: str, vtype: int, array: bool = False, doc: str = "") -> ua.Argument:
    return ua.Argument(Name=name, DataType=ua.NodeId(vtype), ValueRank=1 if array else -1,
                       ArrayDimensions=[0] if array else [], Description=ua.LocalizedText(doc))


class DeviceServer:
    """An asyncua server exposing one ``Device``."""

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
        self.idx = 0
        self.nodes: dict[str, ua.NodeId] = {}
        self._last: dict[str, Any] = {}
        self._results_obj: Any = None
        self._clock: Callable[[], float] | None = None

    # ----- setup ------------------------------------------------------------------------
    async def init(self, clock: Callable[[], float]) -> None:
        """Create the server, its security and its address space (call before ``start``)."""
        self._clock = clock
        srv = self.server
        await srv.init()
        srv.set_endpoint(self.endpoint)
        srv.set_server_name(f"Emulated {self.cfg.name}")
        app_uri = f"{NAMESPACE}:{self.cfg.name}"
        await srv.set_application_uri(app_uri)
        self.guard = await secure_server(srv, self.cfg.name, self.plant, app_uri)
        self.guard.read_hooks.append(self.retention.on_read)
        self.idx = await srv.register_namespace(NAMESPACE)
        await self._build(clock())

    async def _obj(self, parent: Any, path: str) -> Any:
        name = path.rsplit(".", 1)[-1]
        node = await parent.add_object(ua.NodeId(path, self.idx), ua.QualifiedName(name, self.idx))
        return node

    async def _var(self, parent: Any, path: str, value: Any, vtype: ua.VariantType, now: float,
                   writable: bool = False, is_array: bool = False) -> Any:
        name = path.rsplit(".", 1)[-1]
        node = await parent.add_variable(ua.NodeId(path, self.idx), ua.QualifiedName(name, self.idx),
                                         ua.Variant(value, vtype, is_array=is_array), datatype=None)
        if writable:
            await node.set_writable(True)
        await self.server.write_attribute_value(node.nodeid, _dv(value, vtype, now, is_array))
        key = path.split(".", 1)[1] if "." in path else path
        self.nodes[key] = node.nodeid
        return node

    async def _method(self, parent: Any, path: str, func: Callable[..., Any],
                      inputs: list[ua.Argument], outputs: list[ua.Argument]) -> Any:
        name = path.rsplit(".", 1)[-1]
        return await parent.add_method(ua.NodeId(path, self.idx), ua.QualifiedName(name, self.idx),
                                       func, inputs, outputs)

    async def _build(self, now: float) -> None:
        dev, d = self.device, self.cfg.name
        S = ua.VariantType
        root = await self._obj(self.server.nodes.objects, d)
        ident = await self._obj(root, f"{d}.Identification")
        for k, v in dev.identification().items():
            await self._var(ident, f"{d}.Identification.{k}", v, S.String, now)
        state = await self._obj(root, f"{d}.State")
        await self._var(state, f"{d}.State.CurrentState", dev.state, S.String, now)
        await self._var(state, f"{d}.State.OperationMode", dev.operation_mode(), S.String, now)
        if isinstance(dev, PressDevice):
            await self._build_press(root, now)
        elif isinstance(dev, GloveboxDevice):
            atm = await self._obj(root, f"{d}.Atmosphere")
            o2, h2o = dev.atm.true_ppm()
            await self._var(atm, f"{d}.Atmosphere.O2_ppm", o2, S.Double, now)
            await self._var(atm, f"{d}.Atmosphere.H2O_ppm", h2o, S.Double, now)
            await self._var(atm, f"{d}.Atmosphere.Excursions", "[]", S.String, now)
            await self._method(atm, f"{d}.Atmosphere.MaxBetween", self._max_between,
                               [_arg("StartTime", ua.ObjectIds.DateTime),
                                _arg("EndTime", ua.ObjectIds.DateTime)],
                               [_arg("MaxO2_ppm", ua.ObjectIds.Double),
                                _arg("MaxH2O_ppm", ua.ObjectIds.Double),
                                _arg("Excursion", ua.ObjectIds.Boolean)])
        elif isinstance(dev, ProfilometerDevice):
            meas = await self._obj(root, f"{d}.Measurement")
            for name in ("Sq_um", "Sdq", "PV_um", "Waviness_um", "Waviness_mm"):
                await self._var(meas, f"{d}.Measurement.{name}", 0.0, S.Double, now)
        await self._build_program_manager(root, now)
        faults = await self._obj(root, f"{d}.Faults")
        await self._var(faults, f"{d}.Faults.Active", [], S.String, now, is_array=True)
        if self.plant.test_endpoints:
            await self._method(faults, f"{d}.Faults.InjectFault", self._inject,
                               [_arg("Kind", ua.ObjectIds.String)], [])
        await self._method(faults, f"{d}.Faults.ClearFaults", self._clear, [], [])

    async def _build_press(self, root: Any, now: float) -> None:
        dev, d, S = self.device, self.cfg.name, ua.VariantType
        assert isinstance(dev, PressDevice)
        ch = await self._obj(root, f"{d}.PressChamber")
        pr = await self._obj(ch, f"{d}.PressChamber.Pressure")
        await self._var(pr, f"{d}.PressChamber.Pressure.CurrentValue", 0.0, S.Double, now)
        tv = await self._var(pr, f"{d}.PressChamber.Pressure.TargetValue", 0.0, S.Double, now,
                             writable=True)
        rng = ua.Range(Low=0.0, High=dev.spec.max_pressure_mpa)
        await self._var(pr, f"{d}.PressChamber.Pressure.EURange", rng, S.ExtensionObject, now)
        te = await self._obj(ch, f"{d}.PressChamber.Temperature")
        await self._var(te, f"{d}.PressChamber.Temperature.CurrentValue",
                        dev.spec.ambient_temperature_c, S.Double, now)
        tt = await self._var(te, f"{d}.PressChamber.Temperature.TargetValue",
                             dev.spec.ambient_temperature_c, S.Double, now, writable=True)
        await self._var(ch, f"{d}.PressChamber.Capacity", dev.spec.capacity_cells, S.Int32, now)
        self.server.set_attribute_value_setter(tv.nodeid, self._setter(
            0.0, dev.spec.max_pressure_mpa, "target_pressure_mpa"))
        self.server.set_attribute_value_setter(tt.nodeid, self._setter(
            dev.spec.min_temperature_c, dev.spec.max_temperature_c, "target_temperature_c"))

    def _setter(self, low: float, high: float, attr: str) -> Callable[..., None]:
        """Range-check operator writes of a setpoint and stamp them."""
        def setter(node: Any, attr_id: ua.AttributeIds, value: ua.DataValue) -> None:
            require("operator")
            v = value.Value.Value if value.Value is not None else None
            if not isinstance(v, float) or isinstance(v, bool):
                raise ua.uaerrors.BadTypeMismatch
            if not low <= v <= high:
                raise ua.uaerrors.BadOutOfRange
            if value.SourceTimestamp is None:
                value = dataclasses.replace(value, SourceTimestamp=datetime.now(timezone.utc))
            node.attributes[attr_id].value = value
            node.attributes[attr_id].value_callback = None
            setattr(self.device, attr, v)
        return setter

    async def _build_program_manager(self, root: Any, now: float) -> None:
        dev, d, S = self.device, self.cfg.name, ua.VariantType
        pm = await self._obj(root, f"{d}.ProgramManager")
        await self._var(pm, f"{d}.ProgramManager.Templates", list(dev.templates), S.String, now,
                        is_array=True)
        await self._method(pm, f"{d}.ProgramManager.StartProgram", self._start,
                           [_arg("TemplateId", ua.ObjectIds.String),
                            _arg("Recipe", ua.ObjectIds.String, doc="JSON object"),
                            _arg("SupervisoryJobId", ua.ObjectIds.String),
                            _arg("Samples", ua.ObjectIds.String, array=True)],
                           [_arg("RunId", ua.ObjectIds.String)])
        await self._method(pm, f"{d}.ProgramManager.Abort", self._abort,
                           [_arg("RunId", ua.ObjectIds.String)], [])
        await self._method(pm, f"{d}.ProgramManager.SetDisposition", self._disposition,
                           [_arg("RunId", ua.ObjectIds.String), _arg("SampleId", ua.ObjectIds.String),
                            _arg("Decision", ua.ObjectIds.String, doc="accept|rework|reject"),
                            _arg("Reason", ua.ObjectIds.String)], [])
        ap = await self._obj(pm, f"{d}.ProgramManager.ActiveProgram")
        for name, val, vt in (("RunId", "", S.String), ("SupervisoryJobId", "", S.String),
                              ("CurrentState", "Idle", S.String), ("Progress", 0.0, S.Double)):
            await self._var(ap, f"{d}.ProgramManager.ActiveProgram.{name}", val, vt, now)
        self._results_obj = await self._obj(pm, f"{d}.ProgramManager.Results")

    # ----- methods ----------------------------------------------------------------------
    @staticmethod
    def _check_args(args: tuple, spec: list[tuple[ua.VariantType, bool]]) -> ua.CallMethodResult | None:
        """Count and type checks; None if fine, else a CallMethodResult carrying the status."""
        if len(args) < len(spec):
            return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadArgumentsMissing))
        if len(args) > len(spec):
            return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadTooManyArguments))
        per = []
        for a, (vt, array) in zip(args, spec):
            ok = isinstance(a, ua.Variant) and (
                (a.VariantType == vt and (a.is_array or isinstance(a.Value, list)) == array)
                or (array and a.VariantType == ua.VariantType.Null))
            per.append(ua.StatusCode(ua.StatusCodes.Good if ok else ua.StatusCodes.BadTypeMismatch))
        if all(s.is_good() for s in per):
            return None
        return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadInvalidArgument),
                                   InputArgumentResults=per)

    @staticmethod
    def _fail(err: ProgramError) -> ua.CallMethodResult:
        _log.info("method refused: %s (%s)", err, err.status)
        return ua.CallMethodResult(StatusCode=ua.StatusCode(getattr(ua.StatusCodes, err.status)))

    @guarded("operator")
    async def _start(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        S = ua.VariantType
        bad = self._check_args(args, [(S.String, False)] * 3 + [(S.String, True)])
        if bad is not None:
            return bad
        tid, recipe, job, samples = (a.Value for a in args)
        now = self._now()
        try:
            self.retention.check_capacity(self.device, job or "")
            run_id = self.device.start_program(tid or "", recipe or "", job or "",
                                               list(samples or []), now)
        except ProgramError as err:
            return self._fail(err)
        await self.pump(now)
        return [ua.Variant(run_id, S.String)]

    @guarded("operator")
    async def _abort(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        bad = self._check_args(args, [(ua.VariantType.String, False)])
        if bad is not None:
            return bad
        try:
            self.device.abort(args[0].Value or "", self._now())
        except ProgramError as err:
            return self._fail(err)
        return []

    @guarded("operator")
    async def _disposition(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        bad = self._check_args(args, [(ua.VariantType.String, False)] * 4)
        if bad is not None:
            return bad
        try:
            res = self.device.set_disposition(*(a.Value or "" for a in args))
        except ProgramError as err:
            return self._fail(err)
        self.retention.disposed(res)
        path = f"{self.cfg.name}.ProgramManager.Results.{res.run_id}.Dispositions"
        await self.server.write_attribute_value(ua.NodeId(path, self.idx), _dv(
            json.dumps(res.dispositions), ua.VariantType.String, self._now()))
        return []

    @guarded("operator")
    async def _inject(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        bad = self._check_args(args, [(ua.VariantType.String, False)])
        if bad is not None:
            return bad
        try:
            self.device.inject_fault(args[0].Value or "", self._now())
        except ProgramError as err:
            return self._fail(err)
        await self.pump(self._now())
        return []

    @guarded("operator")
    async def _clear(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        bad = self._check_args(args, [])
        if bad is not None:
            return bad
        self.device.clear_faults()
        await self.pump(self._now())
        return []

    @guarded("anonymous")
    async def _max_between(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        bad = self._check_args(args, [(ua.VariantType.DateTime, False)] * 2)
        if bad is not None:
            return bad
        dev = self.device
        assert isinstance(dev, GloveboxDevice)
        t0, t1 = (a.Value.replace(tzinfo=a.Value.tzinfo or timezone.utc).timestamp() for a in args)
        if t1 < t0:
            return ua.CallMethodResult(StatusCode=ua.StatusCode(ua.StatusCodes.BadOutOfRange))
        dev._advance(self._now())
        o2, h2o, exc = dev.max_between(t0, min(t1, self._now()))
        return [ua.Variant(o2, ua.VariantType.Double), ua.Variant(h2o, ua.VariantType.Double),
                ua.Variant(exc, ua.VariantType.Boolean)]

    def _now(self) -> float:
        assert self._clock is not None
        return self._clock()

    # ----- publishing -------------------------------------------------------------------
    async def pump(self, now: float) -> int:
        """Publish the device's readings up to ``now``; returns the number of values written."""
        dev = self.device
        readings: list[Reading] = dev.tick(now)
        n = 0
        for key, value, ts in readings:
            n += await self._write(key, value, ts, force=key.endswith(("CurrentValue", "_ppm"))
                                   or key.startswith("Measurement."))
        for res in dev.new_results:
            await self._add_result(res, now)
        dev.new_results.clear()
        await self._prune(now)
        ap = "ProgramManager.ActiveProgram."
        run = dev.active
        if run is not None:
            await self._write(ap + "RunId", run.run_id, now)
            await self._write(ap + "SupervisoryJobId", run.job_id, now)
        await self._write("Faults.Active", dev.faults_visible(), now)
        if isinstance(dev, PressDevice):
            await self._write("PressChamber.Pressure.TargetValue", float(dev.target_pressure_mpa), now)
            await self._write("PressChamber.Temperature.TargetValue", float(dev.target_temperature_c), now)
        if isinstance(dev, GloveboxDevice) and dev.excursions_changed:
            dev.excursions_changed = False
            await self._write("Atmosphere.Excursions", dev.excursions_json(), now)
        return n

    async def _prune(self, now: float) -> None:
        """Drop collected results beyond the plant file's retention (plant.retention)."""
        drop = self.retention.due(self.device, now)
        if not drop:
            return
        for rid in drop:
            base = f"{self.cfg.name}.ProgramManager.Results.{rid}"
            await self.server.delete_nodes([self.server.get_node(ua.NodeId(base, self.idx))], recursive=True)
            prefix = f"ProgramManager.Results.{rid}."
            for key in [k for k in self.nodes if k.startswith(prefix)]:
                del self.nodes[key]
                self._last.pop(key, None)
        self.retention.forget(self.device, drop)

    async def _write(self, key: str, value: Any, ts: float, force: bool = False) -> int:
        if not force and self._last.get(key) == value:
            return 0
        self._last[key] = value
        nodeid = self.nodes[key]
        if isinstance(value, list):
            dv = _dv(value, ua.VariantType.String, ts, is_array=True)
        elif isinstance(value, str):
            dv = _dv(value, ua.VariantType.String, ts)
        else:
            dv = _dv(float(value), ua.VariantType.Double, ts)
        with acting_as(SYSTEM):  # the server's own value, through the setters' role check
            await self.server.write_attribute_value(nodeid, dv)
        return 1

    async def _add_result(self, res: RunResult, now: float) -> None:
        """Results/<RunId>/ (Status written last), then ActiveProgram's final state."""
        S = ua.VariantType
        base = f"{self.cfg.name}.ProgramManager.Results.{res.run_id}"
        obj = await self._obj(self._results_obj, base)
        for k, v in res.scalars.items():
            if k != "Status":
                await self._var(obj, f"{base}.{k}", v, S.String if isinstance(v, str) else S.Double, now)
        for k, arr in res.arrays.items():
            await self._var(obj, f"{base}.{k}", arr, S.Double, now, is_array=True)
        await self._var(obj, f"{base}.SampleIds", list(res.samples), S.String, now, is_array=True)
        await self._var(obj, f"{base}.Faults", list(res.faults), S.String, now, is_array=True)
        await self._var(obj, f"{base}.SupervisoryJobId", res.job_id, S.String, now)
        await self._var(obj, f"{base}.Dispositions", "{}", S.String, now)
        await self._var(obj, f"{base}.Trace", res.trace_json, S.String, now)
        await self._var(obj, f"{base}.Status", res.status, S.String, now)
        self.retention.track(res.run_id, ua.NodeId(f"{base}.Status", self.idx))
        ap = "ProgramManager.ActiveProgram."
        await self._write(ap + "RunId", res.run_id, now)
        await self._write(ap + "SupervisoryJobId", res.job_id, now)
        await self._write(ap + "Progress", 100.0, now)
        await self._write(ap + "CurrentState", res.status, now)
        await self._write("State.CurrentState", self.device.state, now)

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
