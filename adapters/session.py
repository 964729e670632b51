"""One supervised OPC UA session per device: every call under a wall-clock time-out,
reconnection with exponential back-off, detection of a stalled device (socket open, no
answers) and of a device that restarted (its ServerStatus/StartTime changed), and a log of
what happened for the run's report.

Errors a caller sees: `DeviceRefused` (the device answered with a Bad status about the
request itself: wrong state, argument, unknown node) and `DeviceUnavailable` (no usable
connection within `give_up_s`). Connection trouble below that is retried here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from asyncua import Client, ua

from adapters.settings import Connection

if TYPE_CHECKING:  # pragma: no cover
    from adapters.pki import ServerTrust

log = logging.getLogger(__name__)
NAMESPACE = "urn:twin:plant"
SESSION_TIMEOUT_MS = 600_000  # what asyncua servers grant at most; asking more only logs a warning

# Bad statuses that say the session or channel is gone, not that the request was wrong.
_CONNECTION_STATUSES = {
    getattr(ua.StatusCodes, n) for n in (
        "BadSessionIdInvalid", "BadSessionClosed", "BadSessionNotActivated", "BadSecureChannelIdInvalid",
        "BadSecureChannelClosed", "BadConnectionClosed", "BadServerNotConnected", "BadCommunicationError",
        "BadNotConnected", "BadTimeout", "BadRequestTimeout", "BadServerHalted", "BadShutdown",
        "BadDisconnect", "BadTcpInternalError", "BadConnectionRejected",
    ) if hasattr(ua.StatusCodes, n)
}


NOT_FOUND = frozenset({"BadNoMatch", "BadNodeIdUnknown", "BadBrowseNameInvalid"})


class DeviceRefused(Exception):
    """The device answered a request with a Bad status (the request, not the link, is at fault)."""

    def __init__(self, device: str, status: str, message: str = "") -> None:
        super().__init__(f"{device} refused: {status} {message}".strip())
        self.device = device
        self.status = status


class DeviceUnavailable(Exception):
    """No usable connection to the device within the give-up time."""


class LinkLost(Exception):
    """A call failed because of the link (its outcome is unknown); reconnecting is up to the caller."""


@dataclass
class SessionLog:
    """What happened on one device's link during the run."""

    calls: int = 0
    timeouts: int = 0
    stalls: int = 0
    disconnects: int = 0
    reconnects: int = 0
    restarts: int = 0  # the device came back as a new server instance
    refused: int = 0
    latency_s: list[float] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def note(self, kind: str, **details: Any) -> None:
        self.events.append({"wall": time.time(), "event": kind, **details})


