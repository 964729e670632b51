"""The two interface-physics what-ifs (quality.mode: physics) answer in one run each:
a precise isostatic press keeps more cells in one pressing than a uniaxial press with a 10%
spatial pressure CV (yield_by_press), and a smooth collector lot more than a rough one
(yield_by_lot), with 95% intervals that do not overlap; and the reject decisions show the
physics behind the answer: the uniaxial press's uneven map leaves its 5% lowest-pressure
region short of contact (and that region's voids lower the critical current density), the
rough lot's peaks raise the hot-spot factor and the short risk, and the tallest are scrapped."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from twin.disposition import DispositionPolicy
from twin.line import Line
from twin.scenario import Scenario, load_scenario, load_scenario_data, parse_scenario
from twin.simulation import Simulation

REPO = Path(__file__).resolve().parent.parent
PRESSES = REPO / "scenarios" / "whatif_isostatic_vs_uniaxial.yaml"
LOTS = REPO / "scenarios" / "whatif_collector_lot.yaml"
ACCEPT = 0

CONTACT = {"low_contact", "high_resistance"}    # contact, voids, interfacial resistance
PEAKS = {"pv_peak", "hotspot", "short_risk"}    # local current density: peaks, hot spots, shorts


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(REPO)  # press spec paths in the scenarios are relative to the repository root


def shortened(path: Path, duration_h: float) -> Scenario:
    data = load_scenario_data(path)
    data["run"]["duration_h"] = duration_h
    return parse_scenario(data, str(path))


def interval(summary: dict, group: str, key: str) -> tuple[float, float]:
    mean, hw = summary[group][key], summary["ci95"][group][key]
    return mean - hw, mean + hw


def violated(cell, policy: DispositionPolicy) -> set[str]:
    """Every acceptance threshold the interface model says this cell fails (not only the first)."""
    q = cell.quality
    if q is None or "p_short" not in q:  # quarantined or not measured: no interface verdict
        return {cell.reason or "no_quality"}
    checks = {
        "high_resistance": q["r_int_ohm_cm2"] > policy.max_r_int_ohm_cm2,
        "low_contact": q["contact_fraction_p05"] < policy.min_contact_fraction_p05,
        "hotspot": q["hotspot_factor"] > policy.max_hotspot_factor,
        "short_risk": q["p_short"] > policy.max_p_short,
        "pv_peak": cell.surface.pv_um > policy.max_pv_um,
    }
    return {name for name, bad in checks.items() if bad}


class RecordingDisposition:
    """A DispositionPort that keeps every rework/reject decision after warm-up, with the
    press, the lot, the reason given and the thresholds the interface model says it fails."""

    def __init__(self, line: Line):
        self.line = line
        self.policy = line.scenario.quality.disposition
        self.decisions: list[tuple[str, str, int, str, set[str]]] = []
        self.inspected: Counter = Counter()

    def report(self, station: str, cell, decision: int, reason: str) -> None:
        if self.line.env.now < self.line.scenario.run.warmup_h:
            return None
        self.inspected[cell.press_station] += 1
        if decision != ACCEPT:
            self.decisions.append((cell.press_station, cell.lot, decision, reason, violated(cell, self.policy)))
        return None


def decisions(scenario: Scenario, replications: int) -> RecordingDisposition:
    """Run replications line by line with a recording disposition port; one recorder for all."""
    recorder = None
    for rep in range(replications):
        line = Line(scenario, rep)
        if recorder is None:
            recorder = RecordingDisposition(line)
        recorder.line = line
        line.ports.disposition = recorder
        line.run()
    return recorder


def share(rows, names: set[str]) -> float:
    return sum(bool(v & names) for *_, v in rows) / len(rows)


# --- the shipped files --------------------------------------------------------------------

@pytest.mark.parametrize("path", [PRESSES, LOTS], ids=lambda p: p.stem)
def test_shipped_whatif_meets_its_expect_block_with_separate_intervals(path):
    sc = load_scenario(path)
    assert sc.quality.mode == "physics" and sc.expect
    result = Simulation(sc).run()
    failed = [(e.kpi, e.value, e.min, e.max) for e in result.expectations if not e.passed]
    assert not failed
    group = "yield_by_press" if path == PRESSES else "yield_by_lot"
    good, bad = (("wip_press", "uniaxial_press") if path == PRESSES else ("rolled_cu", "electrolytic_cu_matte"))
    assert set(result.summary[group]) == {good, bad}
    assert interval(result.summary, group, good)[0] > interval(result.summary, group, bad)[1]


# --- isostatic vs uniaxial ----------------------------------------------------------------

def test_isostatic_press_yields_more_than_a_10pct_cv_uniaxial_press():
    s = Simulation(shortened(PRESSES, 60.0), replications=3).run().summary
    iso_low, _ = interval(s, "yield_by_press", "wip_press")
    _, uni_high = interval(s, "yield_by_press", "uniaxial_press")
    assert iso_low > uni_high
    assert s["yield_by_press"]["wip_press"] - s["yield_by_press"]["uniaxial_press"] > 0.05


def test_uniaxial_losses_come_from_its_pressure_map_not_the_collectors():
    """Both presses see the same lots; only the uniaxial press's cells lack contact in the 5%
    lowest-pressure region of its 10% map, and it loses many more cells per inspection."""
    rec = decisions(shortened(PRESSES, 60.0), replications=2)
    uni = [r for r in rec.decisions if r[0] == "uniaxial_press"]
    iso = [r for r in rec.decisions if r[0] == "wip_press"]
    assert len(uni) > 20
    assert len(uni) / rec.inspected["uniaxial_press"] > 10 * max(len(iso), 1) / rec.inspected["wip_press"]
    assert share(uni, {"low_contact"}) > 0.7     # the low-pressure region's contact fraction below the limit
    assert share(uni, {"pv_peak"}) < 0.1
    # the few the isostatic press loses are collector peaks, not contact
    for *_, v in iso:
        assert v & PEAKS and not v & CONTACT
    assert Counter(r[1] for r in uni).most_common(1)[0][0] == "cu_shiny"  # the smooth majority lot


# --- smooth vs rough collector lot --------------------------------------------------------

def test_smooth_collector_lot_yields_more_than_a_rough_one():
    s = Simulation(shortened(LOTS, 48.0), replications=3).run().summary
    smooth_low, _ = interval(s, "yield_by_lot", "rolled_cu")
    _, rough_high = interval(s, "yield_by_lot", "electrolytic_cu_matte")
    assert smooth_low > rough_high
    assert s["reject_reasons"].get("pv_peak", 0) > 0 and s["reject_reasons"].get("short_risk", 0) > 0
    assert set(s["reject_reasons"]) <= {"pv_peak", "short_risk", "hotspot", "rework_limit"}


def test_rough_lot_losses_are_peaks_hotspots_and_shorts_not_contact():
    rec = decisions(shortened(LOTS, 48.0), replications=2)
    by_lot = Counter(r[1] for r in rec.decisions)
    assert by_lot["electrolytic_cu_matte"] > 20 * max(by_lot["rolled_cu"], 1)
    rough = [r for r in rec.decisions if r[1] == "electrolytic_cu_matte"]
    assert share(rough, PEAKS) == 1.0
    assert share(rough, CONTACT) < 0.05       # 490 MPa WIP closes the contact on both lots
    assert share(rough, {"short_risk"}) > 0.5  # the peaks' hot spot lifts the short risk over the limit
    assert any(r[3] == "pv_peak" for r in rough)
