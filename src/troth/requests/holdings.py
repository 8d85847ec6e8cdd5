"""Everything troth holds about a person (or a tenant), as plain JSON-able data: values by
category with their tags, consents, communications, account history, disclosures, who
accessed the data and why. Connected datasets are added by the caller.

Each reader opens its own connection and closes it before the next (SQLite takes the write
lock on every transaction: never nest them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from troth.audit.entries import list_entries
from troth.context import Context
from troth.policy.masking import shown
from troth.store.crypto import decrypt_value, unwrap_key
from troth.store.tables import records, restrictions, subject_keys, subjects, tenants
from troth.store.values import StoredValue, read_subject

# Sections of the export that gather categories the promises name (P23, P31, P32).
COMMUNICATIONS = frozenset({"communications", "support"})
ACCOUNT_HISTORY = frozenset({"account_history", "purchases"})
CALL_RECORDS = frozenset({"call_records", "destination_numbers"})
_AUDIT_PAGE = 5000


def _iso(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(mapping: Any, drop: Iterable[str] = ()) -> dict[str, Any]:
    skip = set(drop)
    return {k: _iso(v) for k, v in dict(mapping).items() if k not in skip}


def _categories(ctx: Context, values: list[StoredValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in values:
        info = ctx.policy.categories.get(v.category)
        section = out.setdefault(
            v.category,
            {
                "description": info.description if info else v.category,
                "sensitive": bool(info and info.sensitive),
                "values": [],
            },
        )
        # As the person is shown it: a field that declares a mask (a card number) is masked.
        section["values"].append(
            {**v.to_dict(), "value": shown(ctx.policy, v.collection_point, v.field, v.value)}
        )
    return out


def _table_rows(conn: Connection, name: str, column: str, value: str) -> list[dict[str, Any]]:
    from troth.db import metadata

    table = metadata.tables.get(name)
    if table is None:
        return []
    stmt = select(table).where(table.c[column] == value)
    if "id" in table.c:
        stmt = stmt.order_by(table.c.id)
    return [_row(m) for m in conn.execute(stmt).mappings()]


def subject_holdings(ctx: Context, subject_id: str) -> dict[str, Any]:
    """Everything about one person in troth's own database."""
    from troth.requests.tables import request_events, requests

    with ctx.engine.connect() as conn:
        subj, values = read_subject(conn, ctx, subject_id)
        consent_events = _table_rows(conn, "consent_events", "subject_id", subject_id)
        consent_state = _table_rows(conn, "consent_state", "subject_id", subject_id)
        messages = [
            _row(m, drop=("headers", "idempotency_key"))
            for m in _table_rows(conn, "outbox", "subject_id", subject_id)
        ]
        limited = [
            _row(m)
            for m in conn.execute(
                select(restrictions).where(restrictions.c.subject_id == subject_id)
            ).mappings()
        ]
        reqs = []
        for r in conn.execute(
            select(
                requests.c.id,
                requests.c.kind,
                requests.c.state,
                requests.c.channel,
                requests.c.received_at,
                requests.c.due_at,
                requests.c.closed_at,
            )
            .where(requests.c.subject_id == subject_id)
            .order_by(requests.c.received_at)
        ).mappings():
            item = _row(r)
            item["events"] = [
                _row(e, drop=("id", "request_id"))
                for e in conn.execute(
                    select(request_events)
                    .where(request_events.c.request_id == r["id"])
                    .order_by(request_events.c.id)
                ).mappings()
            ]
            reqs.append(item)
    disclosed = _disclosures(ctx, subject_id)
    by_cat = _categories(ctx, values)
    return {
        "subject": {
            "id": subj.id,
            "tenant_id": subj.tenant_id,
            "kind": subj.kind,
            "jurisdiction": subj.jurisdiction,
            "status": subj.status,
            "created_at": _iso(subj.created_at),
            "relationship_ended_at": _iso(subj.relationship_ended_at),
        },
        "categories": by_cat,
        "communications": {
            "records": [v.to_dict() for v in values if v.category in COMMUNICATIONS],
            "messages": messages,
        },
        "account_history": {
            "records": [v.to_dict() for v in values if v.category in ACCOUNT_HISTORY],
            "requests": reqs,
        },
        "call_records": [v.to_dict() for v in values if v.category in CALL_RECORDS],
        "consents": {"state": consent_state, "events": consent_events},
        "restrictions": limited,
        "disclosures": disclosed,
        "access_log": access_log(ctx, subject_id),
    }


