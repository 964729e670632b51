"""A 1,000,000-cell baseline run: `twin run` of the shipped baseline (physics quality mode),
1 replication, lengthened until about --cells cells are released, in a child process.

Prints wall time, CPU time, completed cells per CPU-second, the peak resident memory of the
child (ru_maxrss) and the size of each output file.

    python bench/bench_million.py [--cells 1000000] [--no-trace]

The baseline releases a cell every 0.065 h on average, so 1,000,000 cells take 65,000
simulated hours. Figures depend on the machine and its load (printed); never asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MEAN_INTERARRIVAL_H = 0.065


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=1_000_000)
    ap.add_argument("--no-trace", action="store_true", help="run.write_trace: false (no visits in trace.sqlite)")
    ap.add_argument("--keep", type=Path, default=None, help="write the run here instead of a temporary folder")
    args = ap.parse_args()
    data = yaml.safe_load((REPO / "scenarios" / "baseline.yaml").read_text())
    hours = args.cells * MEAN_INTERARRIVAL_H
    data["run"].update(duration_h=hours, replications=1, write_trace=not args.no_trace)
    data["expect"] = []
    exe = Path(sys.executable).with_name("twin")
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "million.yaml"
        scenario.write_text(yaml.safe_dump(data))
        out = args.keep or Path(tmp) / "out"
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; baseline for {hours:g} h "
              f"(~{args.cells} cells), write_trace={not args.no_trace}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run([str(exe), "run", str(scenario), "--out", str(out), "--force"],
                            stdout=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - t0
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = ru.ru_utime + ru.ru_stime
        import pyarrow.parquet as pq

        outcome = pq.read_table(out / "cells.parquet", columns=["outcome"]).column("outcome").to_pylist()
        completed = sum(1 for o in outcome if o != "in_process")
        print(f"exit code {rc}; {len(outcome)} cells recorded, {completed} completed")
        print(f"wall {wall:.1f} s, CPU {cpu:.1f} s, {completed / cpu:.0f} completed cells per CPU-second")
        print(f"peak RSS {ru.ru_maxrss / 1024:.0f} MB (target <= 300 MB)")
        for f in sorted(out.iterdir()):
            print(f"  {f.name:20s} {f.stat().st_size / 1e6:10.1f} MB")


if __name__ == "__main__":
    main()
