"""eval.online's statistics against scipy and against the published values they come from."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest
from scipy.stats import fisher_exact as scipy_fisher

from backend.experiments import ExperimentOut, ExperimentResults, VariantCounts
from eval.online import analyse, fisher_exact, newcombe, wilson


@pytest.mark.parametrize(("k", "n"), [(0, 5), (1, 1), (3, 10), (56, 70), (48, 80), (500, 1000), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_matches_scipy(k, n, confidence):
    ref = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson(k, n, confidence)
    assert low == pytest.approx(ref.low, abs=1e-9)
    assert high == pytest.approx(ref.high, abs=1e-9)


def test_newcombe_interval_matches_his_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example (a): 56/70 vs 48/80, method 10 → 0.0524 to 0.3339.
    low, high = newcombe(48, 80, 56, 70)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    # and with the arms swapped the interval mirrors
    low2, high2 = newcombe(56, 70, 48, 80)
    assert (low2, high2) == pytest.approx((-high, -low))


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(3, 10, 8, 10), (0, 12, 5, 12), (10, 10, 10, 10),
                                                   (7, 30, 19, 31), (1, 2, 40, 90), (0, 3, 0, 4)])
def test_fisher_exact_matches_scipy(k1, n1, k2, n2):
    ref = scipy_fisher([[k1, n1 - k1], [k2, n2 - k2]]).pvalue
    assert fisher_exact(k1, n1, k2, n2) == pytest.approx(ref, rel=1e-9)


def test_empty_arms_give_no_interval_and_no_false_verdict():
    assert wilson(0, 0) is None and newcombe(0, 0, 3, 5) is None
    assert fisher_exact(0, 0, 3, 5) == 1.0
    exp = ExperimentOut(id="e", variants=[{"name": "A"}, {"name": "B"}], status="running",
                        created_at="2026-11-22T00:00:00Z")
    zero = dict(answers=0, conversations=0, rated=0, up=0, down=0, flagged=0)
    summary = analyse(ExperimentResults(experiment=exp, variants=[VariantCounts(variant="A", **zero),
                                                                  VariantCounts(variant="B", **zero)]))
    assert summary["comparisons"][0]["metrics"]["positive_rate"]["diff"] is None
    assert "nothing to compare" in summary["verdicts"][0]


def test_a_clear_difference_is_called_and_a_small_sample_is_not():
    exp = ExperimentOut(id="e", variants=[{"name": "A"}, {"name": "B"}], status="running",
                        created_at="2026-11-22T00:00:00Z")

    def run(up_a, rated_a, up_b, rated_b):
        return analyse(ExperimentResults(experiment=exp, variants=[
            VariantCounts(variant="A", answers=rated_a, conversations=rated_a, rated=rated_a, up=up_a,
                          down=rated_a - up_a, flagged=0),
            VariantCounts(variant="B", answers=rated_b, conversations=rated_b, rated=rated_b, up=up_b,
                          down=rated_b - up_b, flagged=0)]))

    big = run(120, 200, 160, 200)
    assert big["comparisons"][0]["metrics"]["positive_rate"]["diff"] == pytest.approx(0.2)
    assert big["comparisons"][0]["metrics"]["positive_rate"]["p_value"] < 0.001
    assert "real difference" in big["verdicts"][0]
    small = run(3, 5, 4, 5)
    assert "not distinguishable from chance" in small["verdicts"][0]
