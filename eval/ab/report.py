"""Writes the output folder: samples.jsonl, judgments.jsonl, summary.json, report.md and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

from eval.ab import plots
from eval.ab.runner import JUDGMENTS, SAMPLES, RunResult, write_jsonl

PERCENT_METRICS_EXCLUDED = ("bleu", "latency_ms", "ttft_ms", "tokens_per_s")


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric in ("latency_ms", "ttft_ms"):
        return f"{value:.0f} ms"
    if metric == "tokens_per_s":
        return f"{value:.1f}/s"
    if metric == "bleu":
        return f"{value:.1f}"
    return f"{100 * value:.1f}%"


def fmt_diff(metric: str, entry: dict) -> str:
    scale, unit = (1, " ms") if metric in ("latency_ms", "ttft_ms") else (1, "") if metric in ("bleu", "tokens_per_s") \
        else (100, " pts")
    return (f"{entry['diff'] * scale:+.1f}{unit} [{entry['low'] * scale:+.1f}, {entry['high'] * scale:+.1f}]")


def _p(entry: dict) -> str:
    m = entry.get("mcnemar")
    return f"{m['p_value']:.3g} ({m['variant_only']}↑/{m['baseline_only']}↓)" if m else "–"


def write_reports(result: RunResult, summary: dict[str, Any]) -> dict[str, Path]:
    out = result.config.output_dir
    order = {(v.name, r.id): i for i, (v, r) in enumerate((v, r) for v in result.config.variants for r in result.rows)}
    records = sorted(result.answers.values(), key=lambda rec: order.get((rec["variant"], rec["row_id"]), 1 << 30))
    write_jsonl(out / SAMPLES, records)
    write_jsonl(out / JUDGMENTS, sorted(result.judgments, key=lambda j: j["key"]))
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "report.md").write_text(markdown(summary), encoding="utf-8")
    by_variant = {v.name: [r for r in records if r["variant"] == v.name and r["status"] == "ok"]
                  for v in result.config.variants}
    (out / "report.html").write_text(html_report(summary, by_variant), encoding="utf-8")
    return {name: out / name for name in (SAMPLES, JUDGMENTS, "summary.json", "report.md", "report.html",
                                          "config.resolved.yaml")}


# ------------------------------------------------------------------------------------------------ markdown
def markdown(s: dict[str, Any]) -> str:
    run = s["run"]
    lines = [f"# A/B report: {' vs '.join(run['variants'])}", "",
             (f"{run['rows']} rows, baseline **{run['baseline']}**, {run['mode']}, seed {run['seed']}; "
             f"{run['computed']} requests made, {run['cached']} taken from the cache; {run['seconds']} s. "
             f"Intervals: {int(100 * run['confidence'])}% paired bootstrap ({run['bootstrap_samples']} resamples)."), ""]
    names = run["variants"]
    lines += ["## Metrics", "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for metric in s["metrics"]:
        cells = []
        for n in names:
            m = s["variants"][n]["metrics"].get(metric)
            cells.append(fmt(metric, m["mean"]) + (f" (n={m['n']})" if m else "") if m else "–")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines += ["", "| variant | answered | errors |", "|---|---|---|"]
    for n in names:
        v = s["variants"][n]
        lines.append(f"| {n} | {v['ok']}/{v['n']} | {v['errors']} |")
        for e in v["error_examples"][:2]:
            lines.append(f"|  | `{e['row_id']}` | {e['error'][:160]} |")
    for comp in s["comparisons"]:
        lines += ["", f"## {comp['variant']} vs {comp['baseline']}", ""]
        if not comp["metrics"]:
            lines.append(f"No row was answered by both {comp['variant']} and {comp['baseline']}: nothing to compare.")
            continue
        lines += ["| metric | baseline | variant | difference [CI] | McNemar p (wins/losses) |", "|---|---|---|---|---|"]
        for metric, e in comp["metrics"].items():
            lines.append(f"| {metric} | {fmt(metric, e['baseline'])} | {fmt(metric, e['variant'])} | "
                         f"{fmt_diff(metric, e)} | {_p(e)} |")
        j = comp.get("judge")
        if j:
            lines += ["", (f"Judge, pairwise with position swap ({j['n']} rows): {comp['variant']} wins "
                          f"{100 * j['win_rate']:.0f}%, ties {100 * j['tie_rate']:.0f}%, loses {100 * j['loss_rate']:.0f}% "
                          f"(sign test p = {j['sign_test_p']:.3g}; {j['inconsistent']} inconsistent or unreadable "
                          "verdicts counted as ties).")]
        if comp["per_tag"]:
            lines += ["", "Per tag (headline metrics):", "", "| tag | metric | baseline | variant | difference [CI] |",
                      "|---|---|---|---|---|"]
            for tag, metrics in comp["per_tag"].items():
                for metric in [m for m in ("contains", "token_f1", "refusal_correct", "red_flag_correct", "recall@5")
                               if m in metrics]:
                    e = metrics[metric]
                    lines.append(f"| {tag} | {metric} | {fmt(metric, e['baseline'])} | {fmt(metric, e['variant'])} | "
                                 f"{fmt_diff(metric, e)} (n={e['n']}) |")
    if s["grading"]:
        lines += ["", "## Judge grades (1-10)", "", "| variant | mean | graded | unreadable |", "|---|---|---|---|"]
        for n, g in s["grading"].items():
            lines.append(f"| {n} | {g['mean']:.2f} | {g['graded']} | {g['unreadable']} |" if g["mean"] is not None
                         else f"| {n} | – | 0 | {g['unreadable']} |")
    if s["examples"]:
        lines += ["", "## Where the variants disagree", ""]
        for ex in s["examples"]:
            lines += [f"### `{ex['row_id']}` — {ex['reason']}", "", f"> {ex['question']}", "",
                      f"Reference: {' / '.join(ex['references']) or '–'}; tags: {', '.join(ex['tags'])}", ""]
            for n, a in ex["answers"].items():
                text = a["text"] if a["status"] == "ok" else f"ERROR {a['error']}"
                lines.append(f"- **{n}**: {(text or '').strip()[:400]!r}")
            lines.append("")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ html
CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.2rem}td,th{border:1px solid #ccc;padding:.25rem .55rem;text-align:left}
th{background:#f3f4f6}.good{color:#186b3a;font-weight:600}.bad{color:#a11;font-weight:600}
img.plot{display:block;max-width:100%;margin:.6rem 0 1.4rem;border:1px solid #eee}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:.8rem}
.answer{border:1px solid #ddd;border-radius:6px;padding:.6rem;white-space:pre-wrap;background:#fafafa}
.example{border-top:2px solid #ddd;padding-top:.6rem;margin-top:1rem}img.thumb{max-width:300px;border:1px solid #ccc}
.muted{color:#666}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _thumb(path: str) -> str:
    """The image inline (scaled down to keep the report small)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.thumbnail((480, 480))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="PNG", optimize=True)
    except OSError as exc:
        return f"<p class=muted>image {_e(path)} unreadable: {_e(exc)}</p>"
    return f'<img class="thumb" alt="{_e(Path(path).name)}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _class(e: dict) -> str:
    if not (e["low"] > 0 or e["high"] < 0):
        return ""
    return "good" if (e["low"] > 0) == (e["better"] == "higher") else "bad"