class DeviceSession:
    """A reconnecting client for one device object (`device`) at `endpoint`."""

    def __init__(self, device: str, endpoint: str, conn: Connection,
                 credentials: tuple[str, str] | None, client_cert: tuple[Path, Path] | None,
                 server_trust: "ServerTrust | None" = None) -> None:
        self.device = device
        self.server_trust = server_trust  # checks and pins the server certificate (adapters.pki)
        self.endpoint = endpoint
        self.conn = conn
        self.credentials = credentials
        self.client_cert = client_cert
        self.log = SessionLog()
        self.instance: str | None = None  # ServerStatus/StartTime of the server we talk to
        self._client: Client | None = None
        self._idx: int | None = None
        self._nodes: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._consecutive_timeouts = 0
        self._down_since: float | None = None

    # -- connection ----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._client is not None

    async def _connect_once(self) -> None:
        client = Client(self.endpoint, timeout=self.conn.call_timeout_s)
        client.session_timeout = SESSION_TIMEOUT_MS
        client.application_uri = self.conn.application_uri
        if self.conn.security_policy != "None":
            from asyncua.crypto import security_policies as sp

            policies: dict[str, Any] = {"Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
                                        "Aes256_Sha256_RsaPss": sp.SecurityPolicyAes256Sha256RsaPss}
            policy = policies[self.conn.security_policy]
            assert self.client_cert is not None
            server_der = None  # security (issue 12): only a trusted server certificate, pinned
            if self.server_trust is not None:
                server_der = await self.server_trust.verify(self.endpoint, self.conn.security_policy,
                                                            self.conn.connect_timeout_s)
            await client.set_security(policy, str(self.client_cert[0]), str(self.client_cert[1]),
                                      server_certificate=server_der, mode=ua.MessageSecurityMode.SignAndEncrypt)
        if self.credentials is not None:
            client.set_user(self.credentials[0])
            client.set_password(self.credentials[1])
        try:
            await asyncio.wait_for(client.connect(), self.conn.connect_timeout_s)
            idx = await asyncio.wait_for(client.get_namespace_index(NAMESPACE), self.conn.call_timeout_s)
            start = await asyncio.wait_for(
                client.get_node(ua.ObjectIds.Server_ServerStatus_StartTime).read_value(), self.conn.call_timeout_s)
        except BaseException:
            await self._close(client)
            raise
        instance = str(start)
        if self.instance is not None and instance != self.instance:
            self.log.restarts += 1
            self.log.note("restarted", previous=self.instance, now=instance)
            log.warning("%s came back as a new server instance (started %s)", self.device, instance)
        self.instance = instance
        self._client, self._idx, self._nodes = client, idx, {}

    async def connect(self) -> None:
        """Connect, retrying with exponential back-off; DeviceUnavailable after `give_up_s`
        without a connection (counted from when the link was first found down)."""
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
                return

    async def _drop(self, why: str) -> None:
        client, self._client = self._client, None
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
    async def _once(self, op: Callable[[Client, Callable[[str], Awaitable[Any]]], Awaitable[Any]]) -> Any:
        """One attempt under the call time-out; link problems become LinkLost. The attempt
        keeps to the connection it started on: another caller may drop or replace the link
        meanwhile, and then this attempt's failure must not count against the new one."""
        await self.connect()
        client, idx, nodes = self._client, self._idx, self._nodes
        assert client is not None and idx is not None

        async def node(path: str) -> Any:
            """The node at `path` (slash-separated browse path below the device), cached per connection."""
            found = nodes.get(path)
            if found is None:
                parts = [f"{idx}:{self.device}"] + [f"{idx}:{p}" for p in path.split("/") if p]
                found = await client.nodes.objects.get_child(parts)
                nodes[path] = found
            return found

        self.log.calls += 1
        t0 = time.perf_counter()
        try:
            result = await asyncio.wait_for(op(client, node), self.conn.call_timeout_s)
        except asyncio.TimeoutError:
            self.log.timeouts += 1
            if self._client is client:
                self._consecutive_timeouts += 1
                if self._consecutive_timeouts >= self.conn.stall_timeouts:
                    self.log.stalls += 1
                    self.log.note("stalled", timeouts=self._consecutive_timeouts)
                    log.warning("%s stalled: %d calls without an answer", self.device, self._consecutive_timeouts)
                    await self._drop("stalled")
            raise LinkLost("time-out") from None
        except ua.UaStatusCodeError as exc:
            if exc.code in _CONNECTION_STATUSES:
                if self._client is client:
                    await self._drop(type(exc).__name__)
                raise LinkLost(type(exc).__name__) from exc
            if type(exc).__name__ not in NOT_FOUND:  # "not there yet" is what result polls expect
                self.log.refused += 1
            self._consecutive_timeouts = 0
            raise DeviceRefused(self.device, type(exc).__name__, str(exc)) from exc
        except (OSError, ConnectionError, ua.UaError) as exc:
            if self._client is client:
                await self._drop(repr(exc))
            raise LinkLost(repr(exc)) from exc
        self._consecutive_timeouts = 0
        self.log.latency_s.append(time.perf_counter() - t0)
        return result

    async def call(self, op: Callable[[Client, Callable[[str], Awaitable[Any]]], Awaitable[Any]],
                   *, retry: bool = True) -> Any:
        """Run `op(client, node)` (node resolves a browse path below the device); with
        `retry`, link problems are retried until `give_up_s` passes (DeviceUnavailable),
        also when connecting works but no call is answered."""
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

    async def read(self, path: str, *, retry: bool = True) -> Any:
        """The value of the variable at `path`."""
        async def op(client: Client, node: Callable[[str], Awaitable[Any]]) -> Any:
            return await (await node(path)).read_value()
        return await self.call(op, retry=retry)

    async def method(self, path: str, *args: Any, retry: bool = True) -> Any:
        """Call the method at `path` on its parent object."""
        parent = path.rsplit("/", 1)[0]

        async def op(client: Client, node: Callable[[str], Awaitable[Any]]) -> Any:
            return await (await node(parent)).call_method(await node(path), *args)
        return await self.call(op, retry=retry)

    async def children(self, path: str, *, retry: bool = True) -> dict[str, Any]:
        """Values of every variable below the object at `path`, by browse name."""
        async def op(client: Client, node: Callable[[str], Awaitable[Any]]) -> dict[str, Any]:
            kids = await (await node(path)).get_children()
            names = [(await k.read_browse_name()).Name for k in kids]
            values = await client.read_values(kids)
            return dict(zip(names, values))
        return await self.call(op, retry=retry)

    def report(self) -> dict:
        """Figures for the run's report."""
        lat = sorted(self.log.latency_s)
        p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3) if lat else (lambda q: None)
        return {"device": self.device, "endpoint": self.endpoint, "calls": self.log.calls,
                "timeouts": self.log.timeouts, "stalls": self.log.stalls, "disconnects": self.log.disconnects,
                "reconnects": self.log.reconnects, "restarts": self.log.restarts, "refused": self.log.refused,
                "call_ms_p50": p(0.5), "call_ms_p95": p(0.95), "events": self.log.events}

