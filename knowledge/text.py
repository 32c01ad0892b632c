"""Tokenisation shared by BM25 and keywords: jieba for Chinese, lowercase words for everything else."""

from __future__ import annotations

import logging
import re
from collections import Counter

import jieba

jieba.setLogLevel(logging.WARNING)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_TOKEN = re.compile(r"[\w\-\.]+", re.UNICODE)
STOPWORDS = frozenset(
    "a an the and or of to in on for is are was were be been it its this that with as at by from how what when "
    "which who why do does did can could should would will my your our i you we they he she me us not no yes "
    "if then than so any all more most about into out up down over under per via".split()
) | frozenset("的 了 是 在 和 与 或 吗 呢 吧 啊 我 你 他 她 它 我们 你们 请 怎么 什么 如何 哪些 多少 一个 这个 那个 有 没有 就 都 也 要 会 可以 能".split())


def is_chinese(text: str) -> bool:
    """Rough language guess: enough CJK characters means Chinese."""
    if not text:
        return False
    cjk = len(_CJK.findall(text))
    return cjk >= 2 and cjk / max(1, len(text.replace(" ", ""))) > 0.15


def language_of(text: str) -> str:
    return "zh" if is_chinese(text) else "en"


def tokenize(text: str) -> list[str]:
    """Lowercased tokens without stopwords; Chinese runs are cut by jieba (search mode, so sub-words match)."""
    out: list[str] = []
    for piece in _TOKEN.findall(text.lower()):
        if _CJK.search(piece):
            for tok in jieba.cut_for_search(piece):
                tok = tok.strip()
                if tok and tok not in STOPWORDS:
                    out.append(tok)
        else:
            piece = piece.strip(".-")
            if piece and piece not in STOPWORDS:
                out.append(piece)
    return out


def keywords(text: str, limit: int = 8) -> list[str]:
    """Most frequent non-trivial tokens, for display and curation."""
    counts = Counter(t for t in tokenize(text) if len(t) > 1 and not t.isdigit())
    return [w for w, _ in counts.most_common(limit)]
