"""Online A/B experiments: variant specs, sticky assignment of conversations, and per-variant outcome counts.

A running experiment covers one domain (or all of them). Each new conversation lands in a variant by hashing
(experiment id, conversation id) into the traffic split, so every turn of a conversation sees the same variant
and the split holds without any shared state between backend replicas.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import case, func, select

from backend.db import Database
from backend.db.models import Experiment, Feedback, RequestLog, utcnow

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"


class ExperimentError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class VariantSpec(BaseModel):
    """One arm of an experiment. Empty fields leave the request's own choice in place."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="Variant name, recorded on every answer it gives (e.g. `A`).")
    weight: float = Field(1.0, gt=0, description="Share of conversations, relative to the other variants' weights.")
    model: str | None = Field(None, description="Base model or LoRA adapter name (as in a request's `model`).")
    retrieval: bool | None = Field(None, description="Knowledge retrieval on or off.")
    top_k: int | None = Field(None, ge=1, le=50, description="Knowledge chunks to retrieve.")
    system_prompt: str | None = Field(None, max_length=4000,
                                      description="Extra instructions added to the domain's system prompt.")


class ExperimentSpec(BaseModel):
    """What an admin defines: which traffic, which variants, which split."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_NAME, description="Experiment name, e.g. `shop-lora-v2`.")
    description: str = Field("", max_length=2000, description="What is being tested and why.")
    domain: str | None = Field(None, description="Domain whose conversations take part; empty: every domain.")
    variants: list[VariantSpec] = Field(min_length=2, max_length=8, description="The arms; the first is the control.")

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, variants: list[VariantSpec]) -> list[VariantSpec]:
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        return variants


class ExperimentOut(ExperimentSpec):
    status: str = Field(description="`draft`, `running` or `stopped`.")
    created_at: datetime = Field(description="When it was defined.")
    started_at: datetime | None = Field(None, description="When it last started.")
    stopped_at: datetime | None = Field(None, description="When it last stopped.")


class VariantCounts(BaseModel):
    variant: str = Field(description="Variant name.")
    answers: int = Field(description="Answers the variant gave (status 200).")
    conversations: int = Field(description="Conversations assigned to it that got an answer.")
    rated: int = Field(description="Answers with a thumbs up or down.")
    up: int = Field(description="Thumbs up.")
    down: int = Field(description="Thumbs down.")
    flagged: int = Field(description="Answers flagged for review.")
    mean_latency_ms: float | None = Field(None, description="Mean answer latency.")


class ExperimentResults(BaseModel):
    experiment: ExperimentOut = Field(description="The experiment.")
    variants: list[VariantCounts] = Field(description="Counts per variant, in the experiment's order.")


def bucket(experiment_id: str, conversation_id: str) -> float:
    """A stable number in [0, 1) for this conversation in this experiment."""
    digest = hashlib.sha256(f"{experiment_id}\x00{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment_id: str, conversation_id: str, variants: list[VariantSpec]) -> VariantSpec:
    """The variant whose slice of the weighted split holds this conversation's bucket."""
    point = bucket(experiment_id, conversation_id) * sum(v.weight for v in variants)
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return variants[-1]  # float rounding at the very top of the range


def _out(row: Experiment) -> ExperimentOut:
    return ExperimentOut(id=row.id, description=row.description, domain=row.domain, variants=row.variants,
                         status=row.status, created_at=row.created_at, started_at=row.started_at,
                         stopped_at=row.stopped_at)


