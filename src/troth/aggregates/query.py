"""Aggregate-only use (P09): counts, sums and averages for a purpose the policy marks
aggregate-only, in total or per value of one dimension the policy declares for it, with
groups of fewer than k people left out, labels and all (and enough others that none can be
recovered by subtraction: :func:`troth.aggregates.suppress`); what was left out is
published only as one "other" figure, and only where the total is published anyway.

The gate decides for the actor first (role, scopes, tenant binding), then for each person
(consent, restriction, erasure): only the people it allows are counted. A tenant-bound
actor counts only its own tenant's people. The GROUP BY runs in the database over the
stored JSON text of each value, per group and person; fields of one submission (same
person, collection point and time) are grouped together.

One dimension at most: the margins of a two-way table are one-way tables that a second
query would publish without the two-way table's complementary suppression. Counts are
people per value of the dimension whatever ``field`` is measured, so two queries that
differ only in the field give the same counts and the same mask.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, and_, case, cast, func, literal, select

from troth.aggregates.question import MEASURES, Question, check, dimensions
from troth.aggregates.suppression import suppress
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import refuse
from troth.consent.state import backed
from troth.consent.tables import consent_state
from troth.context import Context
from troth.dialects import dialect_for
from troth.gate import SYSTEM, Actor, Ask, Operation, decide
from troth.gate.facts import (
    actor_membership,
    aggregate_facts,
    credential_tampered,
    notices_of,
)
from troth.store.tables import records, restrictions, subjects


@dataclass(frozen=True)
class AggregateResult:
    """Published values per group: a suppressed group is absent, label and all. ``count``
    is people per group; ``other`` is what the absent groups hold together (None when
    nothing is absent or the total is withheld)."""

    purpose: str
    category: str
    field: str
    group_by: tuple[str, ...]
    measure: str
    k: int
    cells: Mapping[tuple[Hashable, ...], float | int]
    total: float | int | None
    other: float | int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "category": self.category,
            "field": self.field,
            "group_by": list(self.group_by),
            "measure": self.measure,
            "k": self.k,
            "groups": [{"group": list(k), "value": v} for k, v in self.cells.items()],
            "other": self.other,
            "total": self.total,
        }


Key = tuple[Hashable, ...]
Num = float | int


@dataclass
class _Group:
    people: int = 0
    contributors: int = 0  # people with a numeric value of the measured field
    total: float = 0.0
    values: int = 0

    def add(self, people: int, contributors: int, total: float, values: int) -> None:
        self.people += people
        self.contributors += contributors
        self.total += total
        self.values += values


def _audit(
    ctx: Context, actor: Actor, purpose: str, cats: tuple[str, ...], details: dict[str, Any]
) -> None:
    """The entry of an aggregate given (a refusal is audited by :func:`refuse`): what was
    asked, and how much was left out."""
    entry = AuditEntry(
        "aggregate",
        actor.label,
        Outcome.allow,
        tenant_id=actor.tenant_id,
        purpose=purpose,
        categories=cats,
        details=details,
    )
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [entry])


def aggregate(
    ctx: Context,
    purpose: str,
    category: str,
    field: str,
    group_by: Sequence[str] | str | None = (),
    measure: str = "count",
    actor: Actor = SYSTEM,
    k: int | None = None,
) -> AggregateResult:
    """People (``count``), or the ``sum``/``avg`` of ``field`` (of ``category``), for an
    aggregate-only ``purpose``, in total or per value of one declared dimension
    (``group_by``: a list of one, a string, or empty or None for the total); people are
    counted once, each in the group of their latest value; ``k`` defaults to the
    policy's ``min_group_size`` and may only be raised. Audited; refusals raise Refused."""
    idx = ctx.policy
    now = ctx.clock.now()
    group_by = dimensions(group_by)
    q = Question(purpose, category, field, group_by, measure)
    k, cats, group_cats = check(ctx, q, k)
    asked = {"field": field, "group_by": list(group_by), "measure": measure}
    tenant = actor.tenant_id
    member_active, role, tampered = False, None, False
    if tenant is not None:
        with ctx.engine.connect() as conn:
            member_active, _, role = actor_membership(conn, ctx, actor, tenant)
            tampered = credential_tampered(conn, ctx, actor, member_active)
    # The actor first (role, scopes, tenant binding), as if every person consented.
    ask = Ask(actor, Operation.aggregate, purpose, cats, now)
    decision = decide(
        idx,
        ask,
        aggregate_facts(
            tenant,
            member_active,
            consented=frozenset({purpose}),
            member_role=role,
            member_tampered=tampered,
        ),
    )
    if not decision.allowed or decision.masked:
        reason = decision.reason or next(iter(decision.masked.values()))
        refuse(
            ctx,
            "aggregate",
            actor,
            reason,
            decision.detail or f"may not aggregate {', '.join(cats)}",
            tenant_id=actor.tenant_id,
            purpose=purpose,
            categories=cats,
            details=asked,
        )

    verdicts = _verdicts(ctx, ask, tenant, member_active, role)
    groups: dict[Key, _Group] = {}
    not_counted: dict[str, int] = {}
    for key, kind, people, holders, total_, values in _counts(ctx, q, group_cats, tenant):
        why = verdicts[kind]
        if why is not None:
            not_counted[why] = not_counted.get(why, 0) + people
            continue
        groups.setdefault(key, _Group()).add(people, holders, total_, values)
    if not group_by:
        groups.setdefault((), _Group())
        result, total, other, hidden = _single(groups[()], measure, k)
    else:
        result, total, other, hidden = _table(groups, measure, k)
    given = {"k": k, "groups": len(groups), "suppressed": hidden, "not_counted": not_counted}
    _audit(ctx, actor, purpose, cats, {**asked, **given})
    return AggregateResult(purpose, category, field, group_by, measure, k, result, total, other)


