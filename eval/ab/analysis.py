"""Turns a run's records into the summary: per-variant metrics, paired comparisons with the baseline, per-tag
breakdowns, judge verdicts and the examples where the variants disagree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eval.ab.judge import combine
from eval.ab.metrics import BINARY, LOWER_IS_BETTER, SafetyPhrases, answer_metrics
from eval.ab.runner import RunResult
from eval.ab.stats import mcnemar_exact, paired_bootstrap, percentile, win_tie_loss

SYSTEM_METRICS = ("latency_ms", "ttft_ms", "tokens_per_s")
# The metric used for per-tag bars and to pick disagreement examples, in order of preference.
HEADLINE = ("contains", "token_f1", "refusal_correct", "recall@5", "mrr")


def score_records(result: RunResult) -> None:
    """Add `metrics` to every answer record (recomputed each time, so a metric fix applies to cached answers)."""
    safety = SafetyPhrases.from_profiles()
    rows = {r.id: r for r in result.rows}
    for (_, row_id), rec in result.answers.items():
        if rec["status"] != "ok":
            rec["metrics"] = {}
            continue
        metrics = answer_metrics(rows[row_id], rec["text"], rec.get("citations", []), result.config.recall_k, safety)
        metrics["latency_ms"], metrics["ttft_ms"] = rec.get("latency_ms"), rec.get("ttft_ms")
        # recomputed, not read from the record, so cached answers follow the current definition
        tokens, latency = rec.get("completion_tokens") or 0, rec.get("latency_ms") or 0
        metrics["tokens_per_s"] = tokens / (latency / 1000) if tokens and latency > 0 else None
        rec["metrics"] = metrics


def metric_names(result: RunResult) -> list[str]:
    seen: dict[str, None] = {}
    for rec in result.answers.values():
        for name in rec.get("metrics", {}):
            seen.setdefault(name, None)
    quality = [n for n in seen if n not in SYSTEM_METRICS]
    return quality + [n for n in SYSTEM_METRICS if n in seen]


def _values(result: RunResult, variant: str, metric: str, row_ids: list[str]) -> list[float | None]:
    out = []
    for rid in row_ids:
        rec = result.answers.get((variant, rid))
        out.append(rec.get("metrics", {}).get(metric) if rec and rec["status"] == "ok" else None)
    return out


def _paired(result: RunResult, base: str, var: str, metric: str, row_ids: list[str]) -> tuple[list[float], list[float]]:
    a, b = _values(result, base, metric, row_ids), _values(result, var, metric, row_ids)
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _summary_stats(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "mean": sum(values) / len(values) if values else None,
            "p50": percentile(values, 50), "p95": percentile(values, 95)}


def compare(result: RunResult, base: str, var: str, metrics: list[str], row_ids: list[str], *,
            resamples: int, seed: int) -> dict[str, Any]:
    cfg = result.config
    out: dict[str, Any] = {}
    for metric in metrics:
        a, b = _paired(result, base, var, metric, row_ids)
        if not a:
            continue
        ci = paired_bootstrap(a, b, resamples=resamples, confidence=cfg.confidence, seed=seed)
        entry = {"baseline": sum(a) / len(a), "variant": sum(b) / len(b), **ci.model_dump(),
                 "better": "lower" if metric in LOWER_IS_BETTER else "higher"}
        if metric in BINARY or metric.startswith("recall@"):
            entry["mcnemar"] = mcnemar_exact(a, b).model_dump()
        out[metric] = entry
    return out


def judge_summary(result: RunResult, base: str, var: str) -> dict[str, Any] | None:
    replies: dict[str, dict[str, str | None]] = {}
    for j in result.judgments:
        if j["kind"] == "pairwise" and j["variant"] == var and j["status"] == "ok":
            replies.setdefault(j["row_id"], {})[j["order"]] = j["parsed"]
    complete = {rid: r for rid, r in replies.items() if "forward" in r and "backward" in r}
    if not complete:
        return None
    verdicts, inconsistent, unreadable, per_row = [], 0, 0, {}
    for rid, r in complete.items():
        verdict, consistent = combine(r["forward"], r["backward"])
        unreadable += r["forward"] is None or r["backward"] is None
        inconsistent += not consistent
        verdicts.append(verdict)
        per_row[rid] = verdict
    return {**win_tie_loss(verdicts).model_dump(), "inconsistent": inconsistent, "unreadable": unreadable,
            "per_row": per_row}


def grading_summary(result: RunResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in result.config.variants:
        grades = [j for j in result.judgments if j["kind"] == "grade" and j["variant"] == spec.name
                  and j["status"] == "ok"]
        scores = [j["parsed"] for j in grades if j["parsed"] is not None]
        if grades:
            out[spec.name] = {"n": len(grades), "graded": len(scores), "unreadable": len(grades) - len(scores),
                              "mean": sum(scores) / len(scores) if scores else None}
    return out


def examples(result: RunResult, comparisons: list[dict], limit: int) -> list[dict[str, Any]]:
    """Rows where the variants disagree: a headline metric differs or the judge picked a side; rows where only
    some variants errored come after those."""
    names = [v.name for v in result.config.variants]
    disagree, errored = [], []
    for row in result.rows:
        recs = [result.answers.get((n, row.id)) for n in names]
        ok = [r for r in recs if r is not None and r["status"] == "ok"]
        reason = None
        for metric in HEADLINE:
            vals = {r["metrics"].get(metric) for r in ok}
            if len(ok) > 1 and None not in vals and len(vals) > 1:
                reason = f"{metric} differs"
                break
        if reason is None:
            for comp in comparisons:
                verdict = (comp.get("judge") or {}).get("per_row", {}).get(row.id)
                if verdict in ("win", "loss"):
                    reason = f"judge: {comp['variant']} {verdict}s against {comp['baseline']}"
                    break
        if reason is not None:
            disagree.append((row, recs, reason))
        elif ok and len(ok) < len(recs):
            errored.append((row, recs, "a variant errored"))
    out = []
    for row, recs, reason in (disagree + errored)[:limit]:
        out.append({"row_id": row.id, "reason": reason, "question": row.question, "tags": row.all_tags(),
                    "references": row.references, "images": [str(p) for p in row.image_paths()],
                    "answers": {n: {"status": r["status"] if r else "missing",
                                    "text": r.get("text") if r else None, "error": r.get("error") if r else None,
                                    "citations": [c["source"] for c in r.get("citations", [])] if r else [],
                                    "metrics": r.get("metrics", {}) if r else {}}
                                for n, r in zip(names, recs, strict=True)}})
    return out


def summarize(result: RunResult) -> dict[str, Any]:
    cfg = result.config
    score_records(result)
    metrics = metric_names(result)
    row_ids = [r.id for r in result.rows]
    variants: dict[str, Any] = {}
    for spec in cfg.variants:
        recs = [result.answers.get((spec.name, rid)) for rid in row_ids]
        ok = [r for r in recs if r and r["status"] == "ok"]
        errors = [{"row_id": r["row_id"], "error": r["error"]} for r in recs if r and r["status"] == "error"]
        means = {}
        for metric in metrics:
            vals = [v for v in _values(result, spec.name, metric, row_ids) if v is not None]
            if vals:
                means[metric] = _summary_stats(vals) if metric in SYSTEM_METRICS else \
                    {"n": len(vals), "mean": sum(vals) / len(vals)}
        variants[spec.name] = {"description": spec.description, "n": len(recs), "ok": len(ok),
                               "errors": len(errors), "error_examples": errors[:5], "metrics": means}
    comparisons = []
    tags = sorted({t for r in result.rows for t in r.all_tags()})
    for i, spec in enumerate(cfg.variants[1:], 1):
        base = cfg.baseline.name
        comp: dict[str, Any] = {"baseline": base, "variant": spec.name,
                                "metrics": compare(result, base, spec.name, metrics, row_ids,
                                                   resamples=cfg.bootstrap_samples, seed=cfg.seed + i)}
        per_tag = {}
        for tag in tags:
            ids = [r.id for r in result.rows if tag in r.all_tags()]
            found = compare(result, base, spec.name, [m for m in metrics if m not in SYSTEM_METRICS], ids,
                            resamples=min(cfg.bootstrap_samples, 1000), seed=cfg.seed + i)
            if found:
                per_tag[tag] = found
        comp["per_tag"] = per_tag
        comp["judge"] = judge_summary(result, base, spec.name)
        comparisons.append(comp)
    return {
        "run": {"finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "seconds": round(result.seconds, 2),
                "rows": len(result.rows), "variants": [v.name for v in cfg.variants], "baseline": cfg.baseline.name,
                "judge": cfg.judge.name if cfg.judge else None, "seed": cfg.seed, "computed": result.computed,
                "cached": result.cached, "unreadable_cache_lines": result.unreadable_lines,
                "mode": f"backend_url {cfg.backend_url}" if cfg.backend_url else "in-process",
                "confidence": cfg.confidence, "bootstrap_samples": cfg.bootstrap_samples},
        "metrics": metrics,
        "tags": tags,
        "variants": variants,
        "comparisons": comparisons,
        "grading": grading_summary(result),
        "examples": examples(result, comparisons, cfg.max_examples),
    }
