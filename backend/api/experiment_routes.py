"""Online A/B experiments for admins: define, start, stop, delete, and read per-variant outcome counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Response

from backend.accounts import Principal
from backend.api.security import require
from backend.experiments import ExperimentError, ExperimentOut, ExperimentResults, ExperimentSpec

if TYPE_CHECKING:
    from backend.api.app import State


def router(state: State) -> APIRouter:
    r = APIRouter(prefix="/v1/experiments", tags=["experiments"])
    experiments = state.experiments

    def served() -> list[str]:
        return [state.engine.model_id, *state.engine.adapters()]

    @r.get("", response_model=list[ExperimentOut], summary="Every experiment, newest first")
    async def list_experiments(_: Principal = Depends(require("admin"))) -> list[ExperimentOut]:
        return experiments.list()

    @r.post("", response_model=ExperimentOut, status_code=201, summary="Define an experiment (as a draft)")
    async def create(spec: ExperimentSpec, _: Principal = Depends(require("admin"))) -> ExperimentOut:
        return experiments.create(spec)

    @r.get("/{experiment_id}", response_model=ExperimentOut, summary="One experiment")
    async def get(experiment_id: str, _: Principal = Depends(require("admin"))) -> ExperimentOut:
        return experiments.get(experiment_id)

    @r.put("/{experiment_id}", response_model=ExperimentOut, summary="Change a draft experiment")
    async def update(experiment_id: str, spec: ExperimentSpec,
                     _: Principal = Depends(require("admin"))) -> ExperimentOut:
        if spec.id != experiment_id:
            raise ExperimentError(f"the body's id {spec.id!r} differs from the path's {experiment_id!r}", 400)
        return experiments.update(spec)

    @r.post("/{experiment_id}/start", response_model=ExperimentOut,
            summary="Start assigning new conversations to the variants")
    async def start(experiment_id: str, _: Principal = Depends(require("admin"))) -> ExperimentOut:
        return experiments.start(experiment_id, served())

    @r.post("/{experiment_id}/stop", response_model=ExperimentOut, summary="Stop assigning conversations")
    async def stop(experiment_id: str, _: Principal = Depends(require("admin"))) -> ExperimentOut:
        return experiments.stop(experiment_id)

    @r.delete("/{experiment_id}", status_code=204, summary="Delete an experiment that is not running")
    async def delete(experiment_id: str, _: Principal = Depends(require("admin"))) -> Response:
        experiments.delete(experiment_id)
        return Response(status_code=204)

    @r.get("/{experiment_id}/results", response_model=ExperimentResults,
           summary="Answers, ratings and flags per variant (analyse with `python -m eval.online`)")
    async def results(experiment_id: str, _: Principal = Depends(require("admin"))) -> ExperimentResults:
        return experiments.results(experiment_id)

    return r
