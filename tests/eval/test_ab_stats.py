"""Paired statistics of the A/B harness against scipy's reference implementations on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp

from eval.ab.judge import combine, parse_grade, parse_pairwise
from eval.ab.stats import binomial_two_sided, mcnemar_exact, paired_bootstrap, percentile, win_tie_loss


def test_paired_bootstrap_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(1)
    a = rng.normal(0.50, 0.2, 80)
    b = a + rng.normal(0.05, 0.1, 80)  # correlated pairs: pairing is what makes the interval narrow
    ours = paired_bootstrap(list(a), list(b), resamples=10_000, confidence=0.95, seed=3)
    ref = sp.bootstrap((a, b), lambda x, y, axis=-1: np.mean(y - x, axis=axis), paired=True, vectorized=True,
                       n_resamples=10_000, confidence_level=0.95, method="percentile", rng=np.random.default_rng(4))
    assert ours.diff == pytest.approx(float(np.mean(b - a)))
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.006)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.006)
    unpaired_width = 2 * 1.96 * np.sqrt(a.var(ddof=1) / 80 + b.var(ddof=1) / 80)
    assert ours.high - ours.low < unpaired_width / 2, "pairs must be resampled together"


def test_paired_bootstrap_is_reproducible_and_checks_its_input():
    a, b = [0, 1, 1, 0, 1, 0, 1, 1], [1, 1, 1, 0, 1, 1, 1, 1]
    assert paired_bootstrap(a, b, seed=5) == paired_bootstrap(a, b, seed=5)
    assert paired_bootstrap(a, b, seed=5).diff == pytest.approx(0.25)
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap([1, 0], [1])
    with pytest.raises(ValueError, match="no paired samples"):
        paired_bootstrap([], [])


@pytest.mark.parametrize("b,c", [(1, 6), (0, 0), (5, 5), (3, 12), (30, 45), (0, 9), (17, 2)])
def test_mcnemar_exact_matches_scipy_binomial_test(b, c):
    baseline = [1] * b + [0] * c + [1] * 4 + [0] * 3
    variant = [0] * b + [1] * c + [1] * 4 + [0] * 3
    result = mcnemar_exact(baseline, variant)
    assert (result.baseline_only, result.variant_only, result.both, result.neither) == (b, c, 4, 3)
    expected = 1.0 if b + c == 0 else sp.binomtest(min(b, c), b + c, 0.5).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-12)


def test_mcnemar_textbook_value():
    # b=1, c=6: two-sided exact p = 2 * (C(7,0) + C(7,1)) / 2^7 = 0.125
    assert mcnemar_exact([1, 0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 1, 1]).p_value == pytest.approx(0.125)


def test_sign_test_drops_ties_and_matches_scipy():
    verdicts = ["win"] * 14 + ["loss"] * 5 + ["tie"] * 9
    wtl = win_tie_loss(verdicts)
    assert (wtl.wins, wtl.ties, wtl.losses, wtl.n) == (14, 9, 5, 28)
    assert wtl.win_rate == pytest.approx(14 / 28) and wtl.tie_rate == pytest.approx(9 / 28)
    assert wtl.sign_test_p == pytest.approx(sp.binomtest(14, 19, 0.5).pvalue, rel=1e-12)
    assert win_tie_loss(["tie", "tie"]).sign_test_p == 1.0
    with pytest.raises(ValueError, match="win, tie or loss"):
        win_tie_loss(["win", "draw"])


def test_binomial_is_symmetric():
    for n in (1, 7, 20):
        for k in range(n + 1):
            assert binomial_two_sided(k, n) == pytest.approx(binomial_two_sided(n - k, n))
            assert binomial_two_sided(k, n) == pytest.approx(sp.binomtest(k, n, 0.5).pvalue, rel=1e-12)


def test_percentiles_match_scipy():
    values = [12.0, 3.5, 7.0, 100.0, 42.0, 8.5, 9.0]
    assert percentile(values, 50) == pytest.approx(sp.scoreatpercentile(values, 50))
    assert percentile(values, 95) == pytest.approx(sp.scoreatpercentile(values, 95))
    assert percentile([], 50) is None


def test_judge_position_swap():
    # forward: 1 = baseline, 2 = variant; backward: 1 = variant, 2 = baseline
    assert combine("2", "1") == ("win", True)
    assert combine("1", "2") == ("loss", True)
    assert combine("tie", "tie") == ("tie", True)
    assert combine("1", "1") == ("tie", False), "a judge that always picks the first answer decides nothing"
    assert combine(None, "1") == ("tie", False)
    assert parse_pairwise("Answer 2 is better") == "2" and parse_pairwise("TIE.") == "tie"
    assert parse_pairwise("both are fine") is None
    assert parse_grade("I would give it 7/10") == 7 and parse_grade("10") == 10 and parse_grade("great") is None
