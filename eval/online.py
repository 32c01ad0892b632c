"""Analyse an online A/B experiment from agents' feedback: per-variant rates, differences with CIs and tests.

    python -m eval.online shop-lora-v2 --backend-url http://127.0.0.1:8000 --api-key vd-...
    python -m eval.online shop-lora-v2 --config visiondesk.yaml      # read the app database directly

Writes summary.json, report.md and a self-contained report.html (plots inline) to --out.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import httpx

from backend.experiments import ExperimentError, ExperimentResults

# (name, numerator field, denominator field, what it means)
RATES = [
    ("positive_rate", "up", "rated", "thumbs up among rated answers"),
    ("feedback_rate", "rated", "answers", "answers that got a thumbs up or down"),
    ("flag_rate", "flagged", "answers", "answers flagged for review"),
]


# -- statistics ------------------------------------------------------------------------------------


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion k/n (None when n is 0)."""
    if n == 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Newcombe's hybrid score interval (his method 10) for p2 - p1 of two independent proportions."""
    a, b = wilson(k1, n1, confidence), wilson(k2, n2, confidence)
    if a is None or b is None:
        return None
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = a, b
    d = p2 - p1
    return (d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2),
            d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2))


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact test of k1/n1 vs k2/n2: the probability of tables at most as likely as this one."""
    total, successes = n1 + n2, k1 + k2
    if n1 == 0 or n2 == 0:
        return 1.0
    denom = math.comb(total, successes)

    def prob(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, successes - x) / denom

    lo, hi = max(0, successes - n2), min(n1, successes)
    observed = prob(k1)
    # The relative tolerance is the one R and scipy use, so ties in likelihood are counted alike.
    return min(1.0, sum(p for x in range(lo, hi + 1) if (p := prob(x)) <= observed * (1 + 1e-7)))


# -- analysis --------------------------------------------------------------------------------------


def analyse(results: ExperimentResults, confidence: float = 0.95) -> dict[str, Any]:
    """Per-variant rates with Wilson intervals; each variant against the first (the control)."""
    variants = []
    for v in results.variants:
        counts = v.model_dump()
        rates = {}
        for name, num, den, _ in RATES:
            k, n = counts[num], counts[den]
            rates[name] = {"k": k, "n": n, "rate": k / n if n else None, "ci": wilson(k, n, confidence)}
        variants.append({**counts, "rates": rates})
    control = variants[0]
    comparisons = []
    for v in variants[1:]:
        entry = {"variant": v["variant"], "control": control["variant"], "metrics": {}}
        for name, num, den, _ in RATES:
            k1, n1, k2, n2 = control[num], control[den], v[num], v[den]
            diff = (k2 / n2 - k1 / n1) if n1 and n2 else None
            entry["metrics"][name] = {"diff": diff, "ci": newcombe(k1, n1, k2, n2, confidence),
                                      "p_value": fisher_exact(k1, n1, k2, n2), "test": "Fisher exact, two-sided"}
        comparisons.append(entry)
    experiment = results.experiment.model_dump(mode="json")
    return {"experiment": experiment, "confidence": confidence, "variants": variants, "comparisons": comparisons,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "verdicts": [verdict(c, confidence) for c in comparisons]}


def verdict(comparison: dict[str, Any], confidence: float) -> str:
    m = comparison["metrics"]["positive_rate"]
    who, control = comparison["variant"], comparison["control"]
    if m["diff"] is None:
        return f"{who} vs {control}: no rated answers yet in one of them; nothing to compare."
    alpha = 1 - confidence
    direction = "higher" if m["diff"] > 0 else "lower"
    points = abs(m["diff"]) * 100
    if m["p_value"] < alpha:
        return (f"{who}'s positive rate is {points:.1f} points {direction} than {control}'s "
                f"(p = {m['p_value']:.3g}): a real difference at the {confidence:.0%} level.")
    return (f"{who}'s positive rate is {points:.1f} points {direction} than {control}'s, but p = "
            f"{m['p_value']:.3g}: not distinguishable from chance yet; keep collecting feedback.")


# -- reports ---------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _ci(ci) -> str:
    return "–" if ci is None else f"[{ci[0] * 100:.1f}, {ci[1] * 100:.1f}]"


def _pts(ci) -> str:
    return "–" if ci is None else f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}]"


def _diff(m: dict) -> str:
    return "–" if m["diff"] is None else f"{m['diff'] * 100:+.1f} pts"


def markdown(s: dict[str, Any]) -> str:
    e = s["experiment"]
    lines = [f"# Online experiment `{e['id']}`", "",
             f"{e['description'] or '(no description)'}", "",
             f"Status **{e['status']}**, domain {e['domain'] or 'every domain'}, started {e['started_at'] or '–'}, "
             f"stopped {e['stopped_at'] or '–'}. Intervals are {s['confidence']:.0%} (Wilson for rates, Newcombe "
             "for differences); p-values from Fisher's exact test.", "",
             "## Per variant", "",
             "| variant | answers | conversations | rated | up | down | flagged | positive rate | feedback rate "
             "| flag rate | mean latency |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in s["variants"]:
        r = v["rates"]
        lat = "–" if v["mean_latency_ms"] is None else f"{v['mean_latency_ms']:.0f} ms"
        lines.append(f"| {v['variant']} | {v['answers']} | {v['conversations']} | {v['rated']} | {v['up']} | "
                     f"{v['down']} | {v['flagged']} | "
                     + " | ".join(f"{_pct(r[n]['rate'])} {_ci(r[n]['ci'])}" for n, *_ in RATES) + f" | {lat} |")
    lines += ["", "## Against the control", ""]
    for c in s["comparisons"]:
        lines += [f"### {c['variant']} − {c['control']}", "", "| metric | difference | CI (points) | p |",
                  "|---|---|---|---|"]
        for name, *_ in RATES:
            m = c["metrics"][name]
            lines.append(f"| {name} | {_diff(m)} | {_pts(m['ci'])} | {m['p_value']:.3g} |")
        lines.append("")
    lines += ["## Verdict", "", *[f"- {v}" for v in s["verdicts"]], ""]
    return "\n".join(lines)


def rates_plot(s: dict[str, Any]) -> str:
    """Rates per variant with their intervals, as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(RATES), figsize=(4 * len(RATES), 3.2))
    for ax, (name, _, _, meaning) in zip(axes, RATES, strict=True):
        labels, values, low, high = [], [], [], []
        for v in s["variants"]:
            r = v["rates"][name]
            labels.append(v["variant"])
            values.append((r["rate"] or 0) * 100)
            ci = r["ci"] or (r["rate"] or 0, r["rate"] or 0)
            low.append(values[-1] - ci[0] * 100)
            high.append(ci[1] * 100 - values[-1])
        ax.bar(labels, values, yerr=[low, high], capsize=6, color=["#8c8c8c", "#1f77b4", "#2ca02c", "#d62728"][
            : len(labels)] + ["#9467bd"] * max(0, len(labels) - 4))
        ax.set_title(f"{name}\n({meaning})", fontsize=9)
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def html_report(s: dict[str, Any]) -> str:
    e = s["experiment"]
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(v['variant'])}</td><td>{v['answers']}</td><td>{v['rated']}</td><td>{v['up']}</td>"
        f"<td>{v['down']}</td><td>{v['flagged']}</td>"
        + "".join(f"<td>{_pct(v['rates'][n]['rate'])} <small>{_ci(v['rates'][n]['ci'])}</small></td>"
                  for n, *_ in RATES) + "</tr>"
        for v in s["variants"])
    comparisons = "".join(
        f"<h3>{esc(c['variant'])} − {esc(c['control'])}</h3><table><tr><th>metric</th><th>difference</th>"
        f"<th>CI</th><th>p</th></tr>"
        + "".join(f"<tr><td>{n}</td><td>{_diff(c['metrics'][n])}</td><td>{_pts(c['metrics'][n]['ci'])}</td>"
                  f"<td>{c['metrics'][n]['p_value']:.3g}</td></tr>" for n, *_ in RATES) + "</table>"
        for c in s["comparisons"])
    verdicts = "".join(f"<li>{esc(v)}</li>" for v in s["verdicts"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Online experiment {esc(e['id'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}}table{{border-collapse:collapse;
margin:.5rem 0}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}td:first-child,th:first-child
{{text-align:left}}small{{color:#666}}img{{max-width:100%}}</style></head><body>
<h1>Online experiment <code>{esc(e['id'])}</code></h1>
<p>{esc(e['description'] or '(no description)')}</p>
<p>Status <b>{esc(e['status'])}</b> · domain {esc(e['domain'] or 'every domain')} · started {esc(str(e['started_at']))}
· {s['confidence']:.0%} intervals (Wilson; Newcombe for differences) · Fisher's exact test.</p>
<h2>Verdict</h2><ul>{verdicts}</ul>
<h2>Rates per variant</h2>
<img alt="rates per variant with confidence intervals" src="data:image/png;base64,{rates_plot(s)}">
<table><tr><th>variant</th><th>answers</th><th>rated</th><th>up</th><th>down</th><th>flagged</th>
<th>positive rate</th><th>feedback rate</th><th>flag rate</th></tr>{rows}</table>
<h2>Against the control</h2>{comparisons}
<p><small>Generated {esc(s['generated_at'])} by <code>python -m eval.online</code>.</small></p>
</body></html>
"""


def write_reports(summary: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"summary": out / "summary.json", "markdown": out / "report.md", "html": out / "report.html"}
    paths["summary"].write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    paths["markdown"].write_text(markdown(summary))
    paths["html"].write_text(html_report(summary))
    return paths


# -- sources ---------------------------------------------------------------------------------------


def fetch_from_backend(url: str, api_key: str, experiment_id: str) -> ExperimentResults:
    try:
        resp = httpx.get(f"{url.rstrip('/')}/v1/experiments/{experiment_id}/results",
                         headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
    except httpx.HTTPError as exc:
        raise SystemExit(f"error: cannot reach the backend at {url}: {exc}") from None
    if resp.status_code != 200:
        try:
            message = resp.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = resp.text
        raise SystemExit(f"error: the backend answered {resp.status_code}: {message}")
    return ExperimentResults.model_validate(resp.json())


def read_from_database(config: str | None, experiment_id: str) -> ExperimentResults:
    from backend.db import Database
    from backend.experiments import Experiments
    from backend.settings import load_settings

    settings = load_settings(config)
    db = Database(settings.database_url)
    try:
        return Experiments(db).results(experiment_id)
    except ExperimentError as exc:
        raise SystemExit(f"error: {exc} (database {settings.database_url})") from None
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.online",
        description="Per-variant feedback rates of an online experiment, their differences with confidence "
                    "intervals and Fisher's exact test; writes summary.json, report.md and report.html.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  python -m eval.online shop-lora-v2 --backend-url http://127.0.0.1:8000 --api-key vd-...\n"
               "  python -m eval.online shop-lora-v2 --config visiondesk.yaml --out var/online/shop-lora-v2")
    parser.add_argument("experiment", help="experiment id, as defined in the admin console or POST /v1/experiments")
    parser.add_argument("--backend-url", help="read the counts from a running backend (needs an admin API key)")
    parser.add_argument("--api-key", default=os.environ.get("VISIONDESK_API_KEY", ""),
                        help="admin API key or session token for --backend-url (default: $VISIONDESK_API_KEY)")
    parser.add_argument("--config", help="VisionDesk settings YAML whose database to read (without --backend-url)")
    parser.add_argument("--out", help="report folder (default: var/online/EXPERIMENT)")
    parser.add_argument("--confidence", type=float, default=0.95, help="confidence level of intervals (default 0.95)")
    args = parser.parse_args(argv)
    if not 0.5 <= args.confidence < 1:
        parser.error(f"--confidence must be in [0.5, 1), got {args.confidence}")
    if args.backend_url:
        if not args.api_key:
            parser.error("--backend-url needs --api-key (or $VISIONDESK_API_KEY) of an admin")
        results = fetch_from_backend(args.backend_url, args.api_key, args.experiment)
    else:
        results = read_from_database(args.config, args.experiment)
    summary = analyse(results, args.confidence)
    paths = write_reports(summary, Path(args.out or f"var/online/{args.experiment}"))
    for v in summary["verdicts"]:
        print(v)
    print(f"wrote {paths['summary']}, {paths['markdown']}, {paths['html']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
