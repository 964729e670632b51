"""Load the official DI, AMB, Machinery and LADS nodesets (plant/nodesets/) into an asyncua server, fast.

The first server of a process initialises the standard address space and imports the four files
(a few seconds); its address space is then kept as a snapshot and every later server of the
process starts from a lazy fork of it (each node copied when first used), with the same
namespace indices.

Two repairs after the LADS import (asyncua 2.1, non-strict mode): the DataTypeEncoding objects of
KeyValueType and SampleInfoType are dropped (the "Default JSON" ones carry no parent, and the
references of their siblings fail with them), so the structures would travel with the first
encoding asyncua finds ("Default XML") and standard clients calling StartProgram get
BadTypeMismatch. ``_repair_encodings`` adds the Default Binary encoding objects with their
HasEncoding references and registers the Python classes under the Default Binary ids.
"""
from __future__ import annotations

import logging
import copy
import time
from pathlib import Path
from collections.abc import MutableMapping
from typing import Any, Iterator

from asyncua import Server, ua
from asyncua.server.address_space import AttributeValue, NodeData, ViewService

from adapters.vocabulary import (AMB_NS, DI_NS, KEY_VALUE_BINARY_ENCODING, KEY_VALUE_TYPE, LADS_NS,
                                 MACHINERY_NS, SAMPLE_INFO_BINARY_ENCODING, SAMPLE_INFO_TYPE)

NODESET_DIR = Path(__file__).resolve().parents[1] / "nodesets"
NODESETS: tuple[tuple[str, str, bool], ...] = (  # (file, model URI, strict import)
    ("Opc.Ua.Di.NodeSet2.xml", DI_NS, True),
    ("Opc.Ua.AMB.NodeSet2.xml", AMB_NS, True),
    ("Opc.Ua.Machinery.NodeSet2.xml", MACHINERY_NS, True),
    ("Opc.Ua.LADS.NodeSet2.xml", LADS_NS, False),
)
_BINARY_DESCRIPTIONS = {5045: 6145, 5042: 6283}  # Default Binary encoding -> its DataTypeDescription (LADS)
_log = logging.getLogger(__name__)
_snapshot: dict | None = None  # address space after init + imports (forked, no callbacks)
_snapshot_uris: list[str] = []
load_seconds: list[float] = []  # wall seconds of each load in this process (first one imports)


def _cache_reference_subtypes() -> None:
    """Memoise asyncua's browse filter "is reference type B a subtype of A" per server (it walks the
    reference type tree for every reference of every browse: most of an instantiation's time).
    The reference type hierarchy does not change after the nodesets are loaded."""
    if getattr(ViewService, "_plant_cached", False):
        return
    orig = ViewService._suitable_reftype

    def suitable(self: ViewService, ref1: ua.NodeId, ref2: ua.NodeId, subtypes: bool) -> bool:
        cache = self.__dict__.setdefault("_plant_reftype_cache", {})
        key = (ref1, ref2, subtypes)
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = orig(self, ref1, ref2, subtypes)
        return hit

    ViewService._suitable_reftype = suitable  # type: ignore[method-assign]
    ViewService._plant_cached = True  # type: ignore[attr-defined]


async def init_with_nodesets(server: Server) -> None:
    """``server.init()`` plus the four nodesets, from the process snapshot when there is one."""
    global _snapshot, _snapshot_uris
    _cache_reference_subtypes()
    t0 = time.perf_counter()
    if _snapshot is None:
        await server.init()
        quiet = logging.getLogger("asyncua.common.xmlimporter")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # the known LADS encoding warnings; repaired below
        try:
            for fname, uri, strict in NODESETS:
                await server.import_xml(str(NODESET_DIR / fname), strict_mode=strict)
        finally:
            quiet.setLevel(level)
        await _repair_encodings(server)
        await _mark_dictionaries_deprecated(server)
        _snapshot_uris = list(await server.get_namespace_array())
        _snapshot = _fork(server.iserver.aspace._nodes)
    else:
        iserver = server.iserver
        template = _snapshot

        async def load_snapshot(shelf_file: Any = None) -> None:
            iserver.aspace._nodes = ForkDict(template)  # type: ignore[assignment]

        async def no_fixes() -> None:  # already in the snapshot
            return None

        iserver.load_standard_address_space = load_snapshot  # type: ignore[method-assign]
        iserver._address_space_fixes = no_fixes  # type: ignore[method-assign]
        await server.init()
        for uri in _snapshot_uris[2:]:
            await server.register_namespace(uri)
        got = list(await server.get_namespace_array())
        if got[2:] != _snapshot_uris[2:]:
            raise RuntimeError(f"namespace indices differ from the snapshot: {got} vs {_snapshot_uris}")
    load_seconds.append(time.perf_counter() - t0)


