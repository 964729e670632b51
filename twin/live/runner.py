"""`LiveSimulation`: a simulated run with the live view open.

Replication 0 runs in steps on the event loop that serves the page: flat out in slices of
about `SLICE_S` wall seconds (the page is served between slices), or paced at `pace`
simulated hours per wall second. Chopping `env.run(until=...)` into slices leaves the order
of events unchanged, so the results equal a run without the view (tested). The other
replications then run as `twin run` runs them; the outputs are written by the same writer."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from twin.live.feed import LineFeed

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from twin.scenario import Scenario
    from twin.simulation import RunResult

SLICE_S = 0.02  # wall seconds of simulation between two chances to serve the page (flat out)
PACED_STEP_S = 0.05  # wall seconds between two steps when paced


class LiveSimulation:
    """Runs a scenario like `Simulation.run`, replication 0 in view."""

    def __init__(self, scenario: "Scenario", replications: int | None = None, seed: int | None = None,
                 pace: float = 0.0):
        if pace < 0:
            raise ValueError("pace: simulated hours per wall second must be >= 0 (0: as fast as possible)")
        self.scenario = scenario
        self.replications = replications or scenario.run.replications
        self.seed = scenario.run.seed if seed is None else seed
        self.pace = float(pace)
        self.feed = LineFeed(scenario, "sim", pace)
        self.behind_h = 0.0  # paced: how far the simulation trails the wall clock

    def _clock(self) -> dict[str, Any]:
        return {"pace_h_per_s": self.pace, "behind_h": round(self.behind_h, 5)}

    async def _run_line(self, line: Any) -> None:
        env = line.env
        until = float(self.scenario.run.duration_h)
        line.start()
        self.feed.clock = self._clock
        chunk_h = until / 1000.0
        wall0, sim0 = time.monotonic(), float(env.now)
        while env.now < until:
            if self.pace > 0:
                target = min(until, sim0 + self.pace * (time.monotonic() - wall0))
                if target > env.now:
                    env.run(until=target)
                self.behind_h = max(0.0, sim0 + self.pace * (time.monotonic() - wall0) - float(env.now))
                await asyncio.sleep(PACED_STEP_S)
                continue
            t0 = time.perf_counter()
            env.run(until=min(until, float(env.now) + chunk_h))
            spent = time.perf_counter() - t0
            chunk_h = min(until, max(chunk_h * min(4.0, SLICE_S / max(spent, 1e-6)), until * 1e-6))
            await asyncio.sleep(0)

    async def run_async(self, out_dir: "str | Path | None" = None, overwrite: bool = True,
                        on_replication: Callable[[int], None] | None = None,
                        before_end: Callable[[], Awaitable[None]] | None = None) -> "RunResult":
        """Run on the running loop (the server serves `self.feed` meanwhile); writes like
        `Simulation.run`. `before_end` is awaited once the run is done, before the outputs
        are committed (the CLI's --hold)."""
        from twin.experiment import replications
        from twin.line import Line
        from twin.replication import quality_keys
        from twin.simulation import RunResult, judge, summarise
        from twin.store import cell_row
        from twin.writer import RunWriter

        sc = self.scenario
        keys = quality_keys(sc)
        writer = RunWriter(out_dir, keys, overwrite=overwrite) if out_dir is not None else None
        try:
            line = Line(sc, 0, seed=self.seed, keep_visits=sc.run.write_trace)
            self.feed.attach(line)
            await self._run_line(line)
            kpis = line.kpis()
            reps = [kpis]
            if writer is not None:
                writer.add_replication(0, self.seed, kpis, [cell_row(0, c, keys) for c in line.cells], line.visits,
                                       line.recorder.timeline)
            if on_replication is not None:
                on_replication(0)
            for rep in replications(sc, range(1, self.replications), self.seed, None,
                                    keep_visits=sc.run.write_trace):
                reps.append(rep.kpis)
                if writer is not None:
                    writer.add_replication(rep.index, self.seed, rep.kpis, rep.cell_rows, rep.visits, rep.timeline)
                if on_replication is not None:
                    on_replication(rep.index)
                await asyncio.sleep(0)
            summary = summarise(sc, reps, self.seed)
            expectations = judge(sc, summary)
            self.feed.done(summary)
            if before_end is not None:
                await before_end()
            target = writer.commit(summary) if writer is not None else None
            return RunResult(summary, expectations, target)
        except BaseException as exc:
            if writer is not None:
                writer.abort(type(exc).__name__)
            raise