class Experiments:
    """Experiment definitions in the app database, and the running ones cached for the chat hot path."""

    def __init__(self, db: Database, refresh_s: float = 2.0):
        self.db = db
        # Other replicas' starts and stops reach this one within refresh_s; its own at once.
        self.refresh_s = refresh_s
        self._running: list[ExperimentOut] = []
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def create(self, spec: ExperimentSpec) -> ExperimentOut:
        with self.db.session() as s:
            if s.get(Experiment, spec.id) is not None:
                raise ExperimentError(f"experiment {spec.id!r} already exists; choose another name", 409)
            row = Experiment(id=spec.id, description=spec.description, domain=spec.domain,
                             variants=[v.model_dump() for v in spec.variants], status="draft", created_at=utcnow())
            s.add(row)
            s.flush()
            return _out(row)

    def update(self, spec: ExperimentSpec) -> ExperimentOut:
        with self.db.session() as s:
            row = self._row(s, spec.id)
            if row.status != "draft":
                raise ExperimentError(f"experiment {spec.id!r} is {row.status}; only a draft can be changed "
                                      "(define a new experiment instead)", 409)
            row.description, row.domain = spec.description, spec.domain
            row.variants = [v.model_dump() for v in spec.variants]
            s.flush()
            return _out(row)

    def list(self) -> list[ExperimentOut]:
        with self.db.session() as s:
            return [_out(r) for r in s.scalars(select(Experiment).order_by(Experiment.created_at.desc()))]

    def get(self, experiment_id: str) -> ExperimentOut:
        with self.db.session() as s:
            return _out(self._row(s, experiment_id))

    def start(self, experiment_id: str, known_models: list[str]) -> ExperimentOut:
        with self.db.session() as s:
            row = self._row(s, experiment_id)
            unknown = [v["model"] for v in row.variants if v.get("model") and v["model"] not in known_models]
            if unknown:
                raise ExperimentError(f"variants name models this backend does not serve: {', '.join(unknown)}; "
                                      f"served: {', '.join(known_models)}", 400)
            for other in s.scalars(select(Experiment).where(Experiment.status == "running",
                                                            Experiment.id != experiment_id)):
                if other.domain is None or row.domain is None or other.domain == row.domain:
                    raise ExperimentError(f"experiment {other.id!r} already runs on "
                                          f"{other.domain or 'every domain'}; stop it first", 409)
            row.status, row.started_at = "running", utcnow()
            s.flush()
            out = _out(row)
        self._invalidate()
        return out

    def stop(self, experiment_id: str) -> ExperimentOut:
        with self.db.session() as s:
            row = self._row(s, experiment_id)
            if row.status != "running":
                raise ExperimentError(f"experiment {experiment_id!r} is {row.status}, not running", 409)
            row.status, row.stopped_at = "stopped", utcnow()
            s.flush()
            out = _out(row)
        self._invalidate()
        return out

    def delete(self, experiment_id: str) -> None:
        with self.db.session() as s:
            row = self._row(s, experiment_id)
            if row.status == "running":
                raise ExperimentError(f"experiment {experiment_id!r} is running; stop it before deleting it", 409)
            s.delete(row)

    def running_for(self, domain: str | None) -> ExperimentOut | None:
        """The running experiment that covers this domain, if any."""
        with self._lock:
            if time.monotonic() - self._loaded_at > self.refresh_s:
                with self.db.session() as s:
                    rows = s.scalars(select(Experiment).where(Experiment.status == "running"))
                    self._running = [_out(r) for r in rows]
                self._loaded_at = time.monotonic()
            running = self._running
        return next((e for e in running if e.domain is None or e.domain == domain), None)

    def results(self, experiment_id: str) -> ExperimentResults:
        experiment = self.get(experiment_id)
        rated = case((Feedback.rating.is_not(None), 1), else_=0)
        with self.db.session() as s:
            # One feedback row per answer counts (the latest wins if an agent rated twice).
            latest = (select(Feedback.request_id, func.max(Feedback.id).label("fid"))
                      .group_by(Feedback.request_id).subquery())
            query = (
                select(RequestLog.variant,
                       func.count(RequestLog.id),
                       func.count(func.distinct(RequestLog.conversation_id)),
                       func.coalesce(func.sum(rated), 0),
                       func.coalesce(func.sum(case((Feedback.rating == "up", 1), else_=0)), 0),
                       func.coalesce(func.sum(case((Feedback.rating == "down", 1), else_=0)), 0),
                       func.coalesce(func.sum(case((Feedback.flagged.is_(True), 1), else_=0)), 0),
                       func.avg(RequestLog.latency_ms))
                .outerjoin(latest, latest.c.request_id == RequestLog.id)
                .outerjoin(Feedback, Feedback.id == latest.c.fid)
                .where(RequestLog.experiment == experiment_id, RequestLog.status == 200)
                .group_by(RequestLog.variant)
            )
            found = {row[0]: row[1:] for row in s.execute(query)}
        counts = []
        for variant in experiment.variants:
            answers, conversations, n_rated, up, down, flagged, latency = found.get(variant.name,
                                                                                   (0, 0, 0, 0, 0, 0, None))
            counts.append(VariantCounts(variant=variant.name, answers=answers, conversations=conversations,
                                        rated=n_rated, up=up, down=down, flagged=flagged,
                                        mean_latency_ms=latency))
        return ExperimentResults(experiment=experiment, variants=counts)

    def _invalidate(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")

    @staticmethod
    def _row(session, experiment_id: str) -> Experiment:
        row = session.get(Experiment, experiment_id)
        if row is None:
            raise ExperimentError(f"experiment {experiment_id!r} not found", 404)
        return row
