"""The audit log and the policy over HTTP (read-only; publishing is a console action)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Query

from troth.api.auth import ActorDep, TrothDep
from troth.api.models import ID_CUT, AuditEntryOut, AuditPage, CutId
from troth.errors import ValidationError
from troth.office import read_audit, verify_audit
from troth.policy.describe import policy_summary
from troth.policy.versions import published_versions

router = APIRouter()

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (1-500).")]
Cursor = Annotated[
    str | None, Query(max_length=100, description="`next_cursor` of the previous page.")
]


def encode_cursor(value: int) -> str:
    """An opaque cursor for "after this position"."""
    return base64.urlsafe_b64encode(f"v1:{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, value = text.split(":", 1)
        if tag != "v1":
            raise ValueError(tag)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_cursor() from exc


def invalid_cursor() -> ValidationError:
    """The 422 every paged list answers a cursor with that troth did not give out."""
    return ValidationError(
        "cursor is not one troth gave out; pass `next_cursor` from the previous page",
        code="invalid_cursor",
    )


@router.get(
    "/audit",
    response_model=AuditPage,
    tags=["audit"],
    summary="Audit entries, newest first, filtered by subject or actor",
)
def audit_entries(
    actor: ActorDep,
    t: TrothDep,
    subject_id: Annotated[str | None, CutId, Query(max_length=ID_CUT + 1)] = None,
    by: Annotated[
        str | None, Query(max_length=200, description="Actor label, e.g. staff:alice")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AuditPage:
    after = decode_cursor(cursor)
    rows = read_audit(t.ctx, actor, subject_id=subject_id, by=by, limit=limit + 1, after_seq=after)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[AuditEntryOut(**r.to_dict()) for r in rows],
        next_cursor=encode_cursor(rows[-1].seq) if more and rows else None,
    )


@router.post("/audit/verify", tags=["audit"], summary="Verify the whole log against its heads")
def audit_verify(actor: ActorDep, t: TrothDep) -> dict[str, Any]:
    return verify_audit(t.ctx, actor).to_dict()


@router.get("/policy", tags=["policy"], summary="The policy in force, in plain words")
def policy_in_force(t: TrothDep) -> dict[str, Any]:
    idx = t.ctx.policy
    # The summary depends only on the policy in force: made once per published version.
    summary = _SUMMARIES.get(idx.digest)
    if summary is None:
        summary = _SUMMARIES[idx.digest] = policy_summary(idx.policy)
    return {"version": idx.version, "summary": summary}


_SUMMARIES: dict[str, Any] = {}


@router.get("/policy/versions", tags=["policy"], summary="Every published version")
def policy_history(t: TrothDep) -> list[dict[str, Any]]:
    return [r.to_dict() for r in published_versions(t.ctx)]
