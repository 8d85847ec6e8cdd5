"""Everything troth holds about a person (or a tenant), as plain JSON-able data: values by
category with their tags, consents, communications, account history, disclosures, who
accessed the data and why. Connected datasets are added by the caller.

Each reader opens its own connection and closes it before the next (SQLite takes the write
lock on every transaction: never nest them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, select

from troth.access.who import Acting, acting_in, told_who, who_acted
from troth.audit.entries import list_entries
from troth.context import Context
from troth.gate.exports import ExportScope
from troth.policy.masking import (
    entry_for_the_person,
    for_the_person,
    shown,
    withheld_from_access,
)
from troth.store.crypto import decrypt_value, unwrap_key
from troth.store.seals import SEAL_COLUMNS, check_row, seal_key
from troth.store.subjects import SUBJECT_COLUMNS, no_such_subject
from troth.store.tables import records, restrictions, subject_keys, subjects, tenants
from troth.store.values import StoredValue, read_subjects

# Sections of the export that gather categories the promises name (P23, P31, P32).
COMMUNICATIONS = frozenset({"communications", "support"})
ACCOUNT_HISTORY = frozenset({"account_history", "purchases"})
CALL_RECORDS = frozenset({"call_records", "destination_numbers"})
_AUDIT_PAGE = 5000
_CHUNK = 500


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
        # The person's own copy: a field that declares a mask (a card number) is masked,
        # unless it says `person_copy: whole` (their own SIN: GDPR Art. 15(3)).
        value = for_the_person(ctx.policy, v.collection_point, v.field, v.value)
        section["values"].append({**v.to_dict(), "value": value})
    return out


def _rows_of(
    conn: Connection, name: str, column: str, values: list[str], drop: Iterable[str] = ()
) -> dict[str, list[dict[str, Any]]]:
    """The rows of table ``name`` whose ``column`` holds one of ``values``, by that value,
    in id (or primary-key) order; a statement per 500 values."""
    from troth.db import metadata

    table = metadata.tables.get(name)
    out: dict[str, list[dict[str, Any]]] = {v: [] for v in values}
    if table is None:
        return out
    order = [table.c.id] if "id" in table.c else list(table.primary_key.columns)
    for start in range(0, len(values), _CHUNK):
        stmt = select(table).where(table.c[column].in_(values[start : start + _CHUNK]))
        for m in conn.execute(stmt.order_by(*order)).mappings():
            out[m[column]].append(_row(m, drop))
    return out


def _messages_of(conn: Connection, ctx: Context, subject_ids: list[str]) -> dict[str, list[Any]]:
    """The mail troth queued for each person, as sent (read through
    troth.notices.sealed.read_mail), without its headers (an unsubscribe link) and
    idempotency key; a message changed outside troth as its id and ``tampered`` only
    (its address, person and words are not trusted)."""
    from troth.notices.sealed import read_mail
    from troth.notices.tables import outbox

    out: dict[str, list[Any]] = {sid: [] for sid in subject_ids}
    for start in range(0, len(subject_ids), _CHUNK):
        chunk = subject_ids[start : start + _CHUNK]
        stmt = select(outbox).where(outbox.c.subject_id.in_(chunk)).order_by(outbox.c.id)
        for m in conn.execute(stmt).mappings():
            mail = read_mail(ctx.keys, m)
            if mail["tampered"]:
                out[m["subject_id"]].append({"id": m["id"], "tampered": True})
                continue
            out[m["subject_id"]].append(_row(mail, ("headers", "idempotency_key", "tampered")))
    return out


def _requests_of(conn: Connection, subject_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each person's requests, oldest first, each with its events."""
    from troth.requests.tables import requests

    r = requests.c
    out: dict[str, list[dict[str, Any]]] = {sid: [] for sid in subject_ids}
    found: list[dict[str, Any]] = []
    for start in range(0, len(subject_ids), _CHUNK):
        stmt = (
            select(r.id, r.kind, r.state, r.channel, r.received_at, r.due_at, r.closed_at)
            .add_columns(r.subject_id)
            .where(r.subject_id.in_(subject_ids[start : start + _CHUNK]))
            .order_by(r.received_at, r.id)
        )
        for m in conn.execute(stmt).mappings():
            item = _row(m, drop=("subject_id",))
            out[m["subject_id"]].append(item)
            found.append(item)
    events = _rows_of(conn, "request_events", "request_id", [i["id"] for i in found])
    for item in found:
        item["events"] = [
            {k: v for k, v in e.items() if k not in ("id", "request_id")}
            for e in events[item["id"]]
        ]
    return out


