import math

import numpy as np
import pytest

from circuitlab.analysis.stats import average_ranks, betainc, percentile_interval, spearman_rho, t_cdf, t_ppf


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
    # reference values to 15 digits (root of the regularised incomplete beta, 30-digit mpmath)
    [(0.975, 1, 12.7062047361746933), (0.975, 2, 4.30265272974946179), (0.975, 3, 3.18244630528370844),
     (0.975, 10, 2.22813885198627422), (0.95, 30, 1.69726088659395785), (0.025, 3, -3.18244630528370844)],
)
def test_t_ppf_matches_tables(q, df, expected):
    assert t_ppf(q, df) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "q, df, expected",  # printed Student-t tables (3 decimals)
    [(0.95, 1, 6.314), (0.995, 5, 4.032), (0.975, 20, 2.086), (0.95, 120, 1.658), (0.9, 8, 1.397),
     (0.999, 15, 3.733), (0.99, 60, 2.390)],
)
def test_t_ppf_matches_printed_tables(q, df, expected):
    assert t_ppf(q, df) == pytest.approx(expected, abs=5e-4)


def _t4_ppf(q):
    """Closed-form t quantile for df=4 (Shaw 2006)."""
    a = 4 * q * (1 - q)
    return math.copysign(2 * math.sqrt(math.cos(math.acos(math.sqrt(a)) / 3) / math.sqrt(a) - 1), q - 0.5)


@pytest.mark.parametrize("q", [1e-6, 0.01, 0.1, 0.3, 0.6, 0.9, 0.975, 0.999])
def test_t_ppf_and_cdf_match_closed_forms(q):
    # df=1 is Cauchy; df=2 and df=4 have closed-form quantiles: none of this uses SciPy
    assert t_ppf(q, 1) == pytest.approx(math.tan(math.pi * (q - 0.5)), rel=1e-10)
    assert t_ppf(q, 2) == pytest.approx((2 * q - 1) / math.sqrt(2 * q * (1 - q)), rel=1e-10)
    assert t_ppf(q, 4) == pytest.approx(_t4_ppf(q), rel=1e-10)
    t = (2 * q - 1) / math.sqrt(2 * q * (1 - q))
    assert t_cdf(t, 2) == pytest.approx(q, rel=1e-10)
    assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, rel=1e-10)


def test_betainc_closed_forms():
    for x in (0.0, 1e-4, 0.3, 0.77, 1.0):
        assert betainc(1, 1, x) == pytest.approx(x, abs=1e-15)
        assert betainc(2.5, 1, x) == pytest.approx(x**2.5, abs=1e-14)
        assert betainc(1, 3.5, x) == pytest.approx(1 - (1 - x) ** 3.5, abs=1e-14)
    assert betainc(4.2, 4.2, 0.5) == pytest.approx(0.5, abs=1e-14)
    assert (betainc(2, 3, -0.5), betainc(2, 3, 1.5)) == (0.0, 1.0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="q must"):
        t_ppf(1.0, 3)
    with pytest.raises(ValueError, match="Degrees of freedom"):
        t_ppf(0.9, 0)
    with pytest.raises(ValueError, match="Degrees of freedom"):
        t_cdf(1.0, -2)


def test_t_cdf_is_symmetric_and_inverts_ppf():
    assert t_cdf(0.0, 4) == 0.5
    assert t_cdf(-1.3, 4) == pytest.approx(1 - t_cdf(1.3, 4))
    assert t_cdf(t_ppf(0.9, 2.5), 2.5) == pytest.approx(0.9, abs=1e-10)


def test_spearman_agrees_with_scipy_spearmanr():
    from scipy import stats

    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 30), rng.integers(0, 5, 30)  # many ties
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def test_percentile_interval():
    lo, hi = percentile_interval(np.arange(101), ci=0.9)
    assert (lo, hi) == pytest.approx((5.0, 95.0))
    with pytest.raises(ValueError, match="ci"):
        percentile_interval([1, 2], ci=95)
