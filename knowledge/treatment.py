"""Does a medical question ask for a decision about someone's own treatment? Rules first, then a classifier.

The medical profiles' policy forbids answering requests for a dose, for starting / stopping / changing a medicine,
for which medicine to take, or for a diagnosis; a small model cannot be trusted to decline every wording, so such
questions get the profile's fixed `treatment_reply` instead of a model answer. Keyword rules
(knowledge.safety.treatment_request) catch the plain wordings; the rest are judged by the store's embedder: the
examples in knowledge/data/treatment_requests.yaml train a logistic regression on its vectors.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from knowledge.embedders import Embedder
from knowledge.safety import red_flags, treatment_request

EXAMPLES = Path(__file__).resolve().parent / "data" / "treatment_requests.yaml"


@dataclass(frozen=True)
class Verdict:
    """Whether the question asks for a treatment decision, and why (rule phrases or the vote)."""

    asks: bool
    rules: tuple[str, ...] = ()
    vote: float = 0.0  # the classifier's probability that it asks (1 when a rule matched); > 0.5 asks


def load_examples(path: Path = EXAMPLES) -> tuple[list[str], list[bool]]:
    """(questions, asks) from the examples file, both languages."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    texts, labels = [], []
    for key, asks in (("asks", True), ("does_not_ask", False)):
        for questions in (data.get(key) or {}).values():
            texts += [str(q) for q in questions]
            labels += [asks] * len(questions)
    if not any(labels) or all(labels):
        raise ValueError(f"{path}: needs examples on both sides (asks and does_not_ask)")
    return texts, labels


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-4, steps: int = 3000, lr: float = 1.0):
    """L2-regularised logistic regression by full-batch gradient descent, classes weighted equally.

    Returns a function from feature rows to probabilities. Features are standardised first: the embeddings of
    similar questions differ in small amounts spread over all dimensions. (l2 chosen by leave-one-out accuracy
    on the examples file: 1e-4 → 0.91, 1e-3 → 0.89, 1e-2 → 0.89.)
    """
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    x = (x - mean) / scale
    n, d = x.shape
    w, b = np.zeros(d, np.float64), 0.0
    weight = np.where(y, 0.5 / max(y.sum(), 1), 0.5 / max((~y).sum(), 1))
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        err = (p - y) * weight
        w -= lr * (x.T @ err + l2 * w)
        b -= lr * err.sum()

    def predict(rows: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(((rows - mean) / scale) @ w + b)))

    return predict


class TreatmentClassifier:
    """Logistic regression on embedded example questions; fitted once, on first use."""

    def __init__(self, embedder: Embedder, examples: tuple[list[str], list[bool]] | None = None) -> None:
        self.embedder = embedder
        self.texts, labels = examples or load_examples()
        self.labels = np.asarray(labels, dtype=bool)
        self._vectors: np.ndarray | None = None
        self._model = None
        self._lock = threading.Lock()

    def _embed(self, text: str) -> np.ndarray:
        # the symmetric task (question vs question): both sides as queries
        return np.asarray(self.embedder.embed_query(text), np.float64)

    def vectors(self) -> np.ndarray:
        with self._lock:
            if self._vectors is None:
                self._vectors = np.stack([self._embed(t) for t in self.texts])
        return self._vectors

    def model(self):
        if self._model is None:
            self._model = fit_logistic(self.vectors(), self.labels)
        return self._model

    def probability(self, question: str) -> float:
        return float(self.model()(self._embed(question)[None, :])[0])

    def judge(self, question: str) -> Verdict:
        rules = tuple(treatment_request(question))
        if rules:
            return Verdict(True, rules=rules, vote=1.0)
        if red_flags(question):
            # An emergency gets the emergency notice and first aid from the knowledge base; only an explicit request
            # for a medicine (the rules) is declined. The classifier confuses "what should we do?" with "what should
            # I take?" there (3 of 3 first-aid questions in the bundled eval).
            return Verdict(False)
        p = self.probability(question)
        return Verdict(p > 0.5, vote=round(p, 3))

    def leave_one_out(self) -> float:
        """Accuracy on the examples, each judged by a model fitted on the others: a check on the examples file."""
        x = self.vectors()
        hits = 0
        for i in range(len(self.texts)):
            keep = np.arange(len(self.texts)) != i
            predict = fit_logistic(x[keep], self.labels[keep])
            hits += bool(predict(x[i : i + 1])[0] > 0.5) == bool(self.labels[i])
        return hits / len(self.texts)
