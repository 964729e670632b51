"""Replications and sweeps over a concurrent.futures-style executor.

Three executors, one contract: `None` runs tasks in this process, a
`concurrent.futures.Executor` (e.g. ProcessPoolExecutor) runs them in a local pool, and a
Dask `distributed.Client` runs them on a cluster. A task is (scenario, replication index,
seed) and its result depends on nothing else (common random numbers keyed by
(seed, replication, source)), so every executor returns identical numbers.
Dask is imported only when a scheduler address is given.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

from twin.kpis import kpi_value
from twin.replication import Replication, replication_kpis, run_replication
from twin.scenario import Scenario
from twin.stats import t_halfwidth

Task = tuple[Callable[..., Any], tuple]


def _is_dask(executor: Any) -> bool:
    return type(executor).__module__.startswith("distributed")


def run_tasks(executor: Any, tasks: Sequence[Task]) -> Iterator[tuple[int, Any]]:
    """Run (fn, args) tasks; yield (task position, result) as each one completes."""
    if executor is None:
        for i, (fn, args) in enumerate(tasks):
            yield i, fn(*args)
        return
    if _is_dask(executor):
        from distributed import as_completed as dask_completed

        futures = [executor.submit(fn, *args, pure=False) for fn, args in tasks]
        position = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in dask_completed(futures):
                yield position[fut.key], fut.result()
        finally:
            for f in futures:
                f.cancel()
        return
    submitted = {executor.submit(fn, *args): i for i, (fn, args) in enumerate(tasks)}
    try:
        for fut in as_completed(submitted):
            yield submitted[fut], fut.result()
    finally:
        for f in submitted:
            f.cancel()


def run_ordered(executor: Any, tasks: Sequence[Task]) -> Iterator[tuple[int, Any]]:
    """Like `run_tasks`, but yields in task order (out-of-order results wait in a buffer)."""
    pending: dict[int, Any] = {}
    nxt = 0
    for i, result in run_tasks(executor, tasks):
        pending[i] = result
        while nxt in pending:
            yield nxt, pending.pop(nxt)
            nxt += 1


@contextmanager
def executor_for(workers: int = 1, scheduler: str | None = None, timeout_s: float = 30.0) -> Iterator[Any]:
    """The executor the CLI options ask for: in-process, a local process pool, or Dask."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError as exc:  # the optional extra is missing
            raise RuntimeError("--scheduler needs Dask: pip install 'anodeless-twin[cluster]'") from exc
        client = Client(scheduler, timeout=timeout_s)
        try:
            yield client
        finally:
            client.close()
    elif workers > 1:
        from twin.interrupt import ignore_sigint

        pool = ProcessPoolExecutor(max_workers=workers, initializer=ignore_sigint)
        try:
            yield pool
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        yield None


def default_workers() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# --- replications ---------------------------------------------------------------------

def replications(scenario: Scenario, indices: Iterable[int], seed: int, executor: Any = None,
                 keep_visits: bool = True) -> Iterator[Replication]:
    """Full replications (KPIs, cell rows, visits) in index order, run on `executor`."""
    tasks = [(run_replication, (scenario, i, seed, keep_visits)) for i in indices]
    for _, rep in run_ordered(executor, tasks):
        yield rep


def kpi_of(kpis: dict, name: str) -> float:
    """A KPI by name from one replication's KPIs (nan if absent); see twin.kpis."""
    return kpi_value(kpis, name)


def halfwidth_of(reps: Sequence[dict], kpi: str) -> float:
    """95% half-width of one KPI over replication results."""
    return t_halfwidth([kpi_of(r, kpi) for r in reps])


def run_points(scenarios: Sequence[Scenario], seed: int, replications_n: int, executor: Any = None,
               target: tuple[str, float] | None = None, max_replications: int = 100,
               on_result: Callable[[int, int], None] | None = None, cache: Any = None) -> list[list[dict]]:
    """KPIs of replications 0..n-1 of every scenario (a grid point each): `result[p][r]`.

    Every point runs the same replication indices, so replication r of every point sees the
    same random numbers (common random numbers; paired comparisons). With `target`
    (kpi, half-width), rounds of replications are added to every point until that KPI's
    95% half-width is at most the target at every point, or `max_replications` is reached.
    With `cache` (a twin.studies.cache.PointCache), finished replications are read from it
    and new ones written to it as they arrive; Ctrl-C inside twin.interrupt.graceful() stops
    after the result under way (Interrupted names the replications kept).
    """
    from twin import interrupt

    keys: list[str | None] = [None] * len(scenarios)
    if cache is not None:
        from twin.studies.cache import content_hash

        keys = [content_hash(sc) for sc in scenarios]
    results: list[list[dict]] = [[] for _ in scenarios]
    n = replications_n
    done = 0
    step = max(replications_n, 2)
    kept = 0
    while True:
        todo = range(done, n)
        got: dict[tuple[int, int], dict] = {}
        tasks, where = [], []
        for p, sc in enumerate(scenarios):
            for r in todo:
                hit = cache.get(keys[p], seed, r) if cache is not None else None
                if hit is not None:
                    got[(p, r)] = hit
                    if on_result is not None:
                        on_result(p, r)
                else:
                    tasks.append((replication_kpis, (sc, r, seed)))
                    where.append((p, r))
        for k, kpis in run_tasks(executor, tasks):
            p, r = where[k]
            got[(p, r)] = kpis
            kept += 1
            if cache is not None:
                cache.put(keys[p], seed, r, kpis)
            if on_result is not None:
                on_result(p, r)
            if interrupt.requested() and len(got) < len(scenarios) * len(todo):
                raise interrupt.Interrupted([f"{kept} new replication(s) of the study's points"], None, "results:")
        for p in range(len(scenarios)):
            results[p].extend(got[(p, r)] for r in todo)
        done = n
        if target is None or done >= max_replications:
            return results
        kpi, goal = target
        widths = [halfwidth_of(reps, kpi) for reps in results]
        if all(w <= goal for w in widths):  # nan (fewer than 2 replications) never passes
            return results
        n = min(done + step, max_replications)
