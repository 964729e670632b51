"""The LADS address space of one emulated device (docs/opcua.md section 4), built on the official
types: a LADSDeviceType instance in DI:DeviceSet with Machinery identification and
MachineryItemState, one FunctionalUnit with its state machine, functions, ProgramManager
(templates, ActiveProgram, ResultSet) and the urn:twin:plant extensions. Names come from
adapters/vocabulary.py. ``LadsSpace`` also writes the device's values (with SourceTimestamps)
and adds and prunes Results.
"""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from typing import Any, Callable

from asyncua import Node, Server, ua

from adapters import vocabulary as v
from plant.devices import Device, PressDevice, RunResult
from plant.instruments import GloveboxDevice, ProfilometerDevice
from plant.lads.access import as_device
from plant.lads.instances import instantiate_complete
from plant.lads.methods import target_value_setter
from plant.lads.results import ResultBuilder

S = ua.VariantType
DURATION = ua.NodeId(ua.ObjectIds.Duration)
SENSOR_RANGES: dict[v.Function, tuple[float, float]] = {  # EURange of sensor functions (docs/opcua.md F2)
    v.Function.O2: (0.0, 1000.0), v.Function.H2O: (0.0, 1000.0), v.Function.SQ: (0.0, 100.0),
    v.Function.SDQ: (0.0, 10.0), v.Function.PV: (0.0, 100.0), v.Function.WAVINESS: (0.0, 100.0),
    v.Function.WAVINESS_WAVELENGTH: (0.0, 100.0)}


def _ts(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, tz=timezone.utc)


def dv(value: Any, vtype: ua.VariantType, wall: float, is_array: bool = False) -> ua.DataValue:
    """A Good DataValue stamped with ``wall`` as source and server time."""
    ts = _ts(wall)
    return ua.DataValue(ua.Variant(value, vtype, is_array=is_array), SourceTimestamp=ts, ServerTimestamp=ts)


def eu_information(unit: v.EngineeringUnit) -> ua.EUInformation:
    """EUInformation of a UNECE unit."""
    return ua.EUInformation(NamespaceUri=v.UNECE_NS, UnitId=unit.unit_id, DisplayName=ua.LocalizedText(unit.display),
                            Description=ua.LocalizedText(unit.description))


def unit_of(device: Device) -> v.Unit:
    """The functional unit a device kind has."""
    if isinstance(device, PressDevice):
        return v.Unit.PRESS_CHAMBER
    if isinstance(device, GloveboxDevice):
        return v.Unit.MAIN_CHAMBER
    assert isinstance(device, ProfilometerDevice)
    return v.Unit.PROFILER


