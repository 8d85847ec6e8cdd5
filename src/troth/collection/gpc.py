"""The Global Privacy Control signal sent with a collection that was refused.

``Sec-GPC: 1`` is the person's opt-out of the sale or sharing of their data (CCPA
1798.135(e), 11 CCR 7025(b)): it belongs to them, not to the payload it came with. A
collection refused for its data (a field the point does not declare, a consent missing, a
bad value) still tells troth who sent the signal, so it is recorded all the same, as a
collection that succeeds records it (:meth:`~troth.consent.ConsentLedger.record_gpc`).

The person is the one the collection names (``subject_id``), or the one its identifying
fields (e-mail, phone, customer id) find among the people of the tenant it files under
(the organisation's own people when none), as the collection itself would have found
them. An unknown person, an erased one, one of another tenant, or a value no identity can
be read from: nothing is recorded and nothing is raised, so the caller's answer is the
collection's own refusal, whoever the values name (no oracle)."""

from __future__ import annotations

from collections.abc import Mapping

from troth.collection.identities import read_identities
from troth.consent import ConsentLedger, ConsentRecord, gpc_present
from troth.context import Context
from troth.db import reading
from troth.errors import TrothError
from troth.store.subjects import get_subject

__all__ = ["honour_refused_collection"]


def honour_refused_collection(
    ctx: Context,
    point: str,
    data: object,
    *,
    signal: str | None,
    subject_id: str | None = None,
    tenant_id: str | None = None,
    jurisdiction: str | None = None,
    origin: str | None = None,
    user_agent: str | None = None,
) -> list[ConsentRecord]:
    """Record ``signal`` (only ``1`` is one) for the live person a refused collection
    through ``point`` names or finds (see the module); the events written, else []."""
    if not gpc_present(signal):
        return []
    sid = _person_of(ctx, point, data, subject_id, tenant_id, jurisdiction)
    if sid is None:
        return []
    return ConsentLedger(ctx).record_gpc(sid, signal=signal, origin=origin, user_agent=user_agent)


def _person_of(
    ctx: Context,
    point: str,
    data: object,
    subject_id: str | None,
    tenant_id: str | None,
    jurisdiction: str | None,
) -> str | None:
    """The live person of the collection's tenant it names or its identities find."""
    with reading(ctx.engine) as conn:
        if subject_id is not None:
            try:
                named = get_subject(conn, subject_id, ctx.keys)
            except TrothError:  # unknown, or the row changed outside troth
                return None
            mine = tenant_id is None or named.tenant_id == tenant_id
            return named.id if mine and named.erased_at is None else None
        cp = ctx.policy.points.get(point)
        if cp is None or not isinstance(data, Mapping):
            return None
        juris = jurisdiction or ctx.policy.default_jurisdiction.value
        try:
            ids = read_identities(conn, ctx, cp, [data], juris, tenant_id)
        except (TrothError, TypeError, ValueError):  # no identity can be read from it
            return None
    # The first kind that names someone decides, and the first of several people, as
    # the collection decides (troth.collection.identities.resolve_people).
    for kind, h in ids.rows[0].items():
        people = ids.owners.get((kind, h))
        if people:
            return min(people)
    return None
