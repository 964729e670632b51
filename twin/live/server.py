"""The live view's web server: a Starlette app over uvicorn, in the twin's own event loop.

Routes: ``/`` the page, ``/assets/<name>`` its scripts and styles, ``/events`` server-sent
events (live: one ``delta`` message per change, only what changed), ``/state`` the whole
current state as JSON, and for a replay ``/frame?t=H`` the run as it was at hour H.

Security by default: bound to 127.0.0.1, where the Host header must name the loopback (no DNS
rebinding); bound anywhere else the page needs a token (generated unless given), taken from
``?token=`` once and then from an HttpOnly cookie, or from ``Authorization: Bearer``. Every
response forbids framing, sniffing, referrers and caching, and allows scripts from the page's
own origin only."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from starlette.requests import Request
    from starlette.responses import Response

    from twin.live.feed import LineFeed

log = logging.getLogger(__name__)
TICK_S = 0.25  # how often pages get news (sooner for faults and link trouble)
HEARTBEAT_S = 10.0
COOKIE = "twin_live_token"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "::1"]
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Replayable(Protocol):
    """What a replay gives the server."""

    title: str

    def meta(self) -> dict[str, Any]: ...

    def frame(self, t_h: float) -> dict[str, Any]: ...


async def wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Until `event` is set or `timeout_s` passes (asyncio.wait_for can swallow a cancellation
    that races the event on Python < 3.12; this cannot)."""
    if event.is_set():
        return
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout_s)
    finally:
        waiter.cancel()


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _quiet_server_class() -> Any:
    import contextlib

    import uvicorn

    class QuietServer(uvicorn.Server):
        """uvicorn without its signal handlers: Ctrl-C belongs to the twin's run, not to the view."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        def install_signal_handlers(self) -> None:  # older uvicorn
            pass

    return QuietServer


class LiveServer:
    """Serves a live feed or a replay; `start()` / `stop()` on the running loop."""

    def __init__(self, feed: "LineFeed | None" = None, replay: Replayable | None = None, *,
                 bind: str = "127.0.0.1", port: int = 0, token: str | None = None, tick_s: float = TICK_S):
        if (feed is None) == (replay is None):
            raise ValueError("serve either a live feed or a replay")
        self.feed = feed
        self.replay = replay
        self.bind = bind
        self.port = port or free_port(bind if bind not in ("0.0.0.0", "::") else "127.0.0.1")
        self.token = token if token or is_loopback(bind) else secrets.token_urlsafe(24)
        self.tick_s = tick_s
        self.latest: dict[str, Any] | None = None
        self.clients: set[asyncio.Event] = set()
        self.closing = False
        self.sent = 0
        self._server: Any = None
        self._serve: asyncio.Task | None = None
        self._ticker: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self.app = self._app()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "::") else self.bind
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    # --- the app ---------------------------------------------------------------------
    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware
        from starlette.routing import Route

        middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)] if is_loopback(self.bind) \
            else []
        routes = [Route("/", self._page), Route("/assets/{name}", self._asset), Route("/state", self._state),
                  Route("/events", self._events), Route("/frame", self._frame)]
        return Starlette(routes=routes, middleware=middleware)

    def _allowed(self, request: "Request") -> bool:
        if self.token is None:
            return True
        auth = request.headers.get("authorization", "")
        given = (request.query_params.get("token") or request.cookies.get(COOKIE)
                 or (auth[7:] if auth.lower().startswith("bearer ") else ""))
        return secrets.compare_digest(given.encode(), self.token.encode())

    def _refuse(self) -> "Response":
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("a token is required: open the URL the twin printed", 401, headers=HEADERS)

    async def _page(self, request: "Request") -> "Response":
        from starlette.responses import HTMLResponse

        from twin.live.view import page

        if not self._allowed(request):
            return self._refuse()
        mode = "replay" if self.replay is not None else "live"
        title = self.replay.title if self.replay is not None else (self.feed.scenario.name if self.feed else "")
        response = HTMLResponse(page(mode, title), headers=HEADERS)
        if self.token is not None:
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
        return response

    async def _asset(self, request: "Request") -> "Response":
        from starlette.responses import PlainTextResponse, Response

        from twin.live.view import ASSETS, asset

        if not self._allowed(request):
            return self._refuse()
        name = request.path_params["name"]
        if name not in ASSETS:
            return PlainTextResponse("not found", 404, headers=HEADERS)
        return Response(asset(name), media_type=ASSETS[name], headers=HEADERS)

    async def _state(self, request: "Request") -> "Response":
        from starlette.responses import JSONResponse

        if not self._allowed(request):
            return self._refuse()
        if self.replay is not None:
            return JSONResponse(self.replay.meta(), headers=HEADERS)
        assert self.feed is not None
        return JSONResponse({**self.feed.snapshot(), "series": self.feed.series.since(0)}, headers=HEADERS)

    async def _frame(self, request: "Request") -> "Response":
        from starlette.responses import JSONResponse, PlainTextResponse

        if not self._allowed(request):
            return self._refuse()
        if self.replay is None:
            return PlainTextResponse("a live run has no frames", 404, headers=HEADERS)
        try:
            t_h = float(request.query_params.get("t", "inf"))
        except ValueError:
            return PlainTextResponse("t: expected hours as a number", 400, headers=HEADERS)
        return JSONResponse(self.replay.frame(t_h), headers=HEADERS)

    async def _events(self, request: "Request") -> "Response":
        from starlette.responses import PlainTextResponse, StreamingResponse

        if not self._allowed(request):
            return self._refuse()
        if self.feed is None:
            return PlainTextResponse("a replay has no event stream", 404, headers=HEADERS)
        return StreamingResponse(self._stream(), media_type="text/event-stream",
                                 headers={**HEADERS, "X-Accel-Buffering": "no"})

    async def _stream(self) -> AsyncIterator[str]:
        from twin.live.feed import Client

        assert self.feed is not None
        feed, client, dirty = self.feed, Client(), asyncio.Event()
        self.clients.add(dirty)
        try:
            yield "retry: 1000\n\n"
            last = time.monotonic()
            while True:
                snap = self.latest if self.latest is not None else feed.snapshot()
                msg = client.message(snap, feed.series)
                if msg is not None:
                    self.sent += 1
                    yield f"event: delta\ndata: {json.dumps(msg, separators=(',', ':'), allow_nan=False)}\n\n"
                    last = time.monotonic()
                elif time.monotonic() - last > HEARTBEAT_S:
                    yield ": heartbeat\n\n"
                    last = time.monotonic()
                if self.closing:
                    yield "event: end\ndata: {}\n\n"
                    return
                await wait_event(dirty, HEARTBEAT_S)
                dirty.clear()
        finally:
            self.clients.discard(dirty)

    # --- ticking -----------------------------------------------------------------------
    def wake(self) -> None:
        """Push news to the pages now (a fault, the link, the end of the run)."""
        if self._wake is not None:
            self._wake.set()

    async def _tick(self) -> None:
        assert self.feed is not None and self._wake is not None
        feed = self.feed
        while not self.closing:
            await wait_event(self._wake, self.tick_s)
            self._wake.clear()
            feed.sample()
            if self.clients:
                self.latest = feed.snapshot()
                for dirty in list(self.clients):
                    dirty.set()
            else:
                self.latest = None

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        import uvicorn

        _QuietServer = _quiet_server_class()
        config = uvicorn.Config(self.app, host=self.bind, port=self.port, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2, ws="none")
        self._server = _QuietServer(config)
        self._serve = asyncio.get_running_loop().create_task(self._server.serve())
        while not self._server.started:
            if self._serve.done():
                self._serve.result()  # raises why it could not start (port taken...)
                raise RuntimeError(f"the live view could not listen on {self.bind}:{self.port}")
            await asyncio.sleep(0.02)
        if self.feed is not None:
            self._wake = asyncio.Event()
            self.feed.urgent.append(self.wake)
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        """Tell the pages the stream ends, then shut the server down."""
        self.closing = True
        if self.feed is not None:
            self.latest = self.feed.snapshot()
        for dirty in list(self.clients):
            dirty.set()
        for _ in range(50):
            if not self.clients:
                break
            await asyncio.sleep(0.02)
        if self._ticker is not None:
            self.wake()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._server is not None and self._serve is not None:
            self._server.should_exit = True
            await asyncio.gather(self._serve, return_exceptions=True)
        if self.feed is not None and self.wake in self.feed.urgent:
            self.feed.urgent.remove(self.wake)

    async def __aenter__(self) -> "LiveServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