def html_report(s: dict[str, Any], by_variant: dict[str, list[dict]]) -> str:
    run = s["run"]
    names = run["variants"]
    parts = [(f"<!doctype html><html lang=en><head><meta charset=utf-8><title>A/B report: {_e(' vs '.join(names))}"
             f"</title><style>{CSS}</style></head><body>"),
             f"<h1>A/B report: {_e(' vs '.join(names))}</h1>",
             (f"<p>{run['rows']} rows · baseline <b>{_e(run['baseline'])}</b> · {_e(run['mode'])} · seed {run['seed']} · "
             f"{run['computed']} requests made, {run['cached']} from cache · {run['seconds']} s · "
             f"{int(100 * run['confidence'])}% paired bootstrap CIs</p>"),
             "<h2>Metrics</h2><table><tr><th>metric</th>" + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>"]
    for metric in s["metrics"]:
        cells = "".join(f"<td>{_e(fmt(metric, (s['variants'][n]['metrics'].get(metric) or {}).get('mean')))}</td>"
                        for n in names)
        parts.append(f"<tr><td>{_e(metric)}</td>{cells}</tr>")
    parts.append("<tr><td>errors</td>" + "".join(f"<td>{s['variants'][n]['errors']} of {s['variants'][n]['n']}</td>"
                                                  for n in names) + "</tr></table>")
    for n in names:
        for e in s["variants"][n]["error_examples"][:3]:
            parts.append(f"<p class=bad>{_e(n)} / {_e(e['row_id'])}: {_e(e['error'][:300])}</p>")

    for i, comp in enumerate(s["comparisons"]):
        parts.append(f"<h2>{_e(comp['variant'])} vs {_e(comp['baseline'])}</h2>")
        img = plots.metric_diffs(comp)
        if img:
            parts.append(f'<img class="plot" id="plot-diffs-{i}" alt="metric differences with confidence intervals" '
                         f'src="data:image/png;base64,{img}">')
        if not comp["metrics"]:
            parts.append(f"<p class=bad>No row was answered by both {_e(comp['variant'])} and "
                         f"{_e(comp['baseline'])}: nothing to compare (see the errors above).</p>")
            continue
        parts.append("<table><tr><th>metric</th><th>baseline</th><th>variant</th><th>difference [CI]</th>"
                     "<th>McNemar p (wins/losses)</th></tr>")
        for metric, e in comp["metrics"].items():
            parts.append(f"<tr><td>{_e(metric)}</td><td>{_e(fmt(metric, e['baseline']))}</td>"
                         f"<td>{_e(fmt(metric, e['variant']))}</td><td class='{_class(e)}'>{_e(fmt_diff(metric, e))}</td>"
                         f"<td>{_e(_p(e))}</td></tr>")
        parts.append("</table>")
        j = comp.get("judge")
        if j:
            parts.append(f"<p>Judge (pairwise, both orders; inconsistent = tie): <b>{j['wins']}</b> wins, "
                         f"<b>{j['ties']}</b> ties, <b>{j['losses']}</b> losses of {j['n']} · sign test p = "
                         f"{j['sign_test_p']:.3g} · {j['inconsistent']} inconsistent/unreadable</p>")
    img = plots.latency(by_variant)
    if img:
        parts.append(f'<h2>Latency</h2><img class="plot" id="plot-latency" alt="latency distributions" '
                     f'src="data:image/png;base64,{img}">')
    parts.append("<h2>By tag</h2>")
    for metric in ("contains", "token_f1", "recall@5", "refusal_correct"):
        img = plots.per_tag(s, metric)
        if img:
            parts.append(f'<img class="plot" id="plot-tags-{_e(metric.replace("@", "-"))}" alt="{_e(metric)} by tag" '
                         f'src="data:image/png;base64,{img}">')
    if s["grading"]:
        parts.append("<h2>Judge grades (1-10)</h2><table><tr><th>variant</th><th>mean</th><th>graded</th>"
                     "<th>unreadable</th></tr>")
        for n, g in s["grading"].items():
            mean = f"{g['mean']:.2f}" if g["mean"] is not None else "–"
            parts.append(f"<tr><td>{_e(n)}</td><td>{mean}</td><td>{g['graded']}</td><td>{g['unreadable']}</td></tr>")
        parts.append("</table>")
    if s["examples"]:
        parts.append("<h2>Where the variants disagree</h2>")
    for ex in s["examples"]:
        parts.append(f"<div class=example id='ex-{_e(ex['row_id'])}'><h3>{_e(ex['row_id'])} "
                     f"<span class=muted>— {_e(ex['reason'])}</span></h3><p><b>{_e(ex['question'])}</b></p>"
                     f"<p class=muted>reference: {_e(' / '.join(ex['references']) or '–')} · tags: "
                     f"{_e(', '.join(ex['tags']))}</p>")
        parts += [_thumb(p) for p in ex["images"]]
        parts.append("<div class=pair>")
        for n, a in ex["answers"].items():
            body = a["text"] if a["status"] == "ok" else f"ERROR: {a['error']}"
            cites = ", ".join(f"{src} ×{n}" if n > 1 else src for src, n in Counter(a["citations"]).items()) or "none"
            parts.append(f"<div><b>{_e(n)}</b><div class=answer>{_e(body or '')}</div>"
                         f"<p class=muted>sources: {_e(cites)}</p></div>")
        parts.append("</div></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
