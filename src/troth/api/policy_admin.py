"""Policy administration over HTTP: diff a candidate policy against the one in force,
publish it, read the history with its material changes, the record of processing
(ROPA) as JSON, CSV or HTML, and aggregate-only statistics.

The policy body is sent as YAML text (``Content-Type: application/yaml`` or text/plain);
a policy that does not validate is a 422 ``policy_invalid`` whose ``issues`` list
``file:line`` problems. All but aggregates need the office power ``publish_policy``,
decided by the domain (troth.office: a staff role the policy gives it, or a key bound to
no tenant with ``admin`` or ``office:publish_policy``); aggregates need ``aggregate`` (or
``aggregate:<purpose>``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from troth.api.auth import ActorDep, TrothDep, require_scope
from troth.api.models import Day
from troth.engine import Troth
from troth.errors import PolicyError, ValidationError
from troth.gate import Actor
from troth.office import authorize
from troth.policy.loader import parse_policy
from troth.policy.model import Policy, Power

router = APIRouter()

FILENAME = "policy.yaml"  # what issues name, instead of a temporary path
MAX_POLICY = 2 * 1024 * 1024
_YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "string", "maxLength": MAX_POLICY}}
            for media in ("application/yaml", "text/plain")
        },
    }
}


async def authorized_policy_text(request: Request, t: Troth, actor: Actor) -> str:
    """The request body as policy YAML text (UTF-8), or a 422 saying what to send, for an
    actor with the power to publish: decided before the body is read, so a refused caller
    learns nothing of its policy."""
    await run_in_threadpool(authorize, t.ctx, actor, Power.publish_policy)
    raw = await request.body()
    if not raw.strip():
        raise ValidationError("send the policy YAML as the request body", code="invalid_input")
    if len(raw) > MAX_POLICY:
        raise ValidationError(f"a policy may be at most {MAX_POLICY} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the policy must be UTF-8 text") from None


def parse(text: str) -> Policy:
    """Parse and validate; YAML the reader cannot even scan is a PolicyError too."""
    try:
        return parse_policy(text, FILENAME)
    except yaml.YAMLError as exc:
        # parse_policy lets the reader's errors (e.g. control characters) through.
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        issue = f"{FILENAME}:{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}"
        raise PolicyError(f"{FILENAME}: 1 problem in the policy:\n{issue}", [issue]) from None


@router.post(
    "/policy/diff",
    tags=["policy"],
    summary="What a candidate policy changes, material and minor",
    openapi_extra=_YAML_BODY,
)
async def policy_diff(request: Request, actor: ActorDep, t: TrothDep) -> dict[str, Any]:
    text = await authorized_policy_text(request, t, actor)
    new = await run_in_threadpool(parse, text)
    diff = await run_in_threadpool(lambda: t.policy.diff(new, actor=actor))
    return diff.to_dict()


@router.post(
    "/policy/publish",
    tags=["policy"],
    summary="Publish a policy as the version in force (notices and re-consent follow)",
    openapi_extra=_YAML_BODY,
)
async def policy_publish(
    request: Request,
    actor: ActorDep,
    t: TrothDep,
    effective: Annotated[Day | None, Query(description="Default: the policy's own.")] = None,
) -> dict[str, Any]:
    text = await authorized_policy_text(request, t, actor)

    def work() -> dict[str, Any]:
        import tempfile
        from pathlib import Path

        parse(text)  # issues name policy.yaml, not the temporary file
        with tempfile.TemporaryDirectory(prefix="troth-publish-") as tmp:
            path = Path(tmp) / FILENAME
            path.write_text(text, encoding="utf-8")
            return t.policy.publish(path, effective=effective, actor=actor).to_dict()

    return await run_in_threadpool(work)


@router.get(
    "/policy/history",
    tags=["policy"],
    summary="Every published version with its material changes, newest first",
)
def policy_history_list(actor: ActorDep, t: TrothDep) -> list[dict[str, Any]]:
    return [dict(v) for v in t.policy.versions(actor=actor)]


@router.get(
    "/ropa",
    tags=["policy"],
    summary="The record of processing activities (GDPR Art. 30)",
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            }
        }
    },
)
def ropa(
    actor: ActorDep,
    t: TrothDep,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
) -> Response:
    record = t.policy.ropa(actor=actor)
    if format == "csv":
        return PlainTextResponse(record.to_csv(), media_type="text/csv")
    if format == "html":
        return HTMLResponse(record.to_html())
    return Response(record.to_json(), media_type="application/json")


Name = Annotated[str, Query(min_length=1, max_length=80)]


@router.get(
    "/aggregates",
    tags=["aggregates"],
    summary="Statistics for an aggregate-only purpose; small groups are suppressed",
)
def aggregates(
    actor: ActorDep,
    t: TrothDep,
    purpose: Name,
    category: Name,
    field: Name,
    group_by: Annotated[
        list[str] | None,
        Query(max_length=2, description="At most one dimension the policy declares"),
    ] = None,
    measure: Annotated[str, Query(min_length=1, max_length=20)] = "count",
) -> dict[str, Any]:
    # The gate checks the operation `aggregate` (not `use`): ask for the scope it needs.
    require_scope(t, actor, "aggregate", f"aggregate:{purpose}")
    result = t.aggregate(
        purpose, category, field, group_by=group_by or (), measure=measure, actor=actor
    )
    return result.to_dict()
