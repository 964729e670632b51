"""`twin view DIR` and the `--live` runs of `twin run` / `twin hil`: the live web view
(twin.live). Registered on the `twin` app by twin.cli; `twin run` and `twin hil` call
`run_live` / `hil_live` when given --live."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import typer

from twin.cli import EXIT_INVALID, app, err

if TYPE_CHECKING:  # pragma: no cover
    from twin.scenario import Scenario
    from twin.simulation import RunResult, Simulation

DEFAULT_BIND = "127.0.0.1"


def check_live_options(live: bool, port: int, bind: str, pace: float = 0.0, hold: bool = False) -> None:
    """Exit 2 naming the option when a live option is given without --live, or is not usable."""
    if not live:
        given = [name for name, used in (("--port", port != 0), ("--bind", bind != DEFAULT_BIND),
                                         ("--pace", pace != 0.0), ("--hold", hold)) if used]
        if given:
            err.print(f"[bold red]invalid option[/]: {', '.join(given)} only with --live")
            raise typer.Exit(EXIT_INVALID)
        return
    if bind != "localhost":
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            err.print(f"[bold red]invalid option[/] --bind: {bind!r} is not an IP address (e.g. 127.0.0.1, 0.0.0.0)")
            raise typer.Exit(EXIT_INVALID)
    _need_extra()


def _need_extra() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401

        from twin.live.view import asset

        asset("plotly.min.js")
    except (ImportError, RuntimeError) as exc:
        err.print(f"[bold red]the live view needs the `live` extra[/]: pip install 'anodeless-twin[live]' ({exc})")
        raise typer.Exit(EXIT_INVALID)


async def _serve_while(server: Any, work: Callable[[], Awaitable[Any]], hold: bool) -> Any:
    """Start `server`, print where to look, run `work`, keep serving with `hold` until Ctrl-C."""
    await server.start()
    try:
        err.print(f"live view: {server.url}" + ("" if server.token is None else
                                                "  (the token is needed from other machines)"))
        result = await work()
        if hold:
            err.print("run finished; the live view stays up until Ctrl-C")
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                pass
        return result
    finally:
        await server.stop()


def _run(main: Awaitable[Any]) -> Any:
    try:
        return asyncio.run(main)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        err.print("stopped")
        raise typer.Exit(130)


def run_live(sc: "Scenario", out_dir: Path, replications: int | None, seed: int | None, *, port: int, bind: str,
             pace: float, hold: bool, on_replication: Callable[[int], None] | None = None) -> "RunResult":
    """`twin run --live`: replication 0 in the live view, the others after it."""
    from twin.live.runner import LiveSimulation
    from twin.live.server import LiveServer

    async def main() -> "RunResult":
        sim = LiveSimulation(sc, replications, seed, pace)
        server = LiveServer(sim.feed, bind=bind, port=port)
        return await _serve_while(server, lambda: sim.run_async(out_dir, on_replication=on_replication), hold)

    return _run(main())


def hil_live(sim: "Simulation", out_dir: Path, *, port: int, bind: str, hold: bool) -> "RunResult":
    """`twin hil --live`: the run against equipment, watched (HilWatch) in the live view."""
    from twin.live.feed import LineFeed
    from twin.live.hil import HilWatch
    from twin.live.server import LiveServer

    async def main() -> "RunResult":
        feed = LineFeed(sim.scenario, "hil")
        server = LiveServer(feed, bind=bind, port=port)

        async def work() -> "RunResult":
            async with HilWatch(feed):
                result = await sim.run_async(out_dir)
                feed.done(result.summary)
                return result

        return await _serve_while(server, work, hold)

    return _run(main())


@app.command()
def view(directory: Path = typer.Argument(..., help="a finished run's output folder (summary.json, trace.sqlite)"),
         port: int = typer.Option(0, "--port", min=0, max=65535, help="port (0: a free one)"),
         bind: str = typer.Option(DEFAULT_BIND, "--bind", help="address; beyond loopback the page needs a token")):
    """Replay a finished run in the live view, with a time slider (until Ctrl-C)."""
    from twin.live.replay import Replay, ReplayError
    from twin.live.server import LiveServer

    check_live_options(True, port, bind)
    try:
        replay = Replay(directory)
    except ReplayError as exc:
        err.print(f"[bold red]nothing to replay[/]: {exc}")
        raise typer.Exit(EXIT_INVALID)

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:  # Ctrl-C: the replay ends
            pass

    async def main() -> None:
        await _serve_while(LiveServer(replay=replay, bind=bind, port=port), forever, False)

    _run(main())
