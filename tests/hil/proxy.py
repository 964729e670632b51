"""A TCP proxy between the twin and one emulated device, to break the link on purpose.

It listens on a free 127.0.0.1 port and forwards every connection to the device's port, on
its own event loop in a background thread. From the test's thread:

- ``freeze()``: keep every socket open (and accept new ones) but forward nothing, as a hung
  device or a dead switch does; ``thaw()`` forwards again (held bytes first);
- ``hang_requests(n)``: on every connection, forward the client's first ``n`` OPC UA
  messages (enough to open a session) and hold the rest: a device that opens sessions but
  never answers a request; ``hang_requests(None)`` forwards them again;
- ``drop()``: close every current connection at once (both sides);
- ``refuse(True)``: close each new connection as soon as it is accepted; ``refuse(False)``
  accepts them again.

``client_messages`` counts the OPC UA messages (chunks) clients sent, per connection.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import threading
from typing import Any

_CALL_TIMEOUT_S = 10.0
_HEADER = 8  # OPC UA TCP: MessageType (3) + ChunkType (1) + MessageSize (UInt32, whole chunk)


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Conn:
    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream
        self.client_messages = 0

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            w.transport.abort()


class TcpProxy:
    """``with TcpProxy(device_port) as proxy: proxy.endpoint`` (forwarding to 127.0.0.1:device_port)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0  # connections accepted (refused ones included)
        self.refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._frozen = False
        self._refusing = False
        self._request_limit: int | None = None
        self._conns: list[_Conn] = []
        self._pumps: set[asyncio.Task] = set()
        self._handlers: set[asyncio.Task] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="tcp-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}"

    # -- the proxy's own loop --------------------------------------------------------
    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
            self._ready.set()
            loop.run_forever()
        finally:
            loop.run_until_complete(self._close_all())
            loop.close()

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            self.accepted += 1
            if self._refusing:
                self.refused += 1
                writer.transport.abort()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.transport.abort()
                return
            conn = _Conn(writer, up_writer)
            self._conns.append(conn)
            pumps = [asyncio.create_task(self._pump_requests(reader, conn)),
                     asyncio.create_task(self._pump(up_reader, writer))]
            self._pumps.update(pumps)
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in pumps:
                    t.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
                self._pumps.difference_update(pumps)
                self._conns.remove(conn)
                conn.abort()
        finally:
            self._handlers.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _hold(self, conn: _Conn | None = None) -> None:
        """Wait while frozen, or while this connection has used up its requests."""
        while self._frozen or (conn is not None and self._request_limit is not None
                               and conn.client_messages >= self._request_limit):
            await asyncio.sleep(0.01)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Device -> twin."""
        while True:
            data = await reader.read(65536)
            if not data:
                return
            await self._hold()  # hold the bytes, keep the socket open
            writer.write(data)
            await writer.drain()

    async def _pump_requests(self, reader: asyncio.StreamReader, conn: _Conn) -> None:
        """Twin -> device, one OPC UA message at a time (so they can be counted and held)."""
        while True:
            try:
                header = await reader.readexactly(_HEADER)
                size = struct.unpack_from("<I", header, 4)[0]
                body = await reader.readexactly(max(0, size - _HEADER))
            except asyncio.IncompleteReadError:
                return
            await self._hold(conn)
            conn.client_messages += 1
            conn.upstream.write(header + body)
            await conn.upstream.drain()

    async def _drop_all(self) -> int:
        n = len(self._conns)
        for conn in list(self._conns):
            conn.abort()
        for t in list(self._pumps):
            t.cancel()
        await asyncio.sleep(0)
        return n

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
        self._frozen, self._request_limit = False, None
        await self._drop_all()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=_CALL_TIMEOUT_S)

    # -- the test's side ---------------------------------------------------------------
    def _call(self, fn: Any) -> Any:
        async def go() -> Any:
            out = fn()
            return (await out) if asyncio.iscoroutine(out) else out
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(go(), self._loop).result(_CALL_TIMEOUT_S)

    def _set(self, **values: Any) -> None:
        def apply() -> None:
            for k, v in values.items():
                setattr(self, k, v)
        self._call(apply)

    def freeze(self) -> None:
        """Stop forwarding; sockets stay open."""
        self._set(_frozen=True)

    def thaw(self) -> None:
        """Forward again."""
        self._set(_frozen=False)

    def hang_requests(self, after_messages: int | None) -> None:
        """Hold every client message past the first `after_messages` of its connection."""
        self._set(_request_limit=after_messages)

    def refuse(self, on: bool = True) -> None:
        """Close new connections at once (``on``) or accept them again."""
        self._set(_refusing=on)

    def drop(self) -> int:
        """Close every current connection; returns how many there were."""
        return self._call(self._drop_all)

    def client_messages(self) -> list[int]:
        """Messages each open connection's client has sent so far."""
        return self._call(lambda: [c.client_messages for c in self._conns])

    def start(self) -> "TcpProxy":
        self._thread.start()
        if not self._ready.wait(_CALL_TIMEOUT_S):
            raise TimeoutError("proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CALL_TIMEOUT_S)

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
