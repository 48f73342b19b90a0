import math

import numpy as np
import pytest

from circuitlab.analysis.stats import average_ranks, percentile_interval, spearman_rho, t_cdf, t_ppf


def test_average_ranks_share_ties():
    assert average_ranks([10, 20, 20, 30]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks([3, 1, 2]).tolist() == [3.0, 1.0, 2.0]
    assert average_ranks([5, 5, 5]).tolist() == [2.0, 2.0, 2.0]


def test_average_ranks_refuses_nan():
    with pytest.raises(ValueError, match="NaN"):
        average_ranks([1.0, float("nan")])


def test_spearman_with_ties_matches_hand_value():
    # ranks x [1, 2.5, 2.5, 4], y [1, 2, 3, 4] -> 4.5 / sqrt(4.5 * 5) = sqrt(0.9)
    assert spearman_rho([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(math.sqrt(0.9))


def test_spearman_drops_nan_pairs_and_constant_is_nan():
    assert spearman_rho([1, 2, float("nan"), 3], [3, 2, 0, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman_rho([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman_rho([1.0], [2.0]))


@pytest.mark.parametrize(
    "q, df, expected",
    [(0.975, 1, 12.706204736174698), (0.975, 2, 4.302652729911275), (0.975, 3, 3.182446305284263),
     (0.975, 10, 2.228138851986274), (0.95, 30, 1.6972608943617378), (0.025, 3, -3.182446305284263)],
)
def test_t_ppf_matches_tables(q, df, expected):
    assert t_ppf(q, df) == pytest.approx(expected, abs=1e-8)


def test_t_cdf_is_symmetric_and_inverts_ppf():
    assert t_cdf(0.0, 4) == 0.5
    assert t_cdf(-1.3, 4) == pytest.approx(1 - t_cdf(1.3, 4))
    assert t_cdf(t_ppf(0.9, 2.5), 2.5) == pytest.approx(0.9, abs=1e-10)


def test_against_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 30), rng.integers(0, 5, 30)  # many ties
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    for df in (1.5, 3.7, 12.2):
        assert t_ppf(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-8)


def test_percentile_interval():
    lo, hi = percentile_interval(np.arange(101), ci=0.9)
    assert (lo, hi) == pytest.approx((5.0, 95.0))
    with pytest.raises(ValueError, match="ci"):
        percentile_interval([1, 2], ci=95)
