"""Instantiate a type with every mandatory child, following each child's TypeDefinition.

asyncua's ``instantiate`` copies the children declared below an instance declaration, but not
the mandatory children of that declaration's own TypeDefinition when the nodeset does not repeat
them (LADS: FunctionalUnitType/FunctionalUnitState has no CurrentState of its own, its type
FunctionalUnitStateMachineType has). ``instantiate_complete`` runs asyncua's instantiation
(mandatory children only) and then adds whatever each created node's type still requires.
"""
from __future__ import annotations

from asyncua import Node, ua
from asyncua.common.instantiate_util import _instantiate_node, instantiate
from asyncua.common.node import Node as _Node
from asyncua.common.ua_utils import get_node_supertypes

_BASE_TYPES = {ua.NodeId(i) for i in (ua.ObjectIds.BaseObjectType, ua.ObjectIds.FolderType, ua.ObjectIds.PropertyType,
                                      ua.ObjectIds.BaseDataVariableType, ua.ObjectIds.BaseVariableType)}
_MANDATORY = ua.NodeId(ua.ObjectIds.ModellingRule_Mandatory)
_cache: dict[ua.NodeId, list[ua.ReferenceDescription]] = {}  # type -> mandatory child declarations


async def mandatory_children(type_node: Node) -> list[ua.ReferenceDescription]:
    """Mandatory child declarations of a type and its supertypes (the most derived first)."""
    key = type_node.nodeid
    if key in _cache:
        return _cache[key]
    out: list[ua.ReferenceDescription] = []
    seen: set[tuple[int, str]] = set()
    for sup in await get_node_supertypes(type_node, includeitself=True):
        for d in await sup.get_children_descriptions():
            name = (d.BrowseName.NamespaceIndex, d.BrowseName.Name)
            if name in seen:
                continue
            seen.add(name)
            rules = await _Node(type_node.session, d.NodeId).get_referenced_nodes(refs=ua.ObjectIds.HasModellingRule)
            if rules and rules[0].nodeid == _MANDATORY:
                out.append(d)
    _cache[key] = out
    return out


async def complete(node: Node, idx: int, depth: int = 0) -> list[Node]:
    """Add the mandatory children ``node``'s type requires, recursively; returns the nodes added."""
    added: list[Node] = []
    if depth > 10:
        return added
    try:
        tdef = await node.read_type_definition()
    except ua.UaStatusCodeError:
        tdef = None
    present = {(d.BrowseName.NamespaceIndex, d.BrowseName.Name) for d in await node.get_children_descriptions()}
    if tdef is not None and tdef not in _BASE_TYPES:
        for d in await mandatory_children(_Node(node.session, tdef)):
            if (d.BrowseName.NamespaceIndex, d.BrowseName.Name) in present:
                continue
            ids = await _instantiate_node(node.session, _Node(node.session, d.NodeId), node.nodeid, d,
                                          nodeid=ua.NodeId(NamespaceIndex=idx), bname=d.BrowseName,
                                          instantiate_optional=False)
            added.extend(_Node(node.session, i) for i in ids)
    for child in await node.get_children():
        if child.nodeid.NamespaceIndex == idx:
            added.extend(await complete(child, idx, depth + 1))
    return added


async def instantiate_complete(parent: Node, type_node: Node, bname: ua.QualifiedName, idx: int) -> list[Node]:
    """Instantiate ``type_node`` below ``parent`` with all mandatory children; the root first."""
    nodes = await instantiate(parent, type_node, bname=bname, idx=idx, instantiate_optional=False)
    nodes += await complete(nodes[0], idx)
    return nodes
