"""The report's figures as base64 PNG (matplotlib, no display): metric differences with CIs, latency, per-tag bars."""

from __future__ import annotations

import base64
import io
from typing import Any

SCALE_100 = ("bleu",)  # already 0-100; every other quality metric is 0-1 and is shown ×100 (percentage points)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metric_diffs(comparison: dict[str, Any]) -> str | None:
    """Variant − baseline for each metric with its bootstrap CI; quality in points, latency in ms."""
    plt = _plt()
    quality = [(m, e) for m, e in comparison["metrics"].items() if m not in ("latency_ms", "ttft_ms", "tokens_per_s")]
    timing = [(m, e) for m, e in comparison["metrics"].items() if m in ("latency_ms", "ttft_ms")]
    if not quality and not timing:
        return None
    panels = [p for p in (quality, timing) if p]
    # One row per panel, each as tall as its number of metrics, so a 2-metric latency panel stays compact.
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 0.42 * sum(len(p) + 2 for p in panels) + 0.8),
                             squeeze=False, gridspec_kw={"height_ratios": [len(p) + 1 for p in panels]})
    for ax, items in zip(axes[:, 0], panels, strict=True):
        scale = [1.0 if m in SCALE_100 or m in ("latency_ms", "ttft_ms") else 100.0 for m, _ in items]
        diffs = [e["diff"] * s for (_, e), s in zip(items, scale, strict=True)]
        lows = [d - e["low"] * s for d, (_, e), s in zip(diffs, items, scale, strict=True)]
        highs = [e["high"] * s - d for d, (_, e), s in zip(diffs, items, scale, strict=True)]
        ys = list(range(len(items)))
        colors = [_colour(e) for _, e in items]
        for y, d, lo, hi, colour in zip(ys, diffs, lows, highs, colors, strict=True):
            ax.errorbar([d], [y], xerr=[[lo], [hi]], fmt="o", color=colour, ecolor=colour, capsize=4, lw=2)
        ax.axvline(0, color="#999", lw=1, ls="--")
        ax.set_yticks(ys, [f"{m} (n={e['n']})" for m, e in items])
        ax.invert_yaxis()
        ax.set_xlabel("difference in ms" if items is timing else "difference (points; BLEU on its 0-100 scale)")
    fig.suptitle(f"{comparison['variant']} − {comparison['baseline']} with {int(100 * items[0][1]['confidence'])}% "
                 "paired bootstrap CIs")
    return _png(fig)


def _colour(entry: dict[str, Any]) -> str:
    """Green: the CI excludes 0 on the good side; red: on the bad side; grey: no clear difference."""
    up, down = entry["low"] > 0, entry["high"] < 0
    if not up and not down:
        return "#678"
    return "#2a7" if up == (entry["better"] == "higher") else "#c33"


def latency(records_by_variant: dict[str, list[dict]]) -> str | None:
    plt = _plt()
    names = list(records_by_variant)
    lat = [[r["latency_ms"] for r in recs if r.get("latency_ms") is not None] for recs in records_by_variant.values()]
    ttft = [[r["ttft_ms"] for r in recs if r.get("ttft_ms") is not None] for recs in records_by_variant.values()]
    if not any(lat):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax, data, title in ((axes[0], lat, "latency (ms)"), (axes[1], ttft, "time to first token (ms)")):
        shown = [(n, d) for n, d in zip(names, data, strict=True) if d]
        if shown:
            ax.boxplot([d for _, d in shown], tick_labels=[n for n, _ in shown], orientation="horizontal", showmeans=True)
        ax.set_title(title)
        ax.set_xscale("log")
    return _png(fig)


def per_tag(summary: dict[str, Any], metric: str) -> str | None:
    """Mean of `metric` per tag for every variant (the rows both it and the baseline answered)."""
    plt = _plt()
    comps = summary["comparisons"]
    if not comps:
        return None
    tags = [t for t in summary["tags"] if metric in comps[0]["per_tag"].get(t, {})]
    if not tags:
        return None
    shown = [c for c in comps if any(metric in m for m in c["per_tag"].values())]  # an all-error variant has none
    names = [comps[0]["baseline"], *[c["variant"] for c in shown]]
    values = {names[0]: [comps[0]["per_tag"][t][metric]["baseline"] for t in tags]}
    for c in shown:
        values[c["variant"]] = [c["per_tag"].get(t, {}).get(metric, {}).get("variant", float("nan")) for t in tags]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(tags) * len(names) / 2 + 3), 3.8))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar([x + i * width for x in range(len(tags))], values[name], width, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(tags))], tags, rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by tag")
    ax.legend()
    return _png(fig)
