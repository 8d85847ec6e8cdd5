"""Aggregate-only use (P09): counts, sums and averages per group for a purpose the policy
marks aggregate-only, with groups of fewer than k people suppressed (and enough others that
none can be recovered by subtraction: :func:`troth.aggregates.suppress`).

The GROUP BY runs in the database over the stored JSON text of each value; only the group
labels and their counts come back. Fields of one submission (same person, collection point
and time) are grouped together, so ``group_by=["browser"]`` counts events per browser.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from sqlalchemy import Float, Numeric, Text, and_, case, cast, func, select

from troth.aggregates import suppress
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.errors import Refused, ValidationError
from troth.gate import SYSTEM, Actor, Ask, Facts, Operation, decide
from troth.policy.model import FieldType
from troth.store.tables import records

MEASURES = ("count", "sum", "avg")


@dataclass(frozen=True)
class AggregateResult:
    """Published values per group (None = suppressed). ``count`` is people per group."""

    purpose: str
    category: str
    field: str
    group_by: tuple[str, ...]
    measure: str
    k: int
    cells: Mapping[tuple[Hashable, ...], float | int | None]
    total: float | int | None
    suppressed: int
    row_totals: Mapping[Hashable, float | int | None] = dc_field(default_factory=dict)
    column_totals: Mapping[Hashable, float | int | None] = dc_field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "category": self.category,
            "field": self.field,
            "group_by": list(self.group_by),
            "measure": self.measure,
            "k": self.k,
            "groups": [{"group": list(k), "value": v} for k, v in self.cells.items()],
            "total": self.total,
            "suppressed": self.suppressed,
        }


def _field_types(ctx: Context, category: str | None, name: str) -> set[FieldType]:
    return {
        spec.type
        for fields in ctx.policy.point_fields.values()
        for fname, spec in fields.items()
        if fname == name and (category is None or spec.category == category)
    }


def _field_category(ctx: Context, name: str, allowed: frozenset[str]) -> str:
    cats = {
        spec.category
        for fields in ctx.policy.point_fields.values()
        for fname, spec in fields.items()
        if fname == name and spec.category in allowed
    }
    if not cats:
        raise ValidationError(
            f"no collection point collects a field {name!r} in a category this purpose may"
            f" use ({', '.join(sorted(allowed))})",
            field=name,
        )
    return sorted(cats)[0]


def aggregate(
    ctx: Context,
    purpose: str,
    category: str,
    field: str,
    group_by: Sequence[str] = (),
    measure: str = "count",
    actor: Actor = SYSTEM,
    k: int | None = None,
) -> AggregateResult:
    """Aggregate ``field`` (of ``category``) per group of ``group_by`` (1 or 2 fields) for
    an aggregate-only ``purpose``; ``k`` defaults to the policy's ``min_group_size`` and
    may only be raised. Audited; refusals raise Refused."""
    idx = ctx.policy
    now = ctx.clock.now()
    p = idx.purposes.get(purpose)
    if p is None:
        raise ValidationError(f"the policy declares no purpose {purpose!r}")
    if not p.aggregate_only:
        raise ValidationError(
            f"purpose {purpose!r} is not aggregate-only: read rows with use(), or mark it"
            " aggregate_only in the policy"
        )
    if measure not in MEASURES:
        raise ValidationError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    group_by = tuple(group_by)
    if not 1 <= len(group_by) <= 2 or len(set(group_by)) != len(group_by):
        raise ValidationError("group_by takes one or two different fields")
    floor = idx.policy.aggregates.min_group_size
    if k is None:
        k = floor
    if isinstance(k, bool) or not isinstance(k, int) or k < floor:
        raise ValidationError(f"k may not be below the policy's min_group_size ({floor})")
    allowed = idx.purpose_categories[purpose]
    if category not in allowed:
        raise ValidationError(f"purpose {purpose!r} may not use category {category!r}")
    if not _field_types(ctx, category, field):
        raise ValidationError(f"no collection point collects {field!r} as {category!r}")
    group_cats = {
        g: (category if g == field else _field_category(ctx, g, allowed)) for g in group_by
    }
    cats = tuple(sorted({category, *group_cats.values()}))
    for c in cats:
        if idx.is_sensitive(c):
            raise ValidationError(
                f"category {c!r} is encrypted: it cannot be grouped in the database"
            )
    if measure != "count" and not _field_types(ctx, category, field) <= {
        FieldType.integer,
        FieldType.number,
    }:
        raise ValidationError(f"{measure} needs a numeric field; {field!r} is not one")
    decision = decide(idx, Ask(actor, Operation.aggregate, purpose, cats, now), Facts())
    if not decision.allowed or decision.masked:
        reason = decision.reason or next(iter(decision.masked.values()))
        with transaction(ctx) as conn:
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        "aggregate",
                        actor.label,
                        Outcome.deny,
                        purpose=purpose,
                        categories=cats,
                        reason=reason.value,
                        details={"field": field, "group_by": list(group_by)},
                    )
                ],
            )
        raise Refused(
            decision.detail or f"may not aggregate {', '.join(cats)}", reason=reason.value
        )

    dialect = ctx.engine.dialect.name
    m = records.alias("m")
    src: Any = m
    labels = []
    conds = [
        m.c.category == category,
        m.c.field == field,
        m.c.ciphertext.is_(None),
        m.c.restricted_to.is_(None),
        # Collected for this purpose (P02): ids are [a-z0-9_], so the quoted id matches
        # exactly one element of the JSON array.
        cast(m.c.purposes, Text).like(f'%"{purpose}"%'),
    ]
    for i, g in enumerate(group_by):
        if g == field:
            labels.append(m.c.value)
            continue
        gi = records.alias(f"g{i}")
        src = src.join(
            gi,
            and_(
                gi.c.subject_id == m.c.subject_id,
                gi.c.collection_point == m.c.collection_point,
                gi.c.collected_at == m.c.collected_at,
                gi.c.field == g,
                gi.c.category == group_cats[g],
            ),
        )
        labels.append(gi.c.value)
    if dialect == "sqlite":
        num: Any = case(
            (func.json_type(m.c.value).in_(["integer", "real"]), cast(m.c.value, Float))
        )
    else:
        num = case((m.c.value.regexp_match(r"^-?[0-9]+(\.[0-9]+)?$"), cast(m.c.value, Numeric)))
    stmt = (
        select(*labels, func.count(func.distinct(m.c.subject_id)), func.sum(num), func.count(num))
        .select_from(src)
        .where(*conds)
        .group_by(*labels)
    )
    people: dict[tuple[Hashable, ...], int] = {}
    sums: dict[tuple[Hashable, ...], float] = {}
    values: dict[tuple[Hashable, ...], float] = {}
    with ctx.engine.connect() as conn:
        for row in conn.execute(stmt):
            key = tuple(_label(v) for v in row[: len(group_by)])
            people[key] = int(row[-3])
            sums[key] = float(row[-2] or 0)
            values[key] = float(row[-1] or 0)
    table = suppress(people, k)
    Num = float | int | None
    result: dict[tuple[Hashable, ...], Num]
    total: Num
    rows_t: dict[Hashable, Num]
    cols_t: dict[Hashable, Num]
    if measure == "count":
        result, total = dict(table.cells), table.total
        rows_t, cols_t = dict(table.row_totals), dict(table.column_totals)
    else:
        s = table.mask(sums)
        if measure == "sum":
            result, total = dict(s.cells), s.total
            rows_t, cols_t = dict(s.row_totals), dict(s.column_totals)
        else:
            n = table.mask(values)
            result = {key: _div(s.cells[key], n.cells[key]) for key in s.cells}
            total = _div(s.total, n.total)
            rows_t = {r: _div(s.row_totals[r], n.row_totals[r]) for r in s.row_totals}
            cols_t = {c: _div(s.column_totals[c], n.column_totals[c]) for c in s.column_totals}
    out = AggregateResult(
        purpose,
        category,
        field,
        group_by,
        measure,
        k,
        result,
        total,
        len(table.suppressed),
        rows_t,
        cols_t,
    )
    with transaction(ctx) as conn:
        append_entries(
            conn,
            now,
            [
                AuditEntry(
                    "aggregate",
                    actor.label,
                    Outcome.allow,
                    purpose=purpose,
                    categories=cats,
                    details={
                        "field": field,
                        "group_by": list(group_by),
                        "measure": measure,
                        "k": k,
                        "groups": len(people),
                        "suppressed": len(table.suppressed),
                    },
                )
            ],
        )
    return out


def _label(value: Any) -> Hashable:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return str(value)
    return parsed if isinstance(parsed, Hashable) else json.dumps(parsed, sort_keys=True)


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


__all__ = ["MEASURES", "AggregateResult", "aggregate"]
