"""A request to the organisation's own desk (no tenant) and the customers (tenants) who hold
the same e-mail address: the records it did not cover and, where the customers decide
about their people (``tenant_controller: customer``, :mod:`troth.policy.parties`) and the
organisation holds nothing of the person's own, the customers it leaves them to.

A processor helps its controllers answer their people (GDPR Art. 28(3)(e)); it does not
answer for them. So a person who writes to the organisation about data it holds only for
customers gets the organisation's own answer (nothing held of its own), naming those
customers as the ones who decide; nothing of their records is touched (troth's store, and
the connected datasets, which cannot tell whose a row is, are not walked for that
address); and each customer concerned is told once, at its primary address: a request of
that kind reached the organisation about one of its people, when, the request's reference
and the person's id among its people (what its admin looks up), never the address or
anything the person wrote; audited ``request.customer_told`` under the customer. An
offboarded customer (or one being offboarded) is closed: neither named nor told.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from troth.access.offboarded import closed_refusal
from troth.access.signin import Held, held_under
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entry
from troth.context import Context
from troth.errors import NotFound
from troth.policy.parties import customers_control
from troth.requests.own_part import customers_part
from troth.requests.record import LEFT_TO, RECEIVED_BY, RequestRecord

# The done letter's line when the same address is on file for customers of the organisation.
_ALSO = (
    "The same e-mail address is also on file with {} (customers of ours, who decide about"
    " their own records): this request covered only what we hold for ourselves. Ask them,"
    " or our privacy office, to act on those records too."
)
# ... and the organisation holds nothing of the person's own, or only what it keeps for its
# own purposes in the customers' records: the customers decide about the rest.
_OWN_TOO = (
    "Apart from what we hold for our own purposes (above), we hold no record of you for"
    " ourselves. Your e-mail address is on file with {names}, {whose}: we keep {those} for"
    " them, and they decide about {it}. This request did not cover {it}."
)
_LEFT = (
    "We hold no record of you for ourselves. Your e-mail address is on file with {names},"
    " {whose}: we keep {those} for them, and they decide about {it}. This request did not"
    " cover {it}."
)


@dataclass(frozen=True)
class Elsewhere:
    """The open customers' live records of a desk request's address (not its own person's),
    and whether the request is left to the customers (it reached nothing of the
    organisation's, and a customer, open or offboarded, holds the address)."""

    held: builtins.list[Held]
    left: bool


def at_desk(conn: Connection, ctx: Context, asked: Any, who: Any) -> tuple[Any, dict[str, str]]:
    """A request to the organisation's own desk (no tenant named, not the person's own
    privacy centre) that reached ``who``, a customer's person: by an address where the
    organisation decides (the customers' people are never looked among where they
    decide), or by the subject id ``asked`` names. Where the organisation decides it stays
    theirs, its letters the organisation's (:data:`RECEIVED_BY`). Where the customers
    decide it is the e-mail path's: the organisation's own request, bound to its own
    record of the address if it holds one (else to no one), the named record kept as
    troth's mark (:data:`LEFT_TO`) for its customer to be told."""
    if asked.subject_id is None or not customers_control(ctx.policy.policy):
        return who, {RECEIVED_BY: "organisation"}
    own = None
    if who.email is not None:
        from troth.requests.states import RequestKind
        from troth.store.subjects import find_subject_id

        keeps = asked.kind in (RequestKind.access, RequestKind.portability)
        own = find_subject_id(
            conn, ctx, email=who.email, own_only=True, erased_too=keeps, oldest=True
        )
    return replace(who, subject_id=own, tenant_id=None), {LEFT_TO: str(who.subject_id)}


def elsewhere(conn: Connection, ctx: Context, req: RequestRecord) -> Elsewhere | None:
    """What customers hold of ``req``'s address (and the customer's record it named by id,
    :data:`LEFT_TO`), for a request to the organisation's own desk; None for any other
    request (one a customer made never learns of another's people) or when no customer
    holds it (or only an offboarded one, and the request is not left to the customers)."""
    named = _named(conn, ctx, req)
    if req.tenant_id is not None or (req.email is None and named is None):
        return None
    theirs: builtins.list[Held] = []
    if req.email is not None:
        address = ctx.keys.blind_index("email", req.email)
        theirs = [
            h
            for h in held_under(conn, ctx.keys, address)
            if h.tenant_id is not None and h.subject_id != req.subject_id
        ]
    if named is not None and all(h.subject_id != named.subject_id for h in theirs):
        theirs.insert(0, named)
    if not theirs:
        return None
    # An offboarded customer's record (kept under a legal hold) is still not ours to walk,
    # but the customer is closed: neither named nor told. Nor is a record that holds only
    # what the organisation keeps for its own purposes: that is its own to answer for
    # (troth.requests.own_part), never the customer's to decide about.
    held = [
        h
        for h in theirs
        if closed_refusal(conn, str(h.tenant_id)) is None
        and customers_part(conn, ctx, h.subject_id)
    ]
    left = (
        req.subject_id is None
        and customers_control(ctx.policy.policy)
        and (req.email is None or not _own_record(conn, ctx, req.email))
    )
    return Elsewhere(held, left) if held or left else None


def _named(conn: Connection, ctx: Context, req: RequestRecord) -> Held | None:
    """The customer's live record a desk request named by id (:data:`LEFT_TO`), or None."""
    from troth.access.mail import tenant_contact
    from troth.store.subjects import get_subject

    sid = req.details.get(LEFT_TO)
    if req.tenant_id is not None or not isinstance(sid, str):
        return None
    try:
        subject = get_subject(conn, sid, ctx.keys)
    except NotFound:
        return None
    if subject.tenant_id is None or subject.erased_at is not None:
        return None
    name, _ = tenant_contact(conn, ctx, subject.tenant_id)
    return Held(subject.id, name, subject.tenant_id)


def _own_record(conn: Connection, ctx: Context, email: str) -> bool:
    """Whether the organisation holds a record of its own for ``email`` (erased ones
    whose kept values still carry it included)."""
    from troth.store.subjects import find_subject_id

    found = find_subject_id(conn, ctx, email=email, own_only=True, erased_too=True, oldest=True)
    return found is not None


def left_to_customers(ctx: Context, req: RequestRecord) -> bool:
    """Whether ``req`` is left to the customers who hold its address: then the connected
    datasets are not walked for it (a row there may be theirs)."""
    if req.tenant_id is not None or req.subject_id is not None:
        return False
    if req.email is None and LEFT_TO not in req.details:
        return False
    with ctx.engine.connect() as conn:
        found = elsewhere(conn, ctx, req)
    return found is not None and found.left


def note_elsewhere(
    conn: Connection,
    ctx: Context,
    req: RequestRecord,
    result: dict[str, Any],
    summary: builtins.list[str],
) -> tuple[dict[str, Any], builtins.list[str]]:
    """``result`` and the done letter's ``summary`` with the customers' records of the
    request's address that it did not cover (``also_on_file``, for the office; a line for
    the person, naming the customers); when the request is left to them, each is told
    (``customers_told``: their names), in the caller's transaction."""
    found = elsewhere(conn, ctx, req)
    if found is None or not found.held:
        return result, summary
    listed = [{"subject_id": h.subject_id, "held_for": h.holder} for h in found.held]
    names = ", ".join(str(h.holder) for h in found.held)
    if not found.left:
        return {**result, "also_on_file": listed}, [*summary, _ALSO.format(names)]
    records = (result.get("own_purposes") or {}).get("records") or []
    ours = {str(r["subject_id"]) for r in records}
    own = bool(ours)
    told = tell_customers(conn, ctx, req, found.held, ours=ours)
    one = len(found.held) == 1
    line = (_OWN_TOO if own else _LEFT).format(
        names=names,
        whose="a customer of ours" if one else "customers of ours",
        those="that record" if one else "those records",
        it="it" if one else "them",
    )
    if told:
        line += f" We have told {', '.join(told)} that you asked; you may also ask them directly."
    else:
        line += " Ask them directly."
    return {**result, "also_on_file": listed, "customers_told": told}, [*summary, line]


def tell_customers(
    conn: Connection,
    ctx: Context,
    req: RequestRecord,
    held: builtins.list[Held],
    *,
    ours: set[str] | frozenset[str] = frozenset(),
) -> builtins.list[str]:
    """Mail each customer of ``held`` (its primary address; a customer whose row was changed
    outside troth is not mailed, audited) that ``req`` reached the organisation about one
    of its people, once; audited under the customer. Returns the names of those told.
    ``ours``: the records of which the request answered for what the organisation holds
    for its own purposes (the mail says so: that part is not the customer's)."""
    from troth.access.mail import tenant_contact
    from troth.notices.outbox import MailKind, enqueue

    told: builtins.list[str] = []
    for h in held:
        if h.tenant_id is None:
            continue
        name, primary = tenant_contact(conn, ctx, h.tenant_id)
        if not primary:
            continue
        own = h.subject_id in ours
        subject, body = customer_mail(ctx, req, name, h.subject_id, own=own)
        enqueue(
            conn,
            ctx,
            idempotency_key=f"customer-told:{req.id}:{h.tenant_id}",
            to_addr=primary,
            subject=subject,
            body_text=body,
            kind=MailKind.transactional,
        )
        entry = AuditEntry(
            action="request.customer_told",
            actor="system",
            tenant_id=h.tenant_id,
            subject_id=h.subject_id,
            details={"request_id": req.id, "kind": req.kind.value},
        )
        append_entry(conn, ctx.clock.now(), entry)
        told.append(name)
    return told


def customer_mail(
    ctx: Context, req: RequestRecord, customer: str, subject_id: str, *, own: bool = False
) -> tuple[str, str]:
    """(subject, body) of the mail telling ``customer`` of ``req``: the kind, the day, the
    reference and the person's id among its people, nothing more of the person. ``own``:
    the organisation answered for what it holds for its own purposes, as their controller
    (said without naming what)."""
    from troth.requests.kinds import handler_for

    org = ctx.policy.policy.organisation.name
    noun = handler_for(req.kind).noun
    acted = (
        ", except what we hold in it for our own purposes, of which we are the controller"
        " (not you): the request covered only that part. We told the person that the rest"
        " is yours"
        if own
        else ": we did not act on it, and we told the person that it is yours"
    )
    body = (
        f"{org} received a request ({noun}) on {req.received_on.isoformat()} from a person"
        f" whose e-mail address is on file with {customer}, as one of your people. We keep"
        f" that record for you and you decide about it{acted} and that they may ask"
        " you.\n\n"
        f"Their record among your people: {subject_id} (look it up with your API key,"
        f" `GET /api/v1/subjects/{subject_id}`, or in your data export)\n"
        f"Reference of the request at {org}: {req.id}\n\n"
        "If you want us to help you answer it, ask our privacy office, quoting the"
        f" reference.\n{org}\n"
    )
    return f"A request about one of your people reached {org}", body
