"""The ``/api/v1`` router: one sub-router per concept, added as each concept lands."""

from __future__ import annotations

from fastapi import APIRouter

from troth.api import access as access_api
from troth.api import disclosures, office, policy_admin, records, requests, subjects
from troth.api.models import Problem

_PROBLEMS: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "description": text, "content": {"application/problem+json": {}}}
    for status, text in (
        (
            400,
            "Malformed request: the body is not strict JSON (NaN, 1e400, a number of more"
            " than 30 digits, a lone surrogate, nesting past 32 levels) (`malformed_json`)",
        ),
        (401, "Missing or wrong credentials"),
        (403, "Not allowed; gate refusals carry `reason`"),
        (404, "Unknown id"),
        (409, "Conflict (e.g. an Idempotency-Key reused for another request)"),
        (413, "Request body too large"),
        (422, "Invalid input"),
        (429, "Too many attempts (wrong codes, failed logins); `Retry-After` when known"),
    )
}


def build_router() -> APIRouter:
    router = APIRouter(responses=_PROBLEMS)
    router.include_router(subjects.router)
    router.include_router(records.router)
    router.include_router(disclosures.router)
    router.include_router(requests.router)
    router.include_router(office.router)
    router.include_router(access_api.router)
    router.include_router(policy_admin.router)
    return router
