"""What an aggregate asks (:class:`Question`) and the checks it must pass before any
row is read: an aggregate-only purpose, a declared dimension, a measure a field can
take, a k no lower than the policy's, categories the purpose may use and the database
can group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from troth.context import Context
from troth.errors import ValidationError
from troth.policy.model import FieldType

MEASURES = ("count", "sum", "avg")


def field_types(ctx: Context, category: str | None, name: str) -> set[FieldType]:
    """The types the collection points give ``name`` (in ``category``, or any)."""
    return {
        spec.type
        for fields in ctx.policy.point_fields.values()
        for fname, spec in fields.items()
        if fname == name and (category is None or spec.category == category)
    }


def field_category(ctx: Context, name: str, allowed: frozenset[str]) -> str:
    """The category a dimension ``name`` is collected in, among those ``allowed``."""
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


@dataclass(frozen=True)
class Question:
    """What an aggregate asks: ``measure`` of ``field`` (of ``category``) for
    ``purpose``, per value of the dimensions ``group_by`` (none: in total)."""

    purpose: str
    category: str
    field: str
    group_by: tuple[str, ...]
    measure: str


def check(ctx: Context, q: Question, k: int | None) -> tuple[int, tuple[str, ...], dict[str, str]]:
    """Validate the question; return k, the categories it touches and each dimension's
    category."""
    purpose, category, field = q.purpose, q.category, q.field
    group_by, measure = q.group_by, q.measure
    idx = ctx.policy
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
    if len(group_by) > 1:
        raise ValidationError(
            "group_by takes at most one dimension: a second query by one of two dimensions"
            " would publish the margins a two-way table must withhold",
            field="group_by",
        )
    for g in group_by:
        if g not in p.dimensions:
            declared = ", ".join(p.dimensions) or "none: totals only"
            raise ValidationError(
                f"purpose {purpose!r} may be grouped only by the dimensions the policy"
                f" declares for it ({declared}); {g!r} is not one. Declare it under the"
                " purpose's `dimensions` if a group of it reveals no one",
                code="dimension_not_declared",
                field="group_by",
            )
    floor = idx.policy.aggregates.min_group_size
    if k is None:
        k = floor
    if isinstance(k, bool) or not isinstance(k, int) or k < floor:
        raise ValidationError(f"k may not be below the policy's min_group_size ({floor})")
    allowed = idx.purpose_categories[purpose]
    if category not in allowed:
        raise ValidationError(f"purpose {purpose!r} may not use category {category!r}")
    if not field_types(ctx, category, field):
        raise ValidationError(f"no collection point collects {field!r} as {category!r}")
    group_cats = {
        g: (category if g == field else field_category(ctx, g, allowed)) for g in group_by
    }
    cats = tuple(sorted({category, *group_cats.values()}))
    for c in cats:
        if idx.is_sensitive(c):
            raise ValidationError(
                f"category {c!r} is encrypted: it cannot be grouped in the database"
            )
    if measure != "count" and not field_types(ctx, category, field) <= {
        FieldType.integer,
        FieldType.number,
    }:
        raise ValidationError(f"{measure} needs a numeric field; {field!r} is not one")
    return k, cats, group_cats


def dimensions(group_by: Sequence[str] | str | None) -> tuple[str, ...]:
    """``group_by`` as a tuple: None is no grouping, a string one dimension."""
    if group_by is None:
        return ()
    if isinstance(group_by, str):
        return (group_by,)
    dims = tuple(group_by)
    for g in dims:
        if not isinstance(g, str):
            raise ValidationError(
                f"group_by names dimensions (strings), not {g!r}", field="group_by"
            )
    return dims
