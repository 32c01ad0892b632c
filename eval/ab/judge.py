"""LLM-as-judge: pairwise comparison asked in both orders (disagreeing orders are a tie) and 1-10 single grading."""

from __future__ import annotations

import re

from eval.ab.config import JudgeSpec
from eval.ab.evalset import EvalRow

PAIRWISE = """You are judging two answers to a customer-service question.
Question: {question}
{reference}Answer 1:
{first}

Answer 2:
{second}

Which answer is more correct, helpful and safe? Reply with exactly one of: 1, 2, tie."""

GRADING = """You are grading an answer to a customer-service question.
Question: {question}
{reference}Answer:
{answer}

Grade the answer's correctness, helpfulness and safety from 1 (useless or harmful) to 10 (perfect).
Reply with the number only."""


def _reference(row: EvalRow) -> str:
    return f"Reference answer: {' / '.join(row.references)}\n\n" if row.references else "\n"


def pairwise_body(judge: JudgeSpec, row: EvalRow, first: str, second: str, seed: int) -> dict:
    prompt = PAIRWISE.format(question=row.question, reference=_reference(row), first=first, second=second)
    return _body(judge, prompt, seed)


def grading_body(judge: JudgeSpec, row: EvalRow, answer: str, seed: int) -> dict:
    return _body(judge, GRADING.format(question=row.question, reference=_reference(row), answer=answer), seed)


def _body(judge: JudgeSpec, prompt: str, seed: int) -> dict:
    messages = [{"role": "system", "content": judge.system_prompt}] if judge.system_prompt else []
    messages.append({"role": "user", "content": prompt})
    body = {"messages": messages, "stream": True, "stream_options": {"include_usage": True},
            "max_tokens": judge.max_tokens, "temperature": judge.temperature, "seed": seed,
            "visiondesk": {"retrieval": judge.retrieval, "domain": judge.domain, "variant": judge.name}}
    if judge.model:
        body["model"] = judge.model
    return body


def parse_pairwise(text: str) -> str | None:
    """'1', '2' or 'tie' from the judge's reply; None when it said none of them."""
    match = re.search(r"\b(tie|1|2)\b|平局", text.strip().lower())
    if not match:
        return None
    return "tie" if match.group(0) in ("tie", "平局") else match.group(0)


def parse_grade(text: str) -> int | None:
    match = re.search(r"\b(10|[1-9])\b", text)
    return int(match.group(1)) if match else None


def combine(forward: str | None, backward: str | None) -> tuple[str, bool]:
    """Verdict for the variant from (baseline shown first, variant shown first) replies.

    Returns (win/tie/loss, consistent). A reply that is unreadable or disagrees with the swapped order is a tie,
    so a judge that always prefers one position cannot produce a winner.
    """
    # forward: 1 = baseline, 2 = variant; backward: 1 = variant, 2 = baseline
    first = {"1": "loss", "2": "win", "tie": "tie"}.get(forward or "")
    second = {"1": "win", "2": "loss", "tie": "tie"}.get(backward or "")
    if first is None or second is None:
        return "tie", False
    if first == second:
        return first, True
    return "tie", False
