"""The run's timing report tells a twin and a plant at different time scales apart."""
from __future__ import annotations

import logging

import pytest

from adapters.opcua import DeviceRun
from twin.hil import _timing


def _runs(durations_s: list[float], seen_per_device_s: float, delay_s: float) -> list[DeviceRun]:
    runs = []
    for d in durations_s:
        r = DeviceRun("press", "WIP-1", f"job-{d}", ["c"], run_id=f"run-{d}", ok=True, sim_start_h=1.0,
                      device_duration_s=d)
        r.sim_end_h = 1.0 + (seen_per_device_s * d + delay_s) / 3600.0
        runs.append(r)
    return runs


def test_same_time_scale_reports_the_polling_delay_and_no_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="twin.hil"):
        t = _timing(_runs([90.0, 170.0, 2876.0] * 3, 1.0, 300.0))
    assert t["runs"] == 9
    assert t["median_delay_sim_s"] == pytest.approx(300.0)
    assert t["slope_seen_over_device"] == pytest.approx(1.0)
    assert not caplog.records


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_mismatched_time_scale_is_flagged(caplog, factor):
    with caplog.at_level(logging.WARNING, logger="twin.hil"):
        t = _timing(_runs([90.0, 170.0, 2876.0], factor, 300.0))
    assert t["slope_seen_over_device"] == pytest.approx(factor)
    assert "time-scale" in caplog.text


def test_failed_runs_and_equal_durations_give_no_slope():
    bad = _runs([100.0], 1.0, 0.0)
    bad[0].ok = False
    assert _timing(bad) == {"runs": 0}
    assert "slope_seen_over_device" not in _timing(_runs([100.0, 100.0], 1.0, 5.0))
