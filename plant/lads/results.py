"""Results in the ResultSet (docs/opcua.md section 6), built fast.

The first Result of a shape (template and VariableSet names) is instantiated from LADS ResultType
with asyncua (about 35 nodes: tens of milliseconds on a loaded machine, during which the event loop
serves nobody and the run's end is not yet visible). Its node structure is kept as a prototype;
later Results are clones of it at the NodeData level (fresh NodeIds, references remapped) and only
their values are written, in a few milliseconds. Nothing suspends while a Result is built, so no
client sees one half-built; Stopped is written last all the same (R1).
"""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from asyncua import ua
from asyncua.server.address_space import AttributeValue, NodeData

from adapters import vocabulary as v
from plant.devices import RunResult
from plant.lads.access import as_device
from plant.lads.instances import instantiate_complete

if TYPE_CHECKING:
    from plant.lads.space import LadsSpace

S = ua.VariantType
DURATION = ua.NodeId(ua.ObjectIds.Duration)
RelPath = tuple[tuple[int, str], ...]  # browse names (namespace index, name) below the Result


def _ts(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, tz=timezone.utc)


class ResultBuilder:
    """Adds Results to one unit's ResultSet."""

    def __init__(self, space: "LadsSpace") -> None:
        self.space = space
        self.protos: dict[tuple, dict[RelPath, NodeData]] = {}

    @property
    def _nodes(self) -> Any:
        return self.space.server.iserver.aspace._nodes

    def _p(self, *names: v.QName) -> RelPath:
        return tuple((self.space.ns[q.namespace_uri], q.name) for q in names)

    @staticmethod
    def _values(res: RunResult) -> list[tuple[str, Any, ua.VariantType, bool]]:
        out: list[tuple[str, Any, ua.VariantType, bool]] = [
            (v.ResultVar.OUTCOME.value, res.outcome, S.String, False),
            (v.ResultVar.SAMPLE_IDS.value, list(res.samples), S.String, True),
            (v.ResultVar.FAULTS.value, list(res.faults), S.String, True),
            (v.ResultVar.TRACE.value, res.trace_json, S.String, False)]
        out += [(k, x, S.String if isinstance(x, str) else S.Double, False) for k, x in res.scalars.items()]
        out += [(k, [float(y) for y in arr], S.Double, True) for k, arr in res.arrays.items()]
        return out

    async def add(self, res: RunResult, now: float) -> ua.NodeId:
        """The Result of ``res``, complete, linked below ResultSet; returns its NodeId."""
        shape = (res.template_id, tuple(name for name, *_ in self._values(res)))
        proto = self.protos.get(shape)
        if proto is None:
            ids = await self._build(res, now)
            self.protos[shape] = {p: self._copy(self._nodes[nid], nid) for p, nid in ids.items()}
        else:
            ids = self._clone(proto, res.run_id)
        await self._write(ids, res, now)
        return ids[()]

    # ----- structure -----------------------------------------------------------------------------
    async def _build(self, res: RunResult, now: float) -> dict[RelPath, ua.NodeId]:
        sp = self.space
        assert sp.result_set is not None
        nodes = await instantiate_complete(sp.result_set, sp.type_node(v.RESULT_TYPE), sp.qn(v.plant(res.run_id)),
                                           sp.ns[v.PLANT_NS])
        r = nodes[0]
        for key, dtype in (("DeviceProgramRunId", None), ("TotalRuntime", DURATION), ("EstimatedRuntime", DURATION)):
            await sp.prop(r, v.lads(key), "" if dtype is None else 0.0, S.String if dtype is None else S.Double, now,
                          datatype=dtype)
        await sp.prop(r, v.RESULT_DISPOSITIONS[0], "{}", S.String, now)
        vset = await sp.child(r, v.lads("VariableSet"))
        for name, value, vtype, is_array in self._values(res):
            node = await sp.var(vset, v.plant(name), value, vtype, now, is_array=is_array)
            unit = v.RESULT_VAR_UNITS.get(v.ResultVar(name)) if name in v.ResultVar._value2member_map_ else None
            if unit is not None:
                from plant.lads.space import eu_information
                await sp.prop(node, v.ENGINEERING_UNITS, eu_information(unit), S.ExtensionObject, now)
        await sp.stamp(nodes, now)
        return self._paths(r.nodeid)

    def _paths(self, root: ua.NodeId) -> dict[RelPath, ua.NodeId]:
        """Every project-namespace node below ``root`` by its relative browse path."""
        idx = self.space.ns[v.PLANT_NS]
        out: dict[RelPath, ua.NodeId] = {(): root}
        todo: list[tuple[RelPath, ua.NodeId]] = [((), root)]
        while todo:
            path, nid = todo.pop()
            for r in self._nodes[nid].references:
                if r.IsForward and r.NodeId.NamespaceIndex == idx and r.ReferenceTypeId != ua.NodeId(
                        ua.ObjectIds.HasTypeDefinition):
                    p = path + ((r.BrowseName.NamespaceIndex, r.BrowseName.Name),)
                    if p not in out:
                        out[p] = r.NodeId
                        todo.append((p, r.NodeId))
        return out

    @staticmethod
    def _copy(nd: NodeData, nodeid: ua.NodeId) -> NodeData:
        n = NodeData(nodeid)
        for attr, av in nd.attributes.items():
            n.attributes[attr] = AttributeValue(av.value)  # type: ignore[arg-type]
        n.references = list(nd.references)
        return n

    def _clone(self, proto: dict[RelPath, NodeData], run_id: str) -> dict[RelPath, ua.NodeId]:
        sp = self.space
        aspace = sp.server.iserver.aspace
        idx = sp.ns[v.PLANT_NS]
        ids = {p: aspace.generate_nodeid(idx) for p in proto}
        remap = {nd.nodeid: ids[p] for p, nd in proto.items()}
        name, text = ua.QualifiedName(run_id, idx), ua.LocalizedText(run_id)
        for p, nd in proto.items():
            n = self._copy(nd, ids[p])
            n.attributes[ua.AttributeIds.NodeId] = AttributeValue(ua.DataValue(ua.Variant(ids[p], S.NodeId)))
            n.references = [dataclasses.replace(r, NodeId=remap.get(r.NodeId, r.NodeId)) for r in nd.references]
            if p == ():
                n.attributes[ua.AttributeIds.BrowseName] = AttributeValue(ua.DataValue(ua.Variant(name, S.QualifiedName)))
                n.attributes[ua.AttributeIds.DisplayName] = AttributeValue(ua.DataValue(ua.Variant(text, S.LocalizedText)))
            self._nodes[ids[p]] = n
        assert sp.result_set is not None
        sp_refs = self._nodes[sp.result_set.nodeid].references
        sp_refs.append(ua.ReferenceDescription(
            ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasComponent), IsForward=True, NodeId=ids[()], BrowseName=name,
            DisplayName=text, NodeClass=ua.NodeClass.Object,
            TypeDefinition=ua.NodeId(v.RESULT_TYPE.identifier, sp.ns[v.LADS_NS])))
        return ids

    # ----- values ------------------------------------------------------------------------------------
    async def _write(self, ids: dict[RelPath, ua.NodeId], res: RunResult, now: float) -> None:
        run = res.run
        ctx = run.context if run is not None else {}
        samples = ctx.get("samples") or [ua.SampleInfoType(SampleId=s) for s in res.samples]
        props = [ua.KeyValueType(Key=k, Value=val) for k, val in ctx.get("properties", [])]
        L = v.lads
        writes: list[tuple[RelPath, Any, ua.VariantType, bool]] = [
            (self._p(L("SupervisoryJobId")), res.job_id, S.String, False),
            (self._p(L("SupervisoryTaskId")), ctx.get("task_id", ""), S.String, False),
            (self._p(L("Started")), _ts(res.started_s), S.DateTime, False),
            (self._p(L("ApplicationUri")), f"{v.PLANT_NS}:{self.space.device.name}", S.String, False),
            (self._p(L("User")), ctx.get("user", ""), S.String, False),
            (self._p(L("Description")), ua.LocalizedText(f"{res.template_id} run {res.run_id}"), S.LocalizedText,
             False),
            (self._p(L("Samples")), samples, S.ExtensionObject, True),
            (self._p(L("Properties")), props, S.ExtensionObject, True),
            (self._p(L("ProgramTemplate"), L("DeviceTemplateId")), res.template_id, S.String, False),
            (self._p(L("DeviceProgramRunId")), res.run_id, S.String, False),
            (self._p(L("TotalRuntime")), (res.ended_s - res.started_s) * 1000.0, S.Double, False),
            (self._p(L("EstimatedRuntime")), (run.estimated_wall_s if run else 0.0) * 1000.0, S.Double, False),
            (self._p(v.RESULT_DISPOSITIONS[0]), json.dumps(res.dispositions), S.String, False)]
        writes += [(self._p(L("VariableSet"), v.plant(name)), value, vtype, is_array)
                   for name, value, vtype, is_array in self._values(res)]
        writes.append((self._p(L("Stopped")), _ts(res.ended_s), S.DateTime, False))  # last: final (R1)
        ts = _ts(now)
        with as_device():
            for path, value, vtype, is_array in writes:
                dv = ua.DataValue(ua.Variant(value, vtype, is_array=is_array), SourceTimestamp=ts, ServerTimestamp=ts)
                await self.space.server.write_attribute_value(ids[path], dv)
