"""A request as a reader sees it. A correction's new values (``details["changes"]``:
field -> new value) are the person's data of the field's category, so each is read
through the gate as the value it replaces would be, never whole to whoever may see the
request (a customer's desk key with ``requests:admin`` alone, the office whose role reads
identity and contact only):

- a field the person holds in troth: shown only if every value of it they hold may be read
  by the reader for some purpose that declares its category (:func:`troth.gate.decide`,
  the value's binding :func:`troth.gate.binding.value_reason`), and then as the reader
  reads that value (:func:`troth.gate.masks.shown_to`: a card's last four digits);
- a field they do not hold (a connected dataset's, or no person matched): decided on each
  category the policy declares for a field of that name, for the purposes declaring it;
  a field of no declared category is troth's and the person's alone.

What is withheld leaves ``changes`` and is named in ``details["withheld"]`` (field ->
reason code); the withholding is audited (``request.read``, outcome deny, under the
person and their tenant), once per request read. Troth itself and the person read their
own request whole. The request as stored is unchanged: the correction is carried out with
its values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from troth.audit.log import append_entry, transaction
from troth.audit.refusals import denial
from troth.context import Context
from troth.errors import NotFound
from troth.gate import Actor, ActorKind, Ask, Facts, Operation, Reason, decide
from troth.gate import facts as facts_mod
from troth.gate.binding import value_reason
from troth.gate.decision import REFUSAL_PRECEDENCE
from troth.gate.masks import as_held, reachable_categories, shown_to
from troth.gate.members import MEMBERS
from troth.policy.index import PolicyIndex
from troth.requests.record import LEFT_TO, RequestRecord
from troth.store.seals import RecordTampered
from troth.store.subjects import get_subject
from troth.store.values import StoredValue, read_values

_RANK = {r: i for i, r in enumerate(REFUSAL_PRECEDENCE)}


def request_shown(ctx: Context, req: RequestRecord, actor: Actor) -> RequestRecord:
    """``req`` as ``actor`` may read it (see the module); the withholding audited."""
    changes = req.details.get("changes")
    if not isinstance(changes, Mapping) or not changes or _reads_whole(actor, req):
        return req
    shown, withheld = sort_changes(ctx, req, actor, changes)
    if not withheld:
        return replace(req, details={**req.details, "changes": shown})
    first = min(withheld.values(), key=lambda r: (_RANK.get(r, len(_RANK)), r.value))
    why = {f: r.value for f, r in sorted(withheld.items())}
    with transaction(ctx) as conn:
        append_entry(
            conn,
            ctx.clock.now(),
            denial(
                "request.read",
                actor,
                first,
                subject_id=req.subject_id,
                tenant_id=req.tenant_id,
                details={"request": req.id, "withheld": why},
            ),
        )
    return replace(req, details={**req.details, "changes": shown, "withheld": why})


def _reads_whole(actor: Actor, req: RequestRecord) -> bool:
    """Troth itself, and the person on their own request."""
    if actor.kind is ActorKind.system:
        return True
    return (
        actor.kind is ActorKind.subject
        and req.subject_id is not None
        and (actor.id == req.subject_id)
    )


def sort_changes(
    ctx: Context, req: RequestRecord, actor: Actor, changes: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Reason]]:
    """The changes ``actor`` may read (as they read them), and why each other is not."""
    idx = ctx.policy
    now = ctx.clock.now()
    held: list[StoredValue] = []
    facts = Facts(subject_tenant=req.tenant_id)
    # A desk request left to a customer (troth.requests.elsewhere) is about the record it
    # named: its values are read as that person's.
    named = req.details.get(LEFT_TO)
    sid = req.subject_id or (named if isinstance(named, str) else None)
    with ctx.engine.connect() as conn:
        if sid is not None:
            try:
                subject = get_subject(conn, sid, ctx.keys)
                facts = facts_mod.gather(conn, ctx, actor, subject)
                held = read_values(conn, ctx, subject.id)
            except NotFound:
                pass
            except RecordTampered:
                return {}, dict.fromkeys(changes, Reason.record_tampered)
    reader = as_held(actor, facts)
    shown: dict[str, Any] = {}
    withheld: dict[str, Reason] = {}
    for name, new in changes.items():
        mine = [replace(v, value=new) for v in held if v.field == name]
        values = mine or _declared(idx, name, new, now)
        why = _first(idx, reader, facts, now, values, stored=bool(mine))
        if why is not None:
            withheld[name] = why
            continue
        read = [v.value for v in shown_to(idx, reader, values)]
        shown[name] = next((x for x in read if x != new), new)  # masked if any read masks it
    return shown, withheld


def _declared(idx: PolicyIndex, name: str, new: Any, now: datetime) -> list[StoredValue]:
    """The new value as each collection point declaring a field ``name`` would hold it
    (its category and mask), for a field the person does not hold."""
    return [
        StoredValue(
            id=0,
            field=name,
            category=fields[name].category,
            value=new,
            collection_point=point,
            purposes=(),
            source="subject",
            supplier=None,
            policy_version="",
            location="",
            collected_at=now,
            restricted_to=None,
            restricted_until=None,
        )
        for point, fields in sorted(idx.point_fields.items())
        if name in fields
    ]


def _first(
    idx: PolicyIndex,
    actor: Actor,
    facts: Facts,
    now: datetime,
    values: list[StoredValue],
    *,
    stored: bool,
) -> Reason | None:
    """None when ``actor`` may read every one of ``values``; else the most telling reason
    one of them is withheld for. None of them (a field of no declared category): only
    troth and the person read it (``purpose_not_declared_for_category``)."""
    if not values:
        return Reason.purpose_not_declared_for_category
    reasons = [_why(idx, actor, facts, now, v, stored=stored) for v in values]
    refused = [r for r in reasons if r is not None]
    if not refused:
        return None
    return min(refused, key=lambda r: (_RANK.get(r, len(_RANK)), r.value))


def _why(
    idx: PolicyIndex, actor: Actor, facts: Facts, now: datetime, v: StoredValue, *, stored: bool
) -> Reason | None:
    """None when some purpose declaring ``v``'s category (and, for a value held, one it is
    bound to) lets ``actor`` read it; else the most telling reason over those purposes."""
    purposes = sorted(p for p, cats in idx.purpose_categories.items() if v.category in cats)
    if stored and v.purposes:
        purposes = [p for p in purposes if p in v.purposes]
    reasons: list[Reason] = []
    near: list[Reason] = []  # those of purposes the actor's role or scopes reach
    for purpose in purposes:
        d = decide(idx, Ask(actor, Operation.use, purpose, (v.category,), now), facts)
        if d.allowed and v.category in d.categories:
            why = value_reason(idx, v, purpose, now, facts) if stored else None
            if why is None:
                return None
        else:
            why = d.masked.get(v.category) or d.reason or Reason.role_not_allowed
        reasons.append(why)
        if _reaches(idx, actor, purpose, v.category):
            near.append(why)
    if not reasons:
        return Reason.purpose_not_declared_for_category
    return min(near or reasons, key=lambda r: (_RANK.get(r, len(_RANK)), r.value))


def _reaches(idx: PolicyIndex, actor: Actor, purpose: str, category: str) -> bool:
    """Could ``actor`` ever read ``category`` for ``purpose`` (their role's purposes and
    categories, a key's scopes)? Its refusal there says best why a value is withheld (a
    grant lacking, rather than a purpose their role never serves)."""
    role = actor.role if actor.kind is ActorKind.staff or actor.kind in MEMBERS else None
    if role is not None and purpose not in idx.role_purposes.get(role, frozenset()):
        return False
    return category in reachable_categories(idx, actor, purpose)
