"""The ``Sec-GPC`` header of the API's routes, and the signal of a collection honoured
whatever the collection's outcome (trial #19 F2: a refused collection dropped it, and the
ad partner went on receiving the person's data)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from troth.access.apikeys import has_scope
from troth.api.auth import ActorDep, TrothDep, client_ip
from troth.api.models import ID_CUT
from troth.collection.gpc import honour_refused_collection
from troth.consent import gpc_present
from troth.errors import TrothError

Gpc = Annotated[
    str | None,
    Header(
        alias="Sec-GPC",
        description="Global Privacy Control: `1` is an opt-out of sale/sharing; no header, or"
        " any other value, is no signal (nothing is recorded).",
    ),
]


async def collection_gpc(
    request: Request, actor: ActorDep, t: TrothDep, sec_gpc: Gpc = None
) -> AsyncIterator[str | None]:
    """The collect route's ``Sec-GPC`` header. A collection that succeeds records the
    signal itself; one refused, by troth (403, 404, 409, 422) or by the body's schema
    (422), records it here for the person it names or its identities find, as far as
    the caller may reach (:mod:`troth.collection.gpc`), then answers its refusal
    unchanged. A caller who may not collect through the point records nothing."""
    try:
        yield sec_gpc
    except (TrothError, RequestValidationError):
        point = str(request.path_params.get("point", ""))
        if gpc_present(sec_gpc) and has_scope(actor, "collect", f"collect:{point}"):
            asked = _named(await request.body())
            # A key bound to a tenant reaches its own tenant's people only.
            tenant = actor.tenant_id or _text(asked.get("tenant_id"))
            await run_in_threadpool(
                honour_refused_collection,
                t.ctx,
                point,
                asked.get("data"),
                signal=sec_gpc,
                subject_id=_text(asked.get("subject_id")),
                tenant_id=tenant,
                jurisdiction=_text(asked.get("jurisdiction")),
                origin=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
        raise


def _named(raw: bytes) -> dict[str, Any]:
    """The body as the caller sent it (it may not have passed the schema): an object,
    else nothing."""
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _text(value: object) -> str | None:
    """An id or code the body gave as text the schema would take (else None)."""
    return value if isinstance(value, str) and 0 < len(value) <= ID_CUT + 1 else None


CollectionGpc = Annotated[str | None, Depends(collection_gpc)]
