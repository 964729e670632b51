"""One supervised OPC UA session per device: every call under a wall-clock time-out,
reconnection with exponential back-off, detection of a stalled device (socket open, no
answers) and of a restarted one (its ServerStatus/StartTime changed), browse paths resolved
by namespace URI on every connection, subscriptions that survive reconnects, and a log of
what happened for the run's report.

Errors a caller sees: `DeviceRefused` (the device answered with a Bad status about the
request itself: wrong state, argument, unknown node), `DeviceUnavailable` (no usable
connection within `give_up_s`) and `ConfigurationRefused` (the login or a certificate was
refused: retrying cannot help, the run stops with exit 2). Connection trouble below that
is retried here.

Security hook: `server_check(endpoint, certificate_der)` is awaited with the server's
certificate, taken from its endpoint description, before any session is opened on a
secure channel (adapters.pki checks it against the twin's trust list); raising
`ConfigurationRefused` there refuses the device.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from pathlib import Path as FsPath
from typing import Any, Awaitable, Callable, Sequence

from asyncua import Client, ua
from asyncua.crypto import uacrypto

from adapters import observe
from adapters.opcua.linklog import (CONFIG_STATUSES, CONNECTION_STATUSES, NOT_FOUND, ConfigurationRefused,
                                    DeviceRefused, DeviceUnavailable, LinkLost, Reading, SessionLog, reading,
                                    status_name)
from adapters.opcua.paths import NamespaceMap, Path, QName, join, render, translate_from
from adapters.settings import Connection

log = logging.getLogger(__name__)
SESSION_TIMEOUT_MS = 600_000  # what asyncua servers grant at most; asking more only logs a warning
ServerCheck = Callable[[str, bytes], Awaitable[None]]

__all__ = ["ConfigurationRefused", "DeviceRefused", "DeviceSession", "DeviceUnavailable", "LinkLost", "NOT_FOUND",
           "Reading", "ServerCheck", "Watch"]


@functools.lru_cache(maxsize=8)
def _client_keys_cached(cert_path: str, key_path: str, stamp: tuple[int, int]) -> tuple[Any, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_bytes = FsPath(cert_path).read_bytes()
    cert = (x509.load_pem_x509_certificate(cert_bytes) if cert_path.endswith(".pem")
            else x509.load_der_x509_certificate(cert_bytes))
    key = serialization.load_pem_private_key(FsPath(key_path).read_bytes(), password=None)
    return cert, key


def _client_keys(cert_path: str, key_path: str) -> tuple[Any, Any]:
    """The client certificate and private key, loaded once per process and file version
    (an RSA key load with its checks costs ~0.1 s of CPU: once per connection was most of the
    twin's CPU per cell)."""
    st_c, st_k = os.stat(cert_path), os.stat(key_path)
    return _client_keys_cached(cert_path, key_path, (st_c.st_mtime_ns, st_k.st_mtime_ns))


def _first_certificate(der: bytes) -> bytes:
    """The leading certificate of a DER blob that may carry its chain."""
    return der[:int.from_bytes(der[2:4], "big") + 4]


class Watch:
    """A subscribed value: the last Reading, how many notifications came, and an event set
    on each (cleared by whoever waits on it)."""

    def __init__(self, path: Path, interval_ms: float) -> None:
        self.path = path
        self.interval_ms = interval_ms
        self.last: Reading | None = None
        self.arrived = 0.0  # wall time (time.time()) the last notification arrived
        self.notifications = 0
        self.subscribed = False
        self.changed = asyncio.Event()

    def __call__(self, r: Reading) -> None:
        self.last = r
        self.arrived = time.time()
        self.notifications += 1
        self.changed.set()


class _Handler:
    """asyncua subscription handler: each data change goes to its watch."""

    def __init__(self) -> None:
        self.watchers: dict[Any, Watch] = {}

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        watcher = self.watchers.get(node.nodeid)
        if watcher is not None:
            watcher(reading(data.monitored_item.Value))

    def status_change_notification(self, status: Any) -> None:
        log.info("subscription status %s", status)


class DeviceSession:
    """A reconnecting client for one device object at `endpoint`; paths are below the device
    object `device_path` (found from Objects)."""

    def __init__(self, device: str, endpoint: str, conn: Connection, credentials: tuple[str, str] | None,
                 client_cert: tuple[FsPath, FsPath] | None, device_path: Sequence[QName] = (),
                 server_check: ServerCheck | None = None) -> None:
        self.device = device
        self.endpoint = endpoint
        self.conn = conn
        self.credentials = credentials
        self.client_cert = client_cert
        self.device_path: Path = tuple(device_path)
        self.server_check = server_check
        self.log = SessionLog(device=device)
        self.instance: str | None = None  # ServerStatus/StartTime of the server we talk to
        self.namespaces: NamespaceMap | None = None
        self._client: Client | None = None
        self._nodes: dict[Path, ua.NodeId] = {}
        self._device_node = ua.NodeId(ua.Int32(ua.ObjectIds.ObjectsFolder))  # paths without a resolved prefix
        self._lock = asyncio.Lock()
        self._consecutive_timeouts = 0
        self._down_since: float | None = None
        self._watches: dict[Path, Watch] = {}
        self._subscription: Any = None
        self.on_connect: list[Callable[[], None]] = []  # called after every (re)connection

    # -- connection ----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._client is not None

    async def _secure(self, client: Client) -> None:
        from asyncua.crypto import security_policies as sp

        policies: dict[str, Any] = {"Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
                                    "Aes256_Sha256_RsaPss": sp.SecurityPolicyAes256Sha256RsaPss}
        policy = policies[self.conn.security_policy]
        assert self.client_cert is not None
        probe = Client(self.endpoint, timeout=self.conn.call_timeout_s)
        endpoints = await asyncio.wait_for(probe.connect_and_get_server_endpoints(), self.conn.connect_timeout_s)
        endpoint = Client.find_endpoint(endpoints, ua.MessageSecurityMode.SignAndEncrypt, policy.URI)
        server_der = bytes(endpoint.ServerCertificate)
        if self.server_check is not None:
            await self.server_check(self.endpoint, server_der)  # ConfigurationRefused stops here
        cert, key = _client_keys(str(self.client_cert[0]), str(self.client_cert[1]))
        server_cert = uacrypto.x509_from_der(_first_certificate(server_der))
        client.security_policy = policy(server_cert, cert, key, ua.MessageSecurityMode.SignAndEncrypt)
        client.uaclient.set_security(client.security_policy)

    async def _connect_once(self) -> None:
        client = Client(self.endpoint, timeout=self.conn.call_timeout_s)
        client.session_timeout = SESSION_TIMEOUT_MS
        client.application_uri = self.conn.application_uri
        if self.credentials is not None:
            client.set_user(self.credentials[0])
            client.set_password(self.credentials[1])
        try:
            if self.conn.security_policy != "None":
                await asyncio.wait_for(self._secure(client), self.conn.connect_timeout_s)
            await asyncio.wait_for(client.connect(), self.conn.connect_timeout_s)
            uris = await asyncio.wait_for(client.get_namespace_array(), self.conn.call_timeout_s)
            start = await asyncio.wait_for(
                client.get_node(ua.ObjectIds.Server_ServerStatus_StartTime).read_value(), self.conn.call_timeout_s)
        except ua.UaStatusCodeError as exc:
            await self._close(client)
            if exc.code in CONFIG_STATUSES:
                raise ConfigurationRefused(self._refusal(type(exc).__name__)) from None
            raise
        except BaseException:
            await self._close(client)
            raise
        instance = str(start)
        if self.instance is not None and instance != self.instance:
            self.log.restarts += 1
            self.log.note("restarted", previous=self.instance, now=instance)
            log.warning("%s came back as a new server instance (started %s)", self.device, instance)
        self.instance = instance
        self._client, self.namespaces, self._nodes, self._subscription = client, NamespaceMap(uris), {}, None
        for w in self._watches.values():
            w.subscribed = False
        await self._resubscribe()
        for hook in self.on_connect:
            hook()

    def _refusal(self, status: str) -> str:
        who = f"user '{self.credentials[0]}'" if self.credentials else "anonymous"
        if "Identity" in status or "UserAccess" in status:
            what = f"the login of {who} was refused ({status}): check hardware.connection.credentials"
        else:
            what = (f"the secure channel was refused ({status}): is the twin's client certificate "
                    f"({self.conn.client_cert_dir}) trusted by the device, and the device's by the twin?")
        return f"{self.device} at {self.endpoint}: {what}"

    async def connect(self) -> None:
        """Connect, retrying with exponential back-off; DeviceUnavailable after `give_up_s`
        without a connection (counted from when the link was first found down);
        ConfigurationRefused at once when the login or a certificate is refused."""
        if self._client is not None:
            return
        async with self._lock:
            if self._client is not None:
                return
            if self._down_since is None:
                self._down_since = time.monotonic()
            delay = self.conn.backoff_initial_s
            while True:
                try:
                    await self._connect_once()
                except (OSError, asyncio.TimeoutError, ua.UaError, ConnectionError) as exc:
                    waited = time.monotonic() - self._down_since
                    if waited + delay > self.conn.give_up_s:
                        self.log.note("gave_up", after_s=round(waited, 3), error=repr(exc))
                        raise DeviceUnavailable(
                            f"{self.device} at {self.endpoint}: no connection for {waited:.1f} s ({exc!r})") from exc
                    log.info("%s: connecting failed (%r); retrying in %.2f s", self.device, exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(2.0 * delay, self.conn.backoff_max_s)
                    continue
                if self.log.disconnects:
                    self.log.reconnects += 1
                    self.log.note("reconnected", down_s=round(time.monotonic() - self._down_since, 3))
                self._down_since = None
                self._consecutive_timeouts = 0
                observe.emit("link", device=self.device, event="connected", instance=self.instance)
                return

    async def _drop(self, why: str) -> None:
        client, self._client = self._client, None
        self._subscription = None
        if client is None:
            return
        self.log.disconnects += 1
        self.log.note("link_lost", why=why)
        if self._down_since is None:
            self._down_since = time.monotonic()
        await self._close(client)

    async def _close(self, client: Client) -> None:
        try:
            await asyncio.wait_for(client.disconnect(), min(1.0, self.conn.call_timeout_s))
        except BaseException:  # a dead link cannot be closed politely; drop it
            try:
                client.disconnect_socket()
            except Exception:
                pass

    async def close(self) -> None:
        """Disconnect (at the end of a run)."""
        client, self._client = self._client, None
        if client is not None:
            await self._close(client)

    # -- calls ---------------------------------------------------------------------
    async def _once(self, op: Callable[[Client], Awaitable[Any]]) -> Any:
        """One attempt under the call time-out; link problems become LinkLost. The attempt
        keeps to the connection it started on: another caller may drop or replace the link
        meanwhile, and then this attempt's failure must not count against the new one."""
        await self.connect()
        client = self._client
        assert client is not None
        self.log.calls += 1
        t0 = time.perf_counter()
        try:
            result = await asyncio.wait_for(op(client), self.conn.call_timeout_s)
        except asyncio.TimeoutError:
            self.log.timeouts += 1
            observe.emit("call", device=self.device, ok=False, timeout=True)
            if self._client is client:
                self._consecutive_timeouts += 1
                if self._consecutive_timeouts >= self.conn.stall_timeouts:
                    self.log.stalls += 1
                    self.log.note("stalled", timeouts=self._consecutive_timeouts)
                    log.warning("%s stalled: %d calls without an answer", self.device, self._consecutive_timeouts)
                    await self._drop("stalled")
            raise LinkLost("time-out") from None
        except ua.UaStatusCodeError as exc:
            if exc.code in CONNECTION_STATUSES:
                if self._client is client:
                    await self._drop(type(exc).__name__)
                raise LinkLost(type(exc).__name__) from exc
            if type(exc).__name__ not in NOT_FOUND:  # "not there yet" is what result reads expect
                self.log.refused += 1
            self._consecutive_timeouts = 0
            raise DeviceRefused(self.device, type(exc).__name__, str(exc)) from exc
        except (OSError, ConnectionError, ua.UaError) as exc:
            if self._client is client:
                await self._drop(repr(exc))
            raise LinkLost(repr(exc)) from exc
        self._consecutive_timeouts = 0
        self.log.latency_s.append(time.perf_counter() - t0)
        observe.emit("call", device=self.device, ok=True, latency_s=self.log.latency_s[-1])
        return result

    async def call(self, op: Callable[[Client], Awaitable[Any]], *, retry: bool = True) -> Any:
        """Run `op(client)`; with `retry`, link problems are retried until `give_up_s` passes
        (DeviceUnavailable), also when connecting works but no call is answered."""
        failing_since: float | None = None
        while True:
            try:
                return await self._once(op)
            except LinkLost as exc:
                if not retry:
                    raise
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                if now - failing_since > self.conn.give_up_s:
                    self.log.note("gave_up", after_s=round(now - failing_since, 3), error=str(exc))
                    raise DeviceUnavailable(f"{self.device} at {self.endpoint}: no answer for "
                                            f"{now - failing_since:.1f} s ({exc})") from exc

    async def _resolve(self, client: Client, paths: Sequence[Path]) -> list[ua.NodeId | str]:
        """Node ids of `paths` (below the device object), cached per connection, one request
        for all that are not cached, each starting at its longest resolved prefix; for a path
        that does not resolve, the status name why."""
        assert self.namespaces is not None
        ns, nodes = self.namespaces, self._nodes
        unresolved: dict[Path, str] = {}
        starts: list[ua.NodeId] = []
        rests: list[Path] = []
        askable: list[Path] = []
        for p in dict.fromkeys(paths):
            if p in nodes:
                continue
            if ns.missing(q.namespace_uri for q in p):
                unresolved[p] = "BadNoMatch"  # the server lacks one of the path's namespaces
                continue
            cut = next((i for i in range(len(p) - 1, 0, -1) if p[:i] in nodes), 0)
            starts.append(nodes[p[:cut]] if cut else self._device_node)
            rests.append(p[cut:] if cut else join(self.device_path, p))
            askable.append(p)
        if askable:
            found = await translate_from(client, ns, starts, rests)
            for p, got in zip(askable, found):
                if isinstance(got, ua.StatusCode):
                    unresolved[p] = status_name(got)
                else:
                    nodes[p] = got
        return [nodes[p] if p in nodes else unresolved[p] for p in paths]

    async def resolve(self, paths: Sequence[Path], *, retry: bool = True) -> list[ua.NodeId | str]:
        """Resolve (and cache) `paths`; node ids, or the status name of those that do not resolve."""
        async def op(client: Client) -> list[ua.NodeId | str]:
            return await self._resolve(client, paths)
        return list(await self.call(op, retry=retry))

    def resolved(self, path: Path) -> bool:
        """Whether `path` is resolved (cached) on the current connection."""
        return path in self._nodes

    async def _ids(self, client: Client, paths: Sequence[Path]) -> list[ua.NodeId]:
        ids = await self._resolve(client, paths)
        for p, nid in zip(paths, ids):
            if isinstance(nid, str):
                log.debug("%s: %s does not resolve (%s)", self.device, render(p), nid)
                raise ua.UaStatusCodeError(getattr(ua.StatusCodes, nid, ua.StatusCodes.BadNoMatch))
        return [n for n in ids if not isinstance(n, str)]

    async def read(self, paths: Sequence[Path], *, retry: bool = True) -> list[Reading]:
        """The DataValues of `paths` in one Read request, each with its StatusCode (a path
        that does not resolve reads as None with the status that says why)."""
        async def op(client: Client) -> list[Reading]:
            ids = await self._resolve(client, paths)
            params = ua.ReadParameters()
            params.TimestampsToReturn = ua.TimestampsToReturn.Both
            for nid in ids:
                if not isinstance(nid, str):
                    rv = ua.ReadValueId()
                    rv.NodeId = nid
                    rv.AttributeId = ua.AttributeIds.Value
                    params.NodesToRead.append(rv)
            got = iter(await client.uaclient.read(params) if params.NodesToRead else [])
            return [Reading(None, nid) if isinstance(nid, str) else reading(next(got)) for nid in ids]
        return list(await self.call(op, retry=retry))

    async def read_value(self, path: Path, *, retry: bool = True) -> Any:
        """One value; DeviceRefused when its StatusCode is not Good."""
        r = (await self.read([path], retry=retry))[0]
        if not r.good:
            raise DeviceRefused(self.device, r.status, f"reading {render(path)}")
        return r.value

    async def method(self, obj: Path, method: Path, *args: Any, retry: bool = True) -> list[Any]:
        """Call `method` on `obj`; its output arguments as a list."""
        async def op(client: Client) -> list[Any]:
            oid, mid = await self._ids(client, [obj, method])
            out = await client.get_node(oid).call_method(mid, *args)
            if out is None:
                return []
            return list(out) if isinstance(out, list) else [out]
        return list(await self.call(op, retry=retry))

    async def call_many(self, calls: Sequence[tuple[Path, Path, Sequence[Any]]], *,
                        retry: bool = True) -> list[tuple[str, list[Any]]]:
        """Several method calls in one Call request; per call (status name, outputs)."""
        async def op(client: Client) -> list[tuple[str, list[Any]]]:
            ids = await self._ids(client, [p for obj, m, _ in calls for p in (obj, m)])
            requests = []
            for i, (_, _, args) in enumerate(calls):
                req = ua.CallMethodRequest()
                req.ObjectId, req.MethodId = ids[2 * i], ids[2 * i + 1]
                req.InputArguments = [a if isinstance(a, ua.Variant) else ua.Variant(a) for a in args]
                requests.append(req)
            results = await client.uaclient.call(requests)
            return [(status_name(r.StatusCode), [v.Value for v in (r.OutputArguments or [])]) for r in results]
        return list(await self.call(op, retry=retry))

    async def browse_names(self, path: Path, *, retry: bool = True) -> list[QName]:
        """Browse names of the children of `path` (with their namespace URIs)."""
        async def op(client: Client) -> list[QName]:
            (nid,) = await self._ids(client, [path])
            assert self.namespaces is not None
            uris = self.namespaces.uris
            names = [await c.read_browse_name() for c in await client.get_node(nid).get_children()]
            return [QName(uris[q.NamespaceIndex] if q.NamespaceIndex < len(uris) else "", q.Name) for q in names]
        return list(await self.call(op, retry=retry))

    # -- subscriptions -------------------------------------------------------------
    @property
    def watches(self) -> dict[Path, "Watch"]:
        return self._watches

    async def watch(self, path: Path, interval_ms: float) -> "Watch":
        """The value at `path` as the server publishes it (subscribed on this connection and
        re-subscribed on every later one); one Watch per path."""
        w = self._watches.get(path)
        if w is None:
            w = self._watches[path] = Watch(path, interval_ms)
            if self._client is not None:
                await self._resubscribe([path])
        return w

    async def _resubscribe(self, only: Sequence[Path] | None = None) -> None:
        client = self._client
        if client is None or not self._watches:
            return
        paths = list(only if only is not None else self._watches)
        try:
            ids = await asyncio.wait_for(self._ids(client, paths), self.conn.call_timeout_s)
            if self._subscription is None:
                interval = min(w.interval_ms for w in self._watches.values())
                handler = _Handler()
                sub = await asyncio.wait_for(client.create_subscription(interval, handler), self.conn.call_timeout_s)
                self._subscription = (sub, handler)
            sub, handler = self._subscription
            for p, nid in zip(paths, ids):
                handler.watchers[nid] = self._watches[p]
            await asyncio.wait_for(sub.subscribe_data_change([client.get_node(n) for n in ids]),
                                   self.conn.call_timeout_s)
            for p in paths:
                self._watches[p].subscribed = True
        except (ua.UaError, OSError, asyncio.TimeoutError) as exc:  # polling covers what is not subscribed
            log.info("%s: subscribing failed (%r); completion falls back to polling", self.device, exc)

    def report(self) -> dict:
        """Figures for the run's report."""
        return self.log.report(self.device, self.endpoint)