# A kind of person, as far as an aggregate is concerned: (consented, restricted, erased).
Kind = tuple[bool, bool, bool]


def _verdicts(
    ctx: Context, ask: Ask, tenant: str | None, member_active: bool, role: str | None
) -> dict[Kind, str | None]:
    """The gate's answer for each kind of person: None (counted) or the reason they are
    not. Asked once per kind, then applied to every person of that kind in the database:
    the same decision for each, at the cost of one GROUP BY. Vendor-side actors need no
    grant: an aggregate shows no one's detail (P14 concerns detail)."""
    out: dict[Kind, str | None] = {}
    for consented, restricted, erased in itertools.product((False, True), repeat=3):
        facts = aggregate_facts(
            tenant,
            member_active,
            consented=frozenset({ask.purpose}) if consented else frozenset(),
            restricted=frozenset({ask.purpose}) if restricted else frozenset(),
            erased=erased,
            member_role=role,
        )
        d = decide(ctx.policy, ask, facts)
        why = None if d.allowed and not d.masked else d.reason or next(iter(d.masked.values()))
        out[(consented, restricted, erased)] = why.value if why else None
    return out


def _kind_columns(ctx: Context, purpose: str, subject: Any) -> tuple[Any, Any, Any]:
    """SQL flags (1/0) for a person's kind: consent to ``purpose`` in the ledger's state
    (to the notice in force where it changed materially, P07), a restriction of it (P26),
    erasure. Each is a membership test in a small set the database hashes once."""
    cs = consent_state.c
    if purpose in ctx.policy.consent_purposes:
        cond = [cs.purpose == purpose, cs.granted.is_(True), backed()]
        with ctx.engine.connect() as conn:
            digest = notices_of(conn, ctx).reconsent.get(purpose)
        if digest:
            cond.append(cs.notice_hash == digest)
        given = select(cs.subject_id).where(*cond)
        consented: Any = case((subject.in_(given), 1), else_=0)
    else:
        consented = literal(1)
    r = restrictions.c
    limited = select(r.subject_id).where(r.purpose == purpose)
    gone = select(subjects.c.id).where(subjects.c.erased_at.is_not(None))
    return (
        consented,
        case((subject.in_(limited), 1), else_=0),
        case((subject.in_(gone), 1), else_=0),
    )


def _same_submission(m: Any, gi: Any, field: str, category: str, purpose: str) -> Any:
    """``gi`` is the value of ``field`` (of ``category``, for ``purpose``, readable in
    the database) collected with ``m``: same person, collection point and time."""
    return and_(
        gi.c.subject_id == m.c.subject_id,
        gi.c.collection_point == m.c.collection_point,
        gi.c.collected_at == m.c.collected_at,
        gi.c.field == field,
        gi.c.category == category,
        gi.c.ciphertext.is_(None),
        gi.c.restricted_to.is_(None),
        cast(gi.c.purposes, Text).like(f'%"{purpose}"%'),
    )


def _counts(
    ctx: Context, q: Question, group_cats: Mapping[str, str], tenant: str | None
) -> list[tuple[Key, Kind, int, int, float, int]]:
    """Per group and kind of person: people, people holding a numeric value, the sum and
    number of those values. A count counts the people with a value of the dimension (or
    of ``field`` without one), whatever ``field`` is. Each person is in one group, that of
    their latest value, with all their values of ``field``."""
    stmt = _statement(ctx, q, group_cats, tenant)
    n, measure = len(q.group_by), q.measure
    out: list[tuple[Key, Kind, int, int, float, int]] = []
    with ctx.engine.connect() as conn:
        for row in conn.execute(stmt):
            key = tuple(_label(v) for v in row[:n])
            kind = (bool(row[n]), bool(row[n + 1]), bool(row[n + 2]))
            people = int(row[n + 3])
            if measure == "count":
                out.append((key, kind, people, people, 0.0, 0))
            else:
                out.append(
                    (key, kind, people, int(row[n + 4]), float(row[n + 5] or 0), int(row[n + 6]))
                )
    return out


