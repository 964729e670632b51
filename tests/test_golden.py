"""Golden summaries: every shipped scenario, run through the CLI at its own seed with two
replications, must reproduce the summary.json pinned under tests/golden/.

They pin behaviour across refactors: a change that moves any KPI of any shipped scenario
shows here. A deliberate change of the model regenerates them with
`python -m tests.test_golden --update` and says why in its commit.
Keys added to summary.json later are allowed; every pinned key must keep its value
(relative tolerance 1e-9, for floating-point reassociation only).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).with_name("golden")
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
REPLICATIONS = 2
REL_TOL = 1e-9


def run_summary(scenario: Path, out_dir: Path) -> dict[str, Any]:
    """summary.json of `twin run SCENARIO --replications 2 --json` (in-process)."""
    from typer.testing import CliRunner

    from twin.cli import app

    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out_dir), "--replications",
                                      str(REPLICATIONS), "--json"])
    assert result.exit_code in (0, 1), result.output
    return json.loads((out_dir / "summary.json").read_text())


def differences(golden: Any, got: Any, path: str = "") -> list[str]:
    """Where `got` departs from `golden` (extra keys in `got` are fine)."""
    if isinstance(golden, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected a mapping, got {got!r}"]
        out = []
        for k, v in golden.items():
            if k not in got:
                out.append(f"{path}.{k}: missing")
            else:
                out.extend(differences(v, got[k], f"{path}.{k}"))
        return out
    if isinstance(golden, list):
        if not isinstance(got, list) or len(got) != len(golden):
            return [f"{path}: expected a list of {len(golden)}, got {got!r:.80}"]
        return [d for i, (a, b) in enumerate(zip(golden, got)) for d in differences(a, b, f"{path}[{i}]")]
    if isinstance(golden, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        if math.isclose(golden, got, rel_tol=REL_TOL, abs_tol=1e-12):
            return []
        return [f"{path}: {golden!r} -> {got!r}"]
    return [] if golden == got else [f"{path}: {golden!r} -> {got!r}"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.stem for s in SCENARIOS])
def test_summary_matches_golden(scenario: Path, tmp_path: Path) -> None:
    golden_file = GOLDEN / f"{scenario.stem}.json"
    assert golden_file.exists(), f"no golden summary for {scenario.name}: run python -m tests.test_golden --update"
    got = run_summary(scenario, tmp_path / "out")
    diff = differences(json.loads(golden_file.read_text()), got)
    assert not diff, f"{scenario.name} departs from its golden summary:\n" + "\n".join(diff[:30])


def test_every_golden_file_has_its_scenario() -> None:
    stems = {s.stem for s in SCENARIOS}
    assert {g.stem for g in GOLDEN.glob("*.json")} <= stems


def _update(names: list[str]) -> None:
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    for scenario in SCENARIOS:
        if names and scenario.stem not in names:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_summary(scenario, Path(tmp) / "out")
        (GOLDEN / f"{scenario.stem}.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN / (scenario.stem + '.json')}")


if __name__ == "__main__":  # python -m tests.test_golden --update [scenario ...]
    if sys.argv[1:2] != ["--update"]:
        sys.exit("usage: python -m tests.test_golden --update [scenario stem ...]")
    _update(sys.argv[2:])
