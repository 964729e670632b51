#!/usr/bin/env bash
# Run tests with both cores saturated by a background load, to show the suite holds under load.
#
#   tools/stress.sh [pytest args...]        default: the fast lane (-m "not slow")
#   STRESS_WORKERS=4 tools/stress.sh tests/hil
#
# Starts STRESS_WORKERS (default: the number of cores) busy-loop processes, runs pytest with the
# given arguments, stops exactly the processes it started (by pid) and exits with pytest's code.
# Waiting tests take their deadlines from tests/progress.py (load-scaled, restarted on progress),
# so nothing is loosened for this: the same assertions must hold on a saturated machine.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
WORKERS=${STRESS_WORKERS:-$(nproc)}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM
for _ in $(seq "$WORKERS"); do
  "$PYTHON" -c 'while True: pass' &
  pids+=($!)
done
echo "stress: $WORKERS busy-loop process(es) (${pids[*]}); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
if [ $# -eq 0 ]; then set -- -m "not slow"; fi
"$PYTHON" -m pytest "$@"
code=$?
echo "stress: pytest exit $code; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit $code
