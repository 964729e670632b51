"""Generated bad scenario files (mutations of every shipped scenario, tests/fuzz.py) through a
real `twin run`: never a traceback, never more than CPU_LIMIT_S of CPU, and every invalid case
exit 2 naming the YAML path (or the file itself, for a corrupted file). Fast lane: 30 cases;
slow lane: 500 (tools/fuzz_scenarios.py prints the outcome counts of a larger batch)."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz import CPU_LIMIT_S, SHIPPED, generate, run_case

_counter = itertools.count()


def _check(scenario: Path, seed: int) -> None:
    case = generate(scenario, seed)
    root = Path(tempfile.mkdtemp(prefix="twin-fuzz-test-"))
    try:
        res = run_case(case, root, next(_counter))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    where = f"{case.scenario} {case.kind} {case.path!r} (seed {seed})"
    assert res.outcome in ("valid", "invalid_path"), f"{where}: {res.outcome}, exit {res.exit_code}\n{res.stderr[-2000:]}"
    assert res.cpu_s <= CPU_LIMIT_S, f"{where}: {res.cpu_s:.1f} s of CPU"


CASES = dict(scenario=st.sampled_from(SHIPPED), seed=st.integers(0, 2**32 - 1))
# no shrinking: a case is a seed, and the failure message names its mutation already
COMMON = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow],
              phases=[Phase.explicit, Phase.generate])


@settings(max_examples=30, **COMMON)
@given(**CASES)
def test_generated_bad_scenarios_fast(scenario, seed):
    _check(scenario, seed)


@pytest.mark.slow
@settings(max_examples=500, **COMMON)
@given(**CASES)
def test_generated_bad_scenarios_slow(scenario, seed):
    _check(scenario, seed)
