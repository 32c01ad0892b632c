"""Paired statistics for two variants on the same rows: bootstrap CIs, McNemar's exact test, sign test, win/tie/loss."""

from __future__ import annotations

from math import comb

import numpy as np
from pydantic import BaseModel


class Interval(BaseModel):
    diff: float
    low: float
    high: float
    n: int
    confidence: float


def paired_bootstrap(baseline: list[float], variant: list[float], *, resamples: int = 2000,
                     confidence: float = 0.95, seed: int = 0) -> Interval:
    """Mean of (variant - baseline) with a percentile CI from resampling rows (pairs stay together)."""
    a, b = np.asarray(baseline, float), np.asarray(variant, float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples must have the same length, got {a.size} and {b.size}")
    if a.size == 0:
        raise ValueError("no paired samples")
    diff = b - a
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(resamples, diff.size))
    means = diff[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(diff=float(diff.mean()), low=float(low), high=float(high), n=int(diff.size),
                    confidence=confidence)


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided binomial test p-value against p = 0.5 (symmetric, so twice the smaller tail)."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


class McNemar(BaseModel):
    baseline_only: int  # b: baseline right, variant wrong
    variant_only: int   # c: variant right, baseline wrong
    both: int
    neither: int
    p_value: float


def mcnemar_exact(baseline: list[float], variant: list[float]) -> McNemar:
    """McNemar's exact test on paired binary outcomes: a binomial test on the discordant pairs."""
    if len(baseline) != len(variant):
        raise ValueError(f"paired samples must have the same length, got {len(baseline)} and {len(variant)}")
    pairs = [(bool(x), bool(y)) for x, y in zip(baseline, variant, strict=True)]
    b = sum(1 for x, y in pairs if x and not y)
    c = sum(1 for x, y in pairs if y and not x)
    return McNemar(baseline_only=b, variant_only=c, both=sum(1 for x, y in pairs if x and y),
                   neither=sum(1 for x, y in pairs if not x and not y), p_value=binomial_two_sided(b, b + c))


class WinTieLoss(BaseModel):
    wins: int
    ties: int
    losses: int
    n: int
    win_rate: float
    tie_rate: float
    loss_rate: float
    sign_test_p: float


def win_tie_loss(verdicts: list[str]) -> WinTieLoss:
    """Verdicts are `win`, `tie` or `loss` for the variant; the sign test drops ties."""
    unknown = sorted(set(verdicts) - {"win", "tie", "loss"})
    if unknown:
        raise ValueError(f"verdicts must be win, tie or loss, got {unknown}")
    w, t, loss = verdicts.count("win"), verdicts.count("tie"), verdicts.count("loss")
    n = len(verdicts)
    rate = (lambda x: x / n) if n else (lambda x: 0.0)
    return WinTieLoss(wins=w, ties=t, losses=loss, n=n, win_rate=rate(w), tie_rate=rate(t), loss_rate=rate(loss),
                      sign_test_p=binomial_two_sided(w, w + loss))


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default); None for no values."""
    return float(np.percentile(np.asarray(values, float), q)) if values else None
