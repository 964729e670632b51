"""`twin run --workers N` against serial on the baseline (physics mode): wall time of each,
the speed-up, and whether the two summary.json files are identical (they must be).

    python bench/bench_workers.py [--workers 2] [--replications 4] [--hours 240]

Wall time depends on what else runs on the machine: the load average is printed; measure
on a quiet machine (the target is >= 1.8x on 2 cores). Never asserted."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--replications", type=int, default=4)
    ap.add_argument("--hours", type=float, default=240.0)
    args = ap.parse_args()
    data = yaml.safe_load((REPO / "scenarios" / "baseline.yaml").read_text())
    data["run"].update(duration_h=args.hours, replications=args.replications)
    exe = str(Path(sys.executable).with_name("twin"))
    with tempfile.TemporaryDirectory() as tmp:
        sc = Path(tmp) / "baseline.yaml"
        sc.write_text(yaml.safe_dump(data))
        walls, summaries = {}, {}
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        for w in (1, args.workers):
            out = Path(tmp) / f"w{w}"
            t0 = time.perf_counter()
            subprocess.run([exe, "run", str(sc), "--out", str(out), "--workers", str(w)], stdout=subprocess.DEVNULL,
                           check=False)
            walls[w] = time.perf_counter() - t0
            summaries[w] = json.loads((out / "summary.json").read_text())
            print(f"  --workers {w}: {walls[w]:.1f} s wall")
        print(f"speed-up {walls[1] / walls[args.workers]:.2f}x; summaries identical: "
              f"{summaries[1] == summaries[args.workers]}; load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