class LadsSpace:
    """Address space of one device on one asyncua server."""

    def __init__(self, server: Server, device: Device, handlers: dict[str, Callable[..., Any]],
                 test_endpoints: bool) -> None:
        self.server = server
        self.device = device
        self.handlers = handlers
        self.test_endpoints = test_endpoints
        self.unit = unit_of(device)
        self.ns: dict[str, int] = {}
        self.nodes: dict[str, ua.NodeId] = {}  # value key -> variable
        self._last: dict[str, Any] = {}
        self.result_set: Node | None = None
        self.result_nodes: dict[str, ua.NodeId] = {}
        self.unit_node: Node | None = None
        self.host: Any = None  # the DeviceServer (for value setters); set by the host before build
        self.results = ResultBuilder(self)

    # ----- helpers -------------------------------------------------------------------------
    def qn(self, q: v.QName) -> ua.QualifiedName:
        """The QualifiedName of a vocabulary name on this server."""
        return ua.QualifiedName(q.name, self.ns[q.namespace_uri])

    def newid(self) -> ua.NodeId:
        """A NodeId to be generated in the project namespace."""
        return ua.NodeId(NamespaceIndex=self.ns[v.PLANT_NS])

    def type_node(self, t: v.TypeId) -> Node:
        """The type node of a vocabulary TypeId."""
        return self.server.get_node(ua.NodeId(t.identifier, self.ns[t.namespace_uri]))

    async def child(self, node: Node, *path: v.QName) -> Node:
        """The node at ``path`` below ``node``."""
        return await node.get_child([self.qn(q) for q in path])

    async def instance(self, parent: Node, t: v.TypeId, name: v.QName) -> Node:
        """Instantiate ``t`` below ``parent`` (mandatory children only)."""
        nodes = await instantiate_complete(parent, self.type_node(t), self.qn(name), self.ns[v.PLANT_NS])
        return nodes[0]

    async def put(self, node: Node, value: Any, vtype: ua.VariantType, now: float, is_array: bool = False) -> None:
        """Write a value with timestamps (the device's own write: no access checks)."""
        with as_device():
            await self.server.write_attribute_value(node.nodeid, dv(value, vtype, now, is_array))

    async def prop(self, parent: Node, name: v.QName, value: Any, vtype: ua.VariantType, now: float,
                   is_array: bool = False, datatype: ua.NodeId | None = None) -> Node:
        """Add a property (a value of ``vtype``; ``datatype`` for structures and Durations)."""
        node = await parent.add_property(self.newid(), self.qn(name),
                                         ua.Variant(value, vtype, is_array=is_array), datatype=datatype)
        await self.put(node, value, vtype, now, is_array)
        return node

    async def var(self, parent: Node, name: v.QName, value: Any, vtype: ua.VariantType, now: float,
                  is_array: bool = False, key: str | None = None) -> Node:
        """Add a data variable; ``key`` registers it for ``write``."""
        node = await parent.add_variable(self.newid(), self.qn(name), ua.Variant(value, vtype, is_array=is_array))
        await self.put(node, value, vtype, now, is_array)
        if key is not None:
            self.nodes[key] = node.nodeid
        return node

    async def method(self, parent: Node, name: v.QName, inputs: list[ua.Argument],
                     outputs: list[ua.Argument]) -> Node:
        """Add a method bound to its handler (by browse name)."""
        return await parent.add_method(self.newid(), self.qn(name), self.handlers[name.name], inputs, outputs)

    def arg(self, name: str, dtype: ua.NodeId | int, array: bool = False, doc: str = "") -> ua.Argument:
        """A method argument description."""
        return ua.Argument(Name=name, DataType=dtype if isinstance(dtype, ua.NodeId) else ua.NodeId(dtype),
                           ValueRank=1 if array else -1, ArrayDimensions=[0] if array else [],
                           Description=ua.LocalizedText(doc))

    async def set_state(self, key: str, name: str, state_id: ua.NodeId, ts: float) -> None:
        """Write a state machine's CurrentState (LocalizedText) and its Id, on change."""
        if self._last.get(key) == name:
            return
        self._last[key] = name
        await self.server.write_attribute_value(self.nodes[key], dv(ua.LocalizedText(name), S.LocalizedText, ts))
        await self.server.write_attribute_value(self.nodes[key + ".Id"], dv(state_id, S.NodeId, ts))

    async def write(self, key: str, value: Any, vtype: ua.VariantType, ts: float, force: bool = False,
                    is_array: bool = False) -> int:
        """Write a registered value if it changed (or ``force``); returns 1 if written."""
        if not force and self._last.get(key) == value:
            return 0
        self._last[key] = value
        with as_device():
            await self.server.write_attribute_value(self.nodes[key], dv(value, vtype, ts, is_array))
        return 1

    async def stamp(self, nodes: list[Node], now: float) -> None:
        """Give every instantiated variable a SourceTimestamp (docs/opcua.md F4)."""
        aspace = self.server.iserver.aspace
        ts = _ts(now)
        for n in nodes:
            nd = aspace._nodes.get(n.nodeid)
            if nd is None or ua.AttributeIds.Value not in nd.attributes:
                continue
            av = nd.attributes[ua.AttributeIds.Value]
            if av.value is not None and av.value.SourceTimestamp is None:
                av.value = dataclasses.replace(av.value, SourceTimestamp=ts, ServerTimestamp=ts)

    async def stamp_all(self, now: float) -> None:
        """Stamp every variable of the project namespace."""
        idx = self.ns[v.PLANT_NS]
        nodes = [self.server.get_node(k) for k in list(self.server.iserver.aspace._nodes.keys())
                 if k.NamespaceIndex == idx]
        await self.stamp(nodes, now)

    # ----- build -------------------------------------------------------------------------------
    async def build(self, now: float) -> None:
        """Create the device below DI:DeviceSet."""
        for uri in (v.UA_NS, v.DI_NS, v.AMB_NS, v.MACHINERY_NS, v.LADS_NS, v.PLANT_NS):
            self.ns[uri] = await self.server.get_namespace_index(uri)
        dev = self.device
        device_set = self.server.get_node(ua.NodeId(v.DI_DEVICE_SET.identifier, self.ns[v.DI_NS]))
        root = await self.instance(device_set, v.LADS_DEVICE_TYPE, v.plant(dev.name))
        machines = self.server.get_node(ua.NodeId(1001, self.ns[v.MACHINERY_NS]))  # MACH:Machines
        await machines.add_reference(root.nodeid, ua.ObjectIds.Organizes, forward=True, bidirectional=True)
        await self._identification(root, now)
        await self._item_state(root, now)
        await self.prop(root, v.plant("TimeScale"), float(dev.time_scale), S.Double, now)
        await self._faults(root, now)
        fu_set = await self.child(root, v.lads("FunctionalUnitSet"))
        unit = await self.instance(fu_set, v.FUNCTIONAL_UNIT_TYPE, v.plant(self.unit.value))
        self.unit_node = unit
        await self._unit_state(unit, now)
        await self.prop(unit, v.UNIT_CAPACITY[0], dev.capacity, S.UInt32, now)
        await self._functions(unit, now)
        await self._program_manager(unit, now)
        if isinstance(dev, GloveboxDevice):
            await self.var(unit, v.UNIT_EXCURSIONS[0], "[]", S.String, now, key="excursions")
            await self.method(unit, v.UNIT_MAX_BETWEEN[0],
                              [self.arg("StartTime", ua.ObjectIds.DateTime), self.arg("EndTime", ua.ObjectIds.DateTime)],
                              [self.arg("MaxO2_ppm", ua.ObjectIds.Double), self.arg("MaxH2O_ppm", ua.ObjectIds.Double),
                               self.arg("Excursion", ua.ObjectIds.Boolean)])
        await self.stamp_all(now)

    async def _identification(self, root: Node, now: float) -> None:
        """DI:Identification (MachineIdentificationType) and the DI DeviceType properties of the device."""
        ident = await self.child(root, *v.IDENTIFICATION)
        values = self.device.identification()
        values.setdefault("ProductInstanceUri", f"{v.PLANT_NS}:{self.device.name}")
        values.setdefault("ComponentName", self.device.name)
        values.setdefault("SoftwareRevision", v.CONTRACT_VERSION)
        for parent in (ident, root):
            for key in v.IDENTIFICATION_KEYS:
                try:
                    node = await self.child(parent, v.di(key))
                except ua.UaStatusCodeError:
                    if parent is root:
                        continue
                    node = await self.prop(parent, v.di(key), "", S.String, now)
                text = values.get(key, "")
                if await node.read_data_type() == ua.NodeId(ua.ObjectIds.LocalizedText):
                    await self.put(node, ua.LocalizedText(text), S.LocalizedText, now)
                else:
                    await self.put(node, text, S.String, now)

    async def _item_state(self, root: Node, now: float) -> None:
        sm = await self.instance(root, v.MACHINERY_ITEM_STATE_TYPE, v.machinery("MachineryItemState"))
        cs = await self.child(sm, v.ua_("CurrentState"))
        self.nodes["item_state"] = cs.nodeid
        self.nodes["item_state.Id"] = (await self.child(cs, v.ua_("Id"))).nodeid
        ds = await self.child(root, *v.DEVICE_STATE)
        await self.put(ds, ua.LocalizedText("Operate"), S.LocalizedText, now)
        await self.put(await self.child(ds, v.ua_("Id")), ua.NodeId(5178, self.ns[v.LADS_NS]), S.NodeId, now)
        await self.publish_states(now)

    async def _faults(self, root: Node, now: float) -> None:
        faults = await root.add_object(self.newid(), self.qn(v.FAULTS[0]))
        await self.var(faults, v.ACTIVE_FAULTS[-1], [], S.String, now, is_array=True, key="faults")
        if self.test_endpoints:
            await self.method(faults, v.INJECT_FAULT[-1], [self.arg("Kind", ua.ObjectIds.String)], [])

    async def _unit_state(self, unit: Node, now: float) -> None:
        sm = await self.child(unit, *v.UNIT_STATE)
        cs = await self.child(sm, v.ua_("CurrentState"))
        self.nodes["unit_state"] = cs.nodeid
        try:
            sid = await self.child(cs, v.ua_("Id"))
        except ua.UaStatusCodeError:
            sid = await self.prop(cs, v.ua_("Id"), ua.NodeId(), S.NodeId, now)
        self.nodes["unit_state.Id"] = sid.nodeid
        lads_idx = self.ns[v.LADS_NS]
        for name, ids in (("AvailableStates", list(v.UNIT_STATE_IDS.values())), ("AvailableTransitions", [])):
            try:
                node = await self.child(sm, v.ua_(name))
            except ua.UaStatusCodeError:
                continue
            await self.put(node, [ua.NodeId(i, lads_idx) for i in ids], S.NodeId, now, is_array=True)
        lads_type = ua.NodeId(v.KEY_VALUE_TYPE.identifier, self.ns[v.LADS_NS])
        sample_type = ua.NodeId(v.SAMPLE_INFO_TYPE.identifier, self.ns[v.LADS_NS])
        await self.method(sm, v.UNIT_START_PROGRAM[-1], [
            self.arg("ProgramTemplateId", ua.ObjectIds.String, doc="DeviceTemplateId of a ProgramTemplateSet member"),
            self.arg("Properties", lads_type, array=True, doc="Key/Value list parameterising the run"),
            self.arg("SupervisoryJobId", ua.ObjectIds.String, doc="idempotence key: a repeat returns the same run"),
            self.arg("SupervisoryTaskId", ua.ObjectIds.String),
            self.arg("Samples", sample_type, array=True)],
            [self.arg("DeviceProgramRunId", ua.ObjectIds.String)])
        for name in ("Stop", "Abort", "Clear"):
            await self.method(sm, v.lads(name), [], [])
        await self.publish_states(now)

    async def _functions(self, unit: Node, now: float) -> None:
        dev = self.device
        fset = await self.instance(unit, v.TypeId(v.LADS_NS, 1026, "FunctionSetType"), v.lads("FunctionSet"))
        for fn in v.UNIT_FUNCTIONS[self.unit]:
            eu = eu_information(v.FUNCTION_UNITS[fn])
            if fn in v.CONTROL_FUNCTIONS:
                assert isinstance(dev, PressDevice)
                f = await self.instance(fset, v.ANALOG_CONTROL_FUNCTION_TYPE, v.plant(fn.value))
                if fn == v.Function.PRESSURE:
                    low, high, start, attr = 0.0, dev.spec.max_pressure_mpa, 0.0, "target_pressure_mpa"
                else:
                    low, high = dev.spec.min_temperature_c, dev.spec.max_temperature_c
                    start, attr = dev.spec.ambient_temperature_c, "target_temperature_c"
                names = [(v.CURRENT_VALUE, fn.value, start), (v.TARGET_VALUE, f"{fn.value}.target", start)]
            else:
                f = await self.instance(fset, v.ANALOG_SCALAR_SENSOR_FUNCTION_TYPE, v.plant(fn.value))
                low, high = SENSOR_RANGES[fn]
                names = [(v.SENSOR_VALUE, fn.value, 0.0), (v.RAW_VALUE, f"{fn.value}.raw", 0.0)]
            await self._link_operational_group(f)
            await self.put(await self.child(f, v.lads("IsEnabled")), True, S.Boolean, now)
            for qname, key, value in names:
                node = await self.child(f, qname)
                await self.put(node, float(value), S.Double, now)
                await self.put(await self.child(node, v.ENGINEERING_UNITS), eu, S.ExtensionObject, now)
                await self.put(await self.child(node, v.EU_RANGE), ua.Range(Low=low, High=high), S.ExtensionObject, now)
                self.nodes[key] = node.nodeid
                if qname == v.TARGET_VALUE:
                    await node.set_writable(True)
                    self.server.set_attribute_value_setter(node.nodeid, target_value_setter(self.host, attr, low, high))

    async def _link_operational_group(self, function: Node) -> None:
        """Function/Operational (FunctionalGroupType) Organizes the function's own variables; asyncua
        instantiates copies of them instead, which are replaced here by references."""
        op = await self.child(function, v.lads("Operational"))
        own = {(await n.read_browse_name()).to_string(): n for n in await function.get_children()}
        for dup in await op.get_children(refs=ua.ObjectIds.Organizes):
            name = (await dup.read_browse_name()).to_string()
            if name in own and dup.nodeid != own[name].nodeid:
                self.drop_subtree(dup.nodeid, op.nodeid)
                await op.add_reference(own[name].nodeid, ua.ObjectIds.Organizes, forward=True, bidirectional=False)

    async def _program_manager(self, unit: Node, now: float) -> None:
        dev = self.device
        pm = await self.instance(unit, v.TypeId(v.LADS_NS, 1006, "ProgramManagerType"), v.lads("ProgramManager"))
        tset = await self.child(pm, v.lads("ProgramTemplateSet"))
        for tid in dev.templates:
            tpl = v.Template(tid)
            t = await self.instance(tset, v.PROGRAM_TEMPLATE_TYPE, v.plant(tid))
            for key, value in (("DeviceTemplateId", tid), ("Author", "anodeless-twin plant emulator"),
                               ("Version", v.CONTRACT_VERSION)):
                await self.put(await self.child(t, v.lads(key)), value, S.String, now)
            for key in ("Created", "Modified"):
                await self.put(await self.child(t, v.lads(key)), _ts(dev.start_wall), S.DateTime, now)
            await self.put(await self.child(t, v.lads("Description")),
                           ua.LocalizedText(f"{tid} on the {self.unit.value} (docs/opcua.md)"), S.LocalizedText, now)
            await self.prop(t, v.TEMPLATE_REQUIRED_KEYS[0], list(v.REQUIRED_KEYS[tpl]), S.String, now, is_array=True)
            defaults = [ua.KeyValueType(Key=k, Value="{}") for k in v.OPTIONAL_KEYS[tpl]]
            await self.prop(t, v.TEMPLATE_DEFAULT_PROPERTIES[0], defaults, S.ExtensionObject, now, is_array=True,
                            datatype=ua.NodeId(v.KEY_VALUE_TYPE.identifier, self.ns[v.LADS_NS]))
            limits = [ua.KeyValueType(Key=f"{k}.{end}", Value=v.format_property(x))
                      for k, lo, hi in dev.property_limits() for end, x in (("min", lo), ("max", hi))]
            await self.prop(t, v.TEMPLATE_PROPERTY_LIMITS[0], limits, S.ExtensionObject, now, is_array=True,
                            datatype=ua.NodeId(v.KEY_VALUE_TYPE.identifier, self.ns[v.LADS_NS]))
        ap = await self.child(pm, v.lads("ActiveProgram"))
        for key, value, vtype, dtype in (
                ("DeviceProgramRunId", "", S.String, None), ("CurrentRuntime", 0.0, S.Double, DURATION),
                ("EstimatedRuntime", 0.0, S.Double, DURATION), ("CurrentStepName", ua.LocalizedText(""),
                                                                S.LocalizedText, None),
                ("CurrentStepNumber", 0, S.UInt32, None), ("EstimatedStepNumbers", 0, S.UInt32, None)):
            node = await self.prop(ap, v.lads(key), value, vtype, now, datatype=dtype)
            self.nodes[f"active.{key}"] = node.nodeid
        self.result_set = await self.child(pm, v.lads("ResultSet"))
        await self.method(pm, v.UNIT_SET_DISPOSITION[-1],
                          [self.arg("RunId", ua.ObjectIds.String), self.arg("SampleId", ua.ObjectIds.String),
                           self.arg("Decision", ua.ObjectIds.String, doc="accept|rework|reject"),
                           self.arg("Reason", ua.ObjectIds.String)], [])

    # ----- values ------------------------------------------------------------------------------
    async def publish_states(self, ts: float) -> None:
        """MachineryItemState and FunctionalUnitState from the device."""
        dev = self.device
        item = dev.item_state()
        await self.set_state("item_state", item.value,
                             ua.NodeId(v.ITEM_STATE_IDS[item], self.ns[v.MACHINERY_NS]), ts)
        if "unit_state" in self.nodes:
            await self.set_state("unit_state", dev.state.value,
                                 ua.NodeId(v.UNIT_STATE_IDS[dev.state], self.ns[v.LADS_NS]), max(ts, dev.state_ts))

    async def add_result(self, res: RunResult, now: float) -> None:
        """ResultSet/<RunId>, complete when linked (docs/opcua.md R1; plant.lads.results)."""
        self.result_nodes[res.run_id] = await self.results.add(res, now)

    def drop_subtree(self, root: ua.NodeId, parent: ua.NodeId) -> int:
        """Delete ``root`` and the project-namespace nodes below it, and ``parent``'s references to it.
        (asyncua's delete_nodes scans the whole address space for every node: seconds per Result.)
        Only the parent refers to such a subtree: TypeDefinition references are forward only."""
        nodes = self.server.iserver.aspace._nodes
        idx = self.ns[v.PLANT_NS]
        todo, gone = [root], set()
        while todo:
            nid = todo.pop()
            nd = nodes.get(nid)
            if nid in gone or nd is None:
                continue
            gone.add(nid)
            todo += [r.NodeId for r in nd.references if r.IsForward and r.NodeId.NamespaceIndex == idx
                     and r.ReferenceTypeId != ua.NodeId(ua.ObjectIds.HasTypeDefinition)]
        for nid in gone:
            del nodes[nid]
        pd = nodes[parent]
        pd.references = [r for r in pd.references if r.NodeId not in gone]
        return len(gone)

    async def remove_result(self, run_id: str) -> None:
        """Prune a Result (docs/opcua.md R5)."""
        nodeid = self.result_nodes.pop(run_id, None)
        if nodeid is not None and self.result_set is not None:
            self.drop_subtree(nodeid, self.result_set.nodeid)

    async def write_dispositions(self, res: RunResult, now: float) -> None:
        """plant:Dispositions of a Result."""
        r = self.server.get_node(self.result_nodes[res.run_id])
        await self.put(await self.child(r, v.RESULT_DISPOSITIONS[0]), json.dumps(res.dispositions), S.String, now)