def _statement(ctx: Context, q: Question, group_cats: Mapping[str, str], tenant: str | None) -> Any:
    """The GROUP BY of :func:`_counts`: the group's label, the person's kind, then the
    measures."""
    purpose, category, field = q.purpose, q.category, q.field
    group_by, measure = q.group_by, q.measure
    dialect = dialect_for(ctx.engine)
    measured = group_by[0] if group_by and measure == "count" else field
    measured_cat = group_cats.get(measured, category)
    m = records.alias("m")
    src: Any = m
    conds = [
        m.c.category == measured_cat,
        m.c.field == measured,
        m.c.ciphertext.is_(None),
        m.c.restricted_to.is_(None),
        # Collected for this purpose (P02): ids are [a-z0-9_], so the quoted id matches
        # exactly one element of the JSON array.
        cast(m.c.purposes, Text).like(f'%"{purpose}"%'),
    ]
    if tenant is not None:
        conds.append(m.c.tenant_id == tenant)
    labels: list[Any] = []
    for i, g in enumerate(group_by):
        if g == measured:
            labels.append(m.c.value)
            continue
        gi = records.alias(f"g{i}")
        # Outer: a value without the dimension is in the group None, so the grouped total
        # is the ungrouped one (not that total minus the values nobody grouped).
        src = src.outerjoin(gi, _same_submission(m, gi, g, group_cats[g], purpose))
        labels.append(gi.c.value)
    num: Any = dialect.json_number(m.c.value)
    cols: list[Any] = [m.c.subject_id.label("subject_id")]
    if measure != "count":
        cols.append(num.label("num"))
    # A count keeps one row a person (the latest), so it counts rows, not distinct ids.
    one_each = bool(labels) and measure == "count"
    if labels:
        # A person is counted once, under the value of their latest submission (ties: the
        # greatest value): the groups partition the people, so no published figure is
        # the overlap of two groups, and the groups add up to the total.
        latest = (m.c.collected_at.desc(), labels[0].desc().nulls_last())
        if one_each:
            cols.append(labels[0].label("label"))
            rank = func.row_number().over(partition_by=m.c.subject_id, order_by=latest)
            cols.append(rank.label("rank"))
        else:
            person = func.first_value(labels[0]).over(partition_by=m.c.subject_id, order_by=latest)
            cols.append(person.label("label"))
    rows = select(*cols).select_from(src).where(*conds).subquery("rows")
    keys = [rows.c.label] if labels else []
    kinds = _kind_columns(ctx, purpose, rows.c.subject_id)
    measures: list[Any] = [
        func.count() if one_each else func.count(func.distinct(rows.c.subject_id))
    ]
    if measure != "count":
        holder = case((rows.c.num.is_not(None), rows.c.subject_id))
        measures += [
            func.count(func.distinct(holder)),
            func.sum(rows.c.num),
            func.count(rows.c.num),
        ]
    stmt = select(*keys, *kinds, *measures).group_by(*keys, *kinds)
    return stmt.where(rows.c.rank == 1) if one_each else stmt


def _value(g: _Group, measure: str) -> Num | None:
    if measure == "count":
        return g.people
    if measure == "sum":
        return g.total
    return g.total / g.values if g.values else None


def _single(g: _Group, measure: str, k: int) -> tuple[dict[Key, Num], Num | None, None, int]:
    """No dimension: the total alone, published when k people are in it (and, for a sum
    or an average, when k people hold a value)."""
    enough = g.people >= k and (measure == "count" or g.contributors >= k)
    return {}, (_value(g, measure) if enough else None), None, 0 if enough else 1


def _table(
    groups: Mapping[Key, _Group], measure: str, k: int
) -> tuple[dict[Key, Num], Num | None, Num | None, int]:
    """One dimension: groups below k people (or, for sums and averages, below k people
    holding a value) and their complements are dropped, labels and all."""
    people = suppress({key: g.people for key, g in groups.items()}, k)
    hidden = set(people.suppressed)
    published_total = people.total is not None
    if measure != "count":
        holders = suppress({key: g.contributors for key, g in groups.items()}, k)
        hidden |= holders.suppressed
        published_total = published_total and holders.total is not None
    shown = {key: g for key, g in groups.items() if key not in hidden}
    cells: dict[Key, Num] = {}
    for key, g in shown.items():
        v = _value(g, measure)
        if v is not None:
            cells[key] = v
    everyone = _Group()
    rest = _Group()
    for key, g in groups.items():
        for acc in (everyone, rest) if key in hidden else (everyone,):
            acc.add(g.people, g.contributors, g.total, g.values)
    total: Num | None = None
    other: Num | None = None
    if published_total:
        # The groups partition the people (each is in the group of their latest value):
        # the total is distinct people, the additive total the suppression protected, so
        # "other" is the total minus the published cells, and distinct people too.
        if measure == "count":
            total = sum(g.people for g in groups.values())
            other = total - sum(g.people for g in shown.values()) if hidden else None
        else:
            total = _value(everyone, measure)
            other = _value(rest, measure) if hidden else None
    return cells, total, other, len(hidden)


def _label(value: Any) -> Hashable:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return str(value)
    return parsed if isinstance(parsed, Hashable) else json.dumps(parsed, sort_keys=True)


__all__ = ["MEASURES", "AggregateResult", "aggregate"]
