"""Exact fast paths of the press physics: `first_order_lag` is scipy.signal.lfilter float for
float, and `cycle_summary` reports exactly what `simulate_cycle` reports for a fault-free
cycle (same draws, same numbers, same generator state afterwards), on every shipped press."""
from __future__ import annotations

import numpy as np
import pytest

from plant.press import PRESS_KINDS, Recipe, cycle_summary, first_order_lag, load_press_spec, simulate_cycle


def test_first_order_lag_is_lfilter_bit_for_bit():
    from scipy.signal import lfilter

    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 400))
        x = np.concatenate([np.zeros(int(rng.integers(0, 20))), rng.uniform(0, 500, n)])
        if rng.random() < 0.5:
            x = np.clip(np.cumsum(rng.uniform(0, 20, x.size)), 0, rng.uniform(50, 600))
        a = float(np.exp(-rng.uniform(0.01, 20.0)))
        ref = lfilter([1.0 - a], [1.0, -a], x)
        assert np.array_equal(np.array(first_order_lag(x.tolist(), a)), ref)


def _recipes(spec, rng, k):
    for _ in range(k):
        yield Recipe(target_pressure_mpa=float(rng.uniform(0.1, 1.0) * spec.max_pressure_mpa),
                     ramp_rate_mpa_s=float(rng.uniform(0.05, 1.0) * spec.max_ramp_rate_mpa_s),
                     hold_s=float(rng.choice([0.0, rng.uniform(0, spec.max_hold_s), 30.0, 150.0])),
                     temperature_c=float(rng.uniform(spec.min_temperature_c, spec.max_temperature_c)),
                     decompression_rate_mpa_s=float(rng.uniform(0.05, 1.0) * spec.max_decompression_rate_mpa_s))


@pytest.mark.parametrize("kind", PRESS_KINDS)
def test_cycle_summary_equals_simulate_cycle(kind):
    spec = load_press_spec(kind)
    rng = np.random.default_rng(11)
    checked = 0
    for recipe in _recipes(spec, rng, 40):
        hz = float(rng.choice([0.1, 0.5, 1.0, spec.sample_rate_hz]))
        n_cells = int(rng.integers(1, spec.capacity_cells + 1))
        seed = int(rng.integers(2**32))
        fast_rng, ref_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        fast = cycle_summary(spec, recipe, n_cells, fast_rng, sample_hz=hz)
        ref = simulate_cycle(spec, recipe, n_cells, ref_rng, sample_hz=hz)
        if fast is None:  # no hold sample: the caller runs simulate_cycle; nothing was drawn
            assert int((ref.trace_phase == 3).sum()) == 0
            assert fast_rng.random() == np.random.default_rng(seed).random()
            continue
        checked += 1
        assert ref.status == "Completed"
        assert fast.duration_s == ref.duration_s
        assert fast.hold_duration_s == ref.hold_duration_s
        assert fast.hold_pressure_mean_mpa == ref.hold_pressure_mean_mpa
        assert fast.mean_temperature_c == ref.mean_temperature_c
        assert np.array_equal(fast.cell_pressure_mpa, ref.cell_pressure_mpa)
        assert np.array_equal(fast.cell_pressure_cv, ref.cell_pressure_cv)
        assert fast_rng.random() == ref_rng.random()  # the same draws were consumed
    assert checked >= 20