def _disclosures(ctx: Context, subject_id: str) -> list[dict[str, Any]]:
    try:
        from troth.disclosures import DisclosureService
    except ImportError:  # disclosures not installed in this build
        return []
    return DisclosureService(ctx).disclosures_of(subject_id)


def access_log(ctx: Context, subject_id: str) -> list[dict[str, Any]]:
    """Who touched this person's data, when, for what and with what outcome (P17, P23);
    what a live non-disclosure order covers is left out until it ends (P20)."""
    from troth.disclosures.gags import gags_now

    gags = gags_now(ctx)
    out: list[dict[str, Any]] = []
    after: int | None = None
    while True:
        page = list_entries(ctx, subject_id=subject_id, limit=_AUDIT_PAGE, after_seq=after)
        for e in page:
            if gags.hides_entry(e):
                continue
            d = e.to_dict()
            out.append(
                {
                    k: d[k]
                    for k in (
                        "seq",
                        "at",
                        "actor",
                        "action",
                        "outcome",
                        "purpose",
                        "categories",
                        "reason",
                    )
                }
            )
        if len(page) < _AUDIT_PAGE:
            return out
        after = page[-1].seq


def tenant_holdings(ctx: Context, tenant_id: str) -> dict[str, Any]:
    """A tenant's complete data (P29): the tenant, each of its people and their values,
    read in one pass over the tenant's records (keys unwrapped once per subject)."""
    from troth.errors import NotFound

    with ctx.engine.connect() as conn:
        t = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
        if t is None:
            raise NotFound(f"no tenant {tenant_id!r}", code="unknown_tenant")
        people: dict[str, dict[str, Any]] = {}
        for s in conn.execute(
            select(subjects).where(subjects.c.tenant_id == tenant_id).order_by(subjects.c.id)
        ).mappings():
            people[s["id"]] = {
                "subject": _row(s, drop=("email_bidx", "phone_bidx", "customer_id_bidx")),
                "categories": {},
            }
        stmt = (
            select(
                records,
                subject_keys.c.kek_version,
                subject_keys.c.wrapped,
            )
            .select_from(
                records.outerjoin(
                    subject_keys,
                    and_(
                        subject_keys.c.subject_id == records.c.subject_id,
                        subject_keys.c.version == records.c.key_version,
                    ),
                )
            )
            .where(records.c.tenant_id == tenant_id)
            .order_by(records.c.subject_id, records.c.id)
        )
        deks: dict[tuple[str, int], bytes] = {}
        for r in conn.execution_options(yield_per=2000).execute(stmt):
            value = _plain(ctx, r, deks)
            if value is _SHREDDED or r.subject_id not in people:
                continue
            info = ctx.policy.categories.get(r.category)
            section = people[r.subject_id]["categories"].setdefault(
                r.category,
                {"description": info.description if info else r.category, "values": []},
            )
            section["values"].append(
                {
                    "field": r.field,
                    "category": r.category,
                    "value": shown(ctx.policy, r.collection_point, r.field, value),
                    "collection_point": r.collection_point,
                    "purposes": list(r.purposes or ()),
                    "source": r.source,
                    "collected_at": _iso(r.collected_at),
                    "restricted_to": r.restricted_to,
                    "restricted_until": _iso(r.restricted_until),
                }
            )
    return {"tenant": _row(t), "subjects": list(people.values())}


_SHREDDED = object()


def _plain(ctx: Context, r: Any, deks: dict[tuple[str, int], bytes]) -> Any:
    import json

    if r.ciphertext is None:
        return json.loads(r.value) if r.value is not None else None
    if r.wrapped is None:
        return _SHREDDED
    key = (r.subject_id, r.key_version)
    if key not in deks:
        deks[key] = unwrap_key(
            ctx.keys.kek(r.kek_version), r.kek_version, r.subject_id, r.key_version, r.wrapped
        )
    return json.loads(decrypt_value(deks[key], r.subject_id, r.field, r.key_version, r.ciphertext))
