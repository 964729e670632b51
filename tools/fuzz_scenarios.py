"""Run generated bad scenario files through `twin run` and print the outcome counts.

    python tools/fuzz_scenarios.py [-n 600] [--seed 1] [--cpu-limit 40] [--show traceback,timeout]

Each case is one mutation of a shipped scenario (tests/fuzz.py), run in a forked child under a
CPU-time limit. Counts: valid (ran), invalid_path (exit 2 naming the YAML path), invalid_nopath,
traceback, timeout. Exit 1 when any case ended in a traceback, a timeout or without a path."""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("COLUMNS", "10000")  # problem lines unwrapped in the captured stderr

from tests.fuzz import CPU_LIMIT_S, OUTCOMES, fuzz  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=600, help="cases (spread over every shipped scenario)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cpu-limit", type=float, default=CPU_LIMIT_S, help="CPU seconds per case")
    ap.add_argument("--show", default="traceback,timeout,invalid_nopath", help="outcomes to print case by case")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--cases", default="", help="comma-separated case numbers to re-run (from an earlier report)")
    args = ap.parse_args()
    show = set(args.show.split(",")) if args.show else set()
    start = time.monotonic()
    running: collections.Counter = collections.Counter()

    def each(i, res):
        running[res.outcome] += 1
        if res.outcome in show:
            tail = res.stderr.strip().splitlines()[-1:] or [""]
            print(f"[{i}] {res.outcome} {res.case.scenario} {res.case.kind} {res.case.path!r} exit={res.exit_code} "
                  f"cpu={res.cpu_s:.1f}s :: {tail[0][:300]}", flush=True)
        if not args.quiet and (i + 1) % 25 == 0:
            print(f"... {i + 1} cases, {time.monotonic() - start:.0f} s: {dict(running)}", file=sys.stderr, flush=True)

    only = [int(x) for x in args.cases.split(",") if x.strip()] or None
    results = fuzz(args.n, args.seed, args.cpu_limit, each, only)
    counts = collections.Counter(r.outcome for r in results)
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        by_kind[r.case.kind][r.outcome] += 1
    print(f"\n{len(results)} cases (seed {args.seed}, CPU limit {args.cpu_limit:g} s each), "
          f"{time.monotonic() - start:.0f} s wall, max case CPU {max(r.cpu_s for r in results):.1f} s")
    for k in OUTCOMES:
        print(f"  {k:15s} {counts.get(k, 0)}")
    print("by mutation kind:")
    for kind, c in sorted(by_kind.items()):
        print(f"  {kind:12s} " + ", ".join(f"{k} {c[k]}" for k in OUTCOMES if c[k]))
    bad = counts.get("traceback", 0) + counts.get("timeout", 0) + counts.get("invalid_nopath", 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
