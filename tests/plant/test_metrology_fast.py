"""`measure_one` (the line's per-cell path) gives exactly what `measure` gives for one sample."""
from __future__ import annotations

import numpy as np

from plant.metrology import MEASURE_KEYS, load_collector_lot, load_profilometer_spec, measure, measure_one
from twin.lots import sample_lot


def test_measure_one_equals_measure():
    spec = load_profilometer_spec()
    for name in ("electrolytic_cu_matte", "electrolytic_cu_shiny", "rolled_cu", "sus_foil"):
        lot = load_collector_lot(name)
        true = sample_lot(lot, 200, np.random.default_rng(4))
        for use_lot in (lot, None):
            a, b = np.random.default_rng(9), np.random.default_rng(9)
            for i in range(200):
                sample = {k: float(true[k][i]) for k in MEASURE_KEYS}
                ref = measure(sample, a, spec, use_lot)
                got = measure_one(sample, b, spec, use_lot)
                assert got == {k: float(v) for k, v in ref.items()}