def _fork_node(nd: NodeData) -> NodeData:
    """A NodeData a server may mutate: fresh attribute holders and reference list, without callbacks,
    sharing the (replaced, never mutated) DataValues except lists."""
    n = NodeData(nd.nodeid)
    for attr, av in nd.attributes.items():
        value = av.value
        if value is not None and value.Value is not None and isinstance(value.Value.Value, list):
            value = copy.deepcopy(value)
        n.attributes[attr] = AttributeValue(value)  # type: ignore[arg-type]
    n.references = list(nd.references)
    return n


class ForkDict(MutableMapping):
    """The nodes of one server: a node of the template is forked the first time it is accessed, so
    a server pays only for the nodes it touches."""

    def __init__(self, template: dict) -> None:
        self.template = template
        self.cache: dict = {}
        self.deleted: set = set()

    def __getitem__(self, key: Any) -> NodeData:
        try:
            return self.cache[key]
        except KeyError:
            if key in self.deleted:
                raise
            node = self.cache[key] = _fork_node(self.template[key])
            return node

    def __setitem__(self, key: Any, value: NodeData) -> None:
        self.cache[key] = value
        self.deleted.discard(key)

    def __delitem__(self, key: Any) -> None:
        if key not in self:
            raise KeyError(key)
        self.cache.pop(key, None)
        self.deleted.add(key)

    def __contains__(self, key: object) -> bool:
        return key in self.cache or (key in self.template and key not in self.deleted)

    def __iter__(self) -> Iterator:
        yield from list(self.cache)
        yield from (k for k in list(self.template) if k not in self.cache and k not in self.deleted)

    def __len__(self) -> int:
        return len(self.cache) + sum(1 for k in self.template if k not in self.cache and k not in self.deleted)


def _fork(nodes: Any) -> dict:
    """A full copy of an address space's nodes (the template later servers fork from)."""
    return {key: _fork_node(nd) for key, nd in nodes.items()}


async def _mark_dictionaries_deprecated(server: Server) -> None:
    """Every Opc.Binary DataTypeDictionary gets a Deprecated=true property if it has none (OPC 10000-5
    1.04: the DataTypeDefinition attribute supersedes them), so 1.04 clients (node-opcua) build the
    structures from DataTypeDefinitions instead of mixing both ways."""
    system = server.get_node(ua.NodeId(ua.ObjectIds.OPCBinarySchema_TypeSystem))
    for dictionary in await system.get_children():
        if await dictionary.read_type_definition() != ua.NodeId(ua.ObjectIds.DataTypeDictionaryType):
            continue
        names = {(await c.read_browse_name()).Name for c in await dictionary.get_properties()}
        if "Deprecated" not in names:
            await dictionary.add_property(ua.NodeId(NamespaceIndex=dictionary.nodeid.NamespaceIndex),
                                          ua.QualifiedName("Deprecated", 0), ua.Variant(True, ua.VariantType.Boolean))


async def _repair_encodings(server: Server) -> None:
    """Default Binary encodings of KeyValueType and SampleInfoType, in the address space and in ua."""
    idx = await server.get_namespace_index(LADS_NS)
    for dtype, enc in ((KEY_VALUE_TYPE, KEY_VALUE_BINARY_ENCODING), (SAMPLE_INFO_TYPE, SAMPLE_INFO_BINARY_ENCODING)):
        dt_id, enc_id = ua.NodeId(dtype.identifier, idx), ua.NodeId(enc.identifier, idx)
        if enc_id not in server.iserver.aspace:
            attrs = ua.ObjectAttributes()
            attrs.DisplayName = ua.LocalizedText("Default Binary")
            item = ua.AddNodesItem()
            item.RequestedNewNodeId = enc_id
            item.BrowseName = ua.QualifiedName("Default Binary", 0)
            item.NodeClass = ua.NodeClass.Object
            item.TypeDefinition = ua.NodeId(ua.ObjectIds.DataTypeEncodingType)
            item.NodeAttributes = attrs
            item.ParentNodeId = dt_id  # the DataType -HasEncoding-> its encoding
            item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasEncoding)
            res = (await server.iserver.isession.add_nodes([item]))[0]
            res.StatusCode.check()
            desc_id = ua.NodeId(_BINARY_DESCRIPTIONS[enc.identifier], idx)
            if desc_id in server.iserver.aspace:  # the Opc.Binary dictionary entry (1.03-style clients need it)
                ref = ua.AddReferencesItem(SourceNodeId=enc_id, ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasDescription),
                                           IsForward=True, TargetNodeId=desc_id, TargetNodeClass=ua.NodeClass.Variable)
                (await server.iserver.isession.add_references([ref]))[0].check()
        cls = getattr(ua, dtype.name)
        ua.register_extension_object(dtype.name, enc_id, cls, dt_id)
