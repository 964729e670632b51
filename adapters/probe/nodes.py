"""Address-space helpers of the probe, over one supervised session: paths resolved element by
element from the Objects folder, type definitions and their supertypes, properties, method
arguments, and DataValues with their StatusCode and SourceTimestamp."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from asyncua import ua

from adapters.opcua.linklog import Reading, reading
from adapters.opcua.paths import Path, translate
from adapters.opcua.session import DeviceSession
from adapters.vocabulary import QName, TypeId

OBJECTS = ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder))


@dataclass
class Arg:
    """A method argument as the server declares it."""

    name: str
    data_type: QName
    value_rank: int


class Nodes:
    """Resolution and inspection through `session` (whose device path is the Objects folder)."""

    def __init__(self, session: DeviceSession) -> None:
        self.s = session

    def _uri(self, index: int) -> str:
        assert self.s.namespaces is not None
        uris = self.s.namespaces.uris
        return uris[index] if index < len(uris) else ""

    async def resolve(self, path: Path, start: ua.NodeId = OBJECTS) -> ua.NodeId | None:
        async def op(client: Any) -> Any:
            assert self.s.namespaces is not None
            return (await translate(client, self.s.namespaces, start, [path]))[0]
        if self.s.namespaces is not None and self.s.namespaces.missing(q.namespace_uri for q in path):
            return None
        got = await self.s.call(op, retry=False)
        return got if isinstance(got, ua.NodeId) else None

    async def read(self, paths: Sequence[Path]) -> list[Reading]:
        return await self.s.read(list(paths), retry=False)

    async def browse_name(self, nid: ua.NodeId) -> QName:
        async def op(client: Any) -> Any:
            return await client.get_node(nid).read_browse_name()
        bn = await self.s.call(op, retry=False)
        return QName(self._uri(bn.NamespaceIndex), bn.Name)

    async def node_class(self, nid: ua.NodeId) -> ua.NodeClass:
        async def op(client: Any) -> Any:
            return await client.get_node(nid).read_node_class()
        return ua.NodeClass(await self.s.call(op, retry=False))

    async def type_definition(self, nid: ua.NodeId) -> ua.NodeId | None:
        async def op(client: Any) -> Any:
            return await client.get_node(nid).read_type_definition()
        return await self.s.call(op, retry=False)

    async def supertypes(self, type_id: ua.NodeId) -> list[QName]:
        """The type's browse name and those of its supertypes, most derived first."""
        async def op(client: Any) -> list[Any]:
            out, node = [], client.get_node(type_id)
            for _ in range(32):
                out.append(await node.read_browse_name())
                refs = await node.get_references(refs=ua.ObjectIds.HasSubtype, direction=ua.BrowseDirection.Inverse)
                if not refs:
                    break
                node = client.get_node(refs[0].NodeId)
            return out
        return [QName(self._uri(bn.NamespaceIndex), bn.Name) for bn in await self.s.call(op, retry=False)]

    async def is_a(self, nid: ua.NodeId, t: TypeId) -> tuple[bool, str]:
        """Whether the node's TypeDefinition is `t` or a subtype; and the type it has."""
        tdef = await self.type_definition(nid)
        if tdef is None:
            return False, "no TypeDefinition"
        chain = await self.supertypes(tdef)
        ok = any(q.namespace_uri == t.namespace_uri and q.name == t.name for q in chain)
        return ok, chain[0].name if chain else "?"

    async def properties(self, nid: ua.NodeId) -> dict[str, ua.NodeId]:
        """Children by HasProperty, by browse name."""
        async def op(client: Any) -> dict[str, ua.NodeId]:
            refs = await client.get_node(nid).get_references(refs=ua.ObjectIds.HasProperty)
            return {r.BrowseName.Name: r.NodeId for r in refs}
        return dict(await self.s.call(op, retry=False))

    async def children(self, nid: ua.NodeId) -> list[tuple[QName, ua.NodeId, ua.NodeClass]]:
        """Hierarchical children: (browse name, node id, node class)."""
        async def op(client: Any) -> list[Any]:
            return list(await client.get_node(nid).get_references(refs=ua.ObjectIds.HierarchicalReferences))
        refs = await self.s.call(op, retry=False)
        return [(QName(self._uri(r.BrowseName.NamespaceIndex), r.BrowseName.Name), r.NodeId, r.NodeClass)
                for r in refs if r.IsForward]

    async def value(self, nid: ua.NodeId) -> Reading:
        """The node's value with its StatusCode name and SourceTimestamp."""
        async def op(client: Any) -> Any:
            return await client.get_node(nid).read_data_value(raise_on_bad_status=False)
        return reading(await self.s.call(op, retry=False))

    async def arguments(self, method: ua.NodeId, which: str = "InputArguments") -> list[Arg] | None:
        props = await self.properties(method)
        if which not in props:
            return None
        out = []
        for a in (await self.value(props[which])).value or []:
            dt = await self.browse_name(a.DataType)
            out.append(Arg(a.Name, dt, a.ValueRank))
        return out


def strings_of(struct: Any, fields: int) -> list[str] | None:
    """The String fields of an all-String LADS structure (KeyValueType, SampleInfoType), from a
    decoded object or from the raw ExtensionObject when the client has no class for it."""
    import io

    from asyncua.ua.ua_binary import Primitives

    if isinstance(struct, ua.ExtensionObject):
        try:
            data = io.BytesIO(bytes(struct.Body or b""))
            return [Primitives.String.unpack(data) or "" for _ in range(fields)]
        except Exception:  # noqa: BLE001  (not the structure we expect)
            return None
    names = [f for f in ("Key", "Value", "ContainerId", "SampleId", "Position", "CustomData") if hasattr(struct, f)]
    return [str(getattr(struct, f) or "") for f in names[:fields]] if names else None
