"""twin.quantiles computes what scipy.stats computes, bit for bit (so runs that no longer
import scipy.stats keep their numbers)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twin.quantiles import t_ppf, truncnorm_ppf, truncnorm_rvs

WINDOWS = [(-6.25, np.inf), (-2.0, 3.0), (0.5, 4.0), (-np.inf, -1.0), (-3.0, -0.2), (1e-3, np.inf), (-np.inf, 2.0),
           (-40.0, 40.0), (8.0, 9.0), (-9.0, -8.0)]


@pytest.mark.parametrize("a,b", WINDOWS)
def test_truncnorm_rvs_and_ppf_equal_scipy_stats(a, b):
    for seed in range(5):
        loc, scale = 0.025 * (seed + 1), 0.004 * (seed + 1)
        ours = truncnorm_rvs(a, b, loc, scale, 257, np.random.default_rng(seed))
        ref = stats.truncnorm.rvs(a, b, loc=loc, scale=scale, size=257, random_state=np.random.default_rng(seed))
        assert np.array_equal(ours, ref)
    u = np.random.default_rng(1).uniform(size=300)
    assert np.array_equal(truncnorm_ppf(u, a, b), stats.truncnorm.ppf(u, a, b))


def test_t_ppf_equals_scipy_stats():
    for df in list(range(1, 60)) + [100, 1000]:
        for q in (0.9, 0.95, 0.975, 0.995):
            assert t_ppf(q, df) == stats.t.ppf(q, df)


def test_truncnorm_refuses_an_empty_window():
    with pytest.raises(ValueError):
        truncnorm_rvs(1.0, 1.0, 0.0, 1.0, 3, np.random.default_rng(0))