def subject_holdings(ctx: Context, subject_id: str) -> dict[str, Any]:
    """Everything about one person in troth's own database (NotFound for no such person)."""
    found = subject_holdings_many(ctx, [subject_id])
    if subject_id not in found:
        raise no_such_subject(subject_id)
    return found[subject_id]


def subject_holdings_many(ctx: Context, subject_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """:func:`subject_holdings` for many people (bulk exports): one statement per table
    and 500 people. People that do not exist are absent."""
    return {sid: body for sid, (body, _) in holdings_with_values(ctx, subject_ids).items()}


def holdings_with_values(
    ctx: Context, subject_ids: Iterable[str]
) -> dict[str, tuple[dict[str, Any], list[StoredValue]]]:
    """:func:`subject_holdings_many` with each person's values as read (what their
    identities in connected datasets come from): one statement per table and 500 people,
    values decrypted with each person's keys unwrapped once. The access log stays a read
    per person (its pages, and the gags live at the time). People that do not exist are
    absent."""
    ids = list(dict.fromkeys(subject_ids))
    with ctx.engine.connect() as conn:
        people = read_subjects(conn, ctx, ids)
        ids = [sid for sid in ids if sid in people]
        consent_events = _rows_of(conn, "consent_events", "subject_id", ids)
        consent_state = _rows_of(conn, "consent_state", "subject_id", ids)
        messages = _messages_of(conn, ctx, ids)
        limited = _rows_of(conn, restrictions.name, "subject_id", ids)
        reqs = _requests_of(conn, ids)
    disclosed = _disclosures(ctx, ids)
    acting = acting_in(ctx)
    out: dict[str, tuple[dict[str, Any], list[StoredValue]]] = {}
    for sid in ids:
        subj, every = people[sid]
        # What the policy withholds from a person's access (it would reveal others) is
        # left out, and said so with its reason; the connected identities use every value.
        values, withheld = withheld_from_access(ctx.policy, every)
        body = {
            "subject": {
                "id": subj.id,
                "tenant_id": subj.tenant_id,
                "kind": subj.kind,
                "jurisdiction": subj.jurisdiction,
                "status": subj.status,
                "created_at": _iso(subj.created_at),
                "relationship_ended_at": _iso(subj.relationship_ended_at),
            },
            "categories": _categories(ctx, values),
            "communications": {
                "records": [v.to_dict() for v in values if v.category in COMMUNICATIONS],
                "messages": messages[sid],
            },
            "account_history": {
                "records": [v.to_dict() for v in values if v.category in ACCOUNT_HISTORY],
                # Who moved each request on, in the person's words: never a staff label.
                "requests": [
                    {**r, "events": [told_who(e, sid, ctx.policy, acting) for e in r["events"]]}
                    for r in reqs[sid]
                ],
            },
            "call_records": [v.to_dict() for v in values if v.category in CALL_RECORDS],
            "consents": {"state": consent_state[sid], "events": consent_events[sid]},
            "restrictions": limited[sid],
            "disclosures": disclosed.get(sid, []),
        }
        body["access_log"], recorders = _access_log(ctx, sid, acting)
        for event in consent_events[sid]:
            # Who recorded each consent event, in the words of the log ("You", "Lakeshore
            # Clinic's systems"): a grant someone else recorded is never told as the
            # person's own (None: no entry of its own, an import summed up).
            event["recorded_by"] = recorders.get(event["id"])
        if withheld:
            body["withheld"] = withheld
        out[sid] = (body, every)
    return out


def _disclosures(ctx: Context, subject_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each person's disclosures as they read them: a legal demand's reference, free text
    that may name someone, left out (:func:`troth.disclosures.told.for_the_person`)."""
    try:
        from troth.disclosures.told import person_disclosures
    except ImportError:  # disclosures not installed in this build
        return {}
    return person_disclosures(ctx, subject_ids)


def access_log(ctx: Context, subject_id: str) -> list[dict[str, Any]]:
    """Who touched this person's data, when, for what and with what outcome (P17, P23);
    what a live non-disclosure order covers is left out until it ends (P20), and what the
    policy withholds from their access (Art. 15(4)) is left out for good. ``who`` says the
    actor in the person's words, as the privacy centre does (:mod:`troth.access.who`):
    our staff or systems, or a customer's, by its name; never the actor's label (a
    moderator's name or address is not the person's to read: trial #19 F6)."""
    return _access_log(ctx, subject_id, acting_in(ctx))[0]


def _access_log(
    ctx: Context, subject_id: str, acting: Callable[[str], Acting]
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """:func:`access_log`, and who recorded each consent event of the log (its id ->
    ``who``)."""
    from troth.disclosures.gags import gags_now

    gags = gags_now(ctx)
    out: list[dict[str, Any]] = []
    recorders: dict[int, str] = {}
    after: int | None = None
    while True:
        page = list_entries(ctx, subject_id=subject_id, limit=_AUDIT_PAGE, after_seq=after)
        for logged in page:
            e = None if gags.hides_entry(logged) else entry_for_the_person(ctx.policy, logged)
            if e is None:
                continue
            d = e.to_dict()
            d["who"] = who_acted(e.entry.actor, subject_id, ctx.policy, acting)
            event_id = (e.entry.details or {}).get("event_id")
            if e.entry.action.startswith("consent.") and isinstance(event_id, int):
                recorders[event_id] = d["who"]
            out.append(
                {
                    k: d[k]
                    for k in (
                        "seq",
                        "at",
                        "who",
                        "action",
                        "outcome",
                        "purpose",
                        "categories",
                        "reason",
                    )
                }
            )
        if len(page) < _AUDIT_PAGE:
            return out, recorders
        after = page[-1].seq


def tenant_holdings(
    ctx: Context, tenant_id: str, scope: ExportScope | None = None, *, whole: bool = False
) -> dict[str, Any]:
    """A tenant's data (P29): the tenant, each of its people and their values, read in
    one pass over the tenant's records (keys unwrapped once per subject); with ``scope``,
    only the values it keeps (:mod:`troth.gate.exports`), the others never decrypted.
    Values are shown as the policy masks them (a card: its last four digits), or, with
    ``whole``, as stored: the data handed back to a customer that is their controller
    when it leaves (GDPR Art. 28(3)(g)), which must be the data itself."""
    from troth.errors import NotFound

    with ctx.engine.connect() as conn:
        t = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
        if t is None:
            raise NotFound(f"no tenant {tenant_id!r}", code="unknown_tenant")
        people: dict[str, dict[str, Any]] = {}
        for s in conn.execute(
            select(*_PERSON).where(subjects.c.tenant_id == tenant_id).order_by(subjects.c.id)
        ).mappings():
            people[s["id"]] = {"subject": _row(s), "categories": {}}
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
        key = seal_key(ctx.keys)
        for r in conn.execution_options(yield_per=2000).execute(stmt):
            # A row changed outside troth refuses the whole export (nothing half shown).
            check_row(key, r.id, tuple(getattr(r, c.name) for c in SEAL_COLUMNS), r.seal)
            if scope is not None and not scope.keeps(r.category, r.purposes or ()):
                continue
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
                    "value": value
                    if whole
                    else shown(ctx.policy, r.collection_point, r.field, value),
                    "collection_point": r.collection_point,
                    "purposes": list(r.purposes or ()),
                    "source": r.source,
                    "collected_at": _iso(r.collected_at),
                    "restricted_to": r.restricted_to,
                    "restricted_until": _iso(r.restricted_until),
                }
            )
    return {"tenant": _tenant(t), "subjects": list(people.values())}


# What an export says of a person and of a customer: never a seal, a blind index or a
# hold's reason (the vendor's), only what the reader can use.
_PERSON = tuple(c for c in SUBJECT_COLUMNS if c is not subjects.c.legal_hold)


def _tenant(row: Any) -> dict[str, Any]:
    """The customer as its export names it: id, name, primary address, since when."""
    return {
        "id": row["id"],
        "name": row["name"],
        "contact": row["primary_email"],
        "created_at": _iso(row["created_at"]),
    }


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
    plain = decrypt_value(
        deks[key],
        r.subject_id,
        r.field,
        r.key_version,
        r.ciphertext,
        category=r.category,
        point=r.collection_point,
    )
    return json.loads(plain)
