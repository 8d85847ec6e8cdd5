"""Disclosures over HTTP: hand a person's data to a listed recipient (projected to what
the policy lets it receive), list a person's disclosures, and the published list of
sub-processors (public, P21)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from troth.api.auth import ActorDep, TrothDep, require_scope
from troth.api.idempotency import IdemKey, once
from troth.api.models import BodyIn
from troth.api.subjects import SubjectId, visible_subject

router = APIRouter(tags=["disclosures"])


class DiscloseIn(BodyIn):
    recipient: str = Field(min_length=1, max_length=80)
    purpose: str = Field(min_length=1, max_length=80)
    categories: list[str] | None = Field(default=None, max_length=100)
    legal_demand_id: str | None = Field(default=None, max_length=64)


@router.get("/disclosures/subprocessors", summary="The published sub-processor list (public)")
def subprocessors_list(t: TrothDep) -> list[dict[str, Any]]:
    return t.disclosures.subprocessors_json()


@router.get(
    "/disclosures/subprocessors.html",
    response_class=HTMLResponse,
    summary="The sub-processor list as a page (public)",
)
def subprocessors_page(t: TrothDep) -> HTMLResponse:
    return HTMLResponse(t.disclosures.subprocessors_html())


@router.post(
    "/subjects/{subject_id}/disclosures",
    status_code=201,
    summary="Disclose a person's data to a listed recipient",
)
async def disclose(
    request: Request,
    subject_id: SubjectId,
    body: DiscloseIn,
    actor: ActorDep,
    t: TrothDep,
    idempotency_key: IdemKey = None,
) -> Any:
    require_scope(t, actor, "disclose", f"disclose:{body.purpose}")
    await run_in_threadpool(visible_subject, t, actor, subject_id)

    def work() -> tuple[int, Any]:
        pkg = t.disclosures.disclose(
            subject_id,
            body.recipient,
            body.purpose,
            actor,
            categories=body.categories,
            legal_demand_id=body.legal_demand_id,
        )
        return 201, pkg.to_dict()

    return await once(request, t, actor, idempotency_key, work)


@router.get("/subjects/{subject_id}/disclosures", summary="A person's disclosures, newest first")
def disclosures_of(subject_id: SubjectId, actor: ActorDep, t: TrothDep) -> list[dict[str, Any]]:
    require_scope(t, actor, "disclose", "use")
    return t.access.records.disclosures_for(actor, subject_id)
