"""A small, independent asyncua client for the contract tests: secure sessions, browse paths of
(namespace URI, name) pairs resolved element by element, devices found by type, and method calls
that return the CallMethodResult (status and per-argument results) instead of raising."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Sequence

from asyncua import Client, ua

CALL_TIMEOUT_S = 15.0
UA = "http://opcfoundation.org/UA/"
DI = "http://opcfoundation.org/UA/DI/"
MACH = "http://opcfoundation.org/UA/Machinery/"
LADS = "http://opcfoundation.org/UA/LADS/"
PLANT = "urn:twin:plant"
Q = tuple[str, str]

POLICIES = ("Basic256Sha256", "Aes256_Sha256_RsaPss")


async def call(aw: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
    """Await one client request under a wall-clock timeout."""
    return await asyncio.wait_for(aw, timeout_s)


def run(coro: Any, timeout_s: float = 180.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


@asynccontextmanager
async def session(endpoint: str, client_cert: tuple[Path, Path] | None, user: tuple[str, str] | None,
                  policy: str = "Basic256Sha256") -> AsyncIterator[Client]:
    """A SignAndEncrypt session (or None security when `client_cert` is None) as `user` or anonymous."""
    from asyncua.crypto import security_policies as sp

    client = Client(endpoint, timeout=CALL_TIMEOUT_S)
    client.application_uri = "urn:twin:hil-client"
    if client_cert is not None:
        cls = {"Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
               "Aes256_Sha256_RsaPss": sp.SecurityPolicyAes256Sha256RsaPss}[policy]
        await client.set_security(cls, str(client_cert[0]), str(client_cert[1]),
                                  mode=ua.MessageSecurityMode.SignAndEncrypt)
    if user is not None:
        client.set_user(user[0])
        client.set_password(user[1])
    await call(client.connect(), 60.0)
    try:
        yield client
    finally:
        try:
            await call(client.disconnect())
        except Exception:  # noqa: BLE001  (a server already gone)
            pass


async def ns_index(client: Client, uri: str) -> int:
    return int((await call(client.get_namespace_array())).index(uri))


async def resolve(client: Client, start: Any, path: Sequence[Q]) -> Any | None:
    """The node at `path` below `start` (one RelativePathElement per name), or None."""
    array = await call(client.get_namespace_array())
    rp = ua.RelativePath()
    for uri, name in path:
        el = ua.RelativePathElement()
        el.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
        el.IncludeSubtypes = True
        el.IsInverse = False  # asyncua defaults to True
        el.TargetName = ua.QualifiedName(name, array.index(uri))
        rp.Elements.append(el)
    bp = ua.BrowsePath()
    bp.StartingNode = start.nodeid
    bp.RelativePath = rp
    res = (await call(client.uaclient.translate_browsepaths_to_nodeids([bp])))[0]
    if not res.StatusCode.is_good() or not res.Targets:
        return None
    return client.get_node(res.Targets[0].TargetId)


async def devices_by_type(client: Client, type_uri: str = LADS, type_name: str = "LADSDeviceType") -> dict[str, Any]:
    """Objects below DI:DeviceSet whose TypeDefinition is `type_name` or a subtype of it."""
    device_set = await resolve(client, client.nodes.objects, [(DI, "DeviceSet")])
    assert device_set is not None, "no DI:DeviceSet below Objects"
    wanted = await resolve(client, client.nodes.types, [(UA, "ObjectTypes"), (UA, "BaseObjectType")])
    assert wanted is not None
    target = await _find_type(client, wanted, type_uri, type_name)
    found = {}
    for ch in await call(device_set.get_children(refs=ua.ObjectIds.HierarchicalReferences)):
        if await call(ch.read_node_class()) != ua.NodeClass.Object:
            continue
        tdef = client.get_node(await call(ch.read_type_definition()))
        if target is not None and await _is_subtype(client, tdef, target.nodeid):
            found[(await call(ch.read_browse_name())).Name] = ch
    return found


async def _find_type(client: Client, base: Any, uri: str, name: str, depth: int = 8) -> Any | None:
    idx = await ns_index(client, uri)
    queue = [base]
    for _ in range(depth):
        nxt = []
        for node in queue:
            for sub in await call(node.get_children(refs=ua.ObjectIds.HasSubtype)):
                bn = await call(sub.read_browse_name())
                if bn.Name == name and bn.NamespaceIndex == idx:
                    return sub
                nxt.append(sub)
        queue = nxt
    return None


async def _is_subtype(client: Client, node: Any, target: ua.NodeId) -> bool:
    for _ in range(16):
        if node.nodeid == target:
            return True
        parents = await call(node.get_references(refs=ua.ObjectIds.HasSubtype, direction=ua.BrowseDirection.Inverse))
        if not parents:
            return False
        node = client.get_node(parents[0].NodeId)
    return False


async def type_of(client: Client, node: Any) -> tuple[str, str]:
    """(namespace URI, name) of a node's TypeDefinition."""
    tdef = client.get_node(await call(node.read_type_definition()))
    bn = await call(tdef.read_browse_name())
    return (await call(client.get_namespace_array()))[bn.NamespaceIndex], bn.Name


async def call_full(client: Client, obj: Any, method: Any, args: Sequence[ua.Variant]) -> ua.CallMethodResult:
    """Call `method` on `obj` and return the CallMethodResult (never raises on a Bad status)."""
    req = ua.CallMethodRequest()
    req.ObjectId = obj.nodeid
    req.MethodId = method.nodeid
    req.InputArguments = list(args)
    return (await call(client.uaclient.call([req])))[0]


async def lads_structs(client: Client) -> tuple[Any, Any]:
    """Makers of LADS KeyValueType and SampleInfoType values as raw ExtensionObjects in their
    Default Binary encodings (LADS i=5045, i=5042, at this server's LADS namespace index).
    Nothing is registered in asyncua's process-wide type registry: a server running in the same
    process (the emulator in tests) must keep decoding with its own classes."""
    from asyncua.ua.ua_binary import Primitives

    idx = await ns_index(client, LADS)

    def make(encoding: int, fields: tuple[str, ...]) -> Any:
        def build(**values: str) -> ua.ExtensionObject:
            body = b"".join(Primitives.String.pack(values.get(f, "")) for f in fields)
            return ua.ExtensionObject(TypeId=ua.NodeId(ua.Int32(encoding), idx), Body=ua.ByteString(body))
        return build
    return (make(5045, ("Key", "Value")), make(5042, ("ContainerId", "SampleId", "Position", "CustomData")))


def start_args(kv: Any, si: Any, template: str, props: dict[str, Any], job: str,
               samples: Sequence[str], task: str = "") -> list[ua.Variant]:
    """The five StartProgram arguments as Variants."""
    return [ua.Variant(template, ua.VariantType.String),
            ua.Variant([kv(Key=k, Value=repr(float(v)) if isinstance(v, (int, float)) else str(v))
                        for k, v in props.items()], ua.VariantType.ExtensionObject),
            ua.Variant(job, ua.VariantType.String), ua.Variant(task, ua.VariantType.String),
            ua.Variant([si(ContainerId="tray-1", SampleId=s, Position=str(i), CustomData="")
                        for i, s in enumerate(samples)], ua.VariantType.ExtensionObject)]
