"""What a correction asks to change (``details["changes"]``: field -> new value), checked
when the request is opened or the office gives the changes, not only when it is carried
out: a field troth knows nothing of, or a value that fits no declaration of the field, is
refused at once (422), and the request never waits on a change that cannot be made.
:func:`read_change` reads a value typed as text (``--change FIELD=VALUE``) as the field's
declared type, so a card number stays text and a count becomes a number."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from troth.collection.validation import check_value
from troth.context import Context
from troth.errors import ValidationError
from troth.policy.model import CollectedField, FieldType

__all__ = ["check_changes", "known_fields", "read_change"]

# Declared types whose values are not text: a value given as text is read as JSON.
_NOT_TEXT = frozenset({FieldType.integer, FieldType.number, FieldType.boolean})
# Identity kinds a connected dataset maps: corrected there by that name.
_IDENTITY_KINDS = ("email", "phone", "customer_id")


def known_fields(ctx: Context) -> dict[str, list[CollectedField]]:
    """Each field a correction may name: those the policy's collection points declare
    (with their declarations) and those a connected dataset maps (none: not typed here)."""
    from troth.requests.connected import connected_datasets

    out: dict[str, list[CollectedField]] = {}
    for fields in ctx.policy.point_fields.values():
        for name, spec in fields.items():
            out.setdefault(name, []).append(spec)
    for ds in connected_datasets(ctx):
        for table in ds.tables.values():
            mapped = [c.field for c in table.columns.values() if c.field]
            for name in [*mapped, *(k.value for k in table.identity)]:
                out.setdefault(name, [])
    for kind in _IDENTITY_KINDS:
        if any(spec.identifies == kind for specs in out.values() for spec in specs):
            out.setdefault(kind, [])
    return out


def check_changes(ctx: Context, changes: object) -> dict[str, Any]:
    """``changes`` as a correction keeps it, or a ValidationError: not an object of field
    -> value (``invalid_changes``), a field troth knows nothing of (``unknown_field``), a
    value that fits no declaration of its field (``invalid_input``)."""
    if not isinstance(changes, Mapping) or not all(isinstance(k, str) for k in changes):
        raise ValidationError(
            "details.changes must be an object of field -> new value", code="invalid_changes"
        )
    known = known_fields(ctx)
    for name, value in changes.items():
        if name not in known:
            raise ValidationError(
                f"no field {name!r} in the policy or a connected dataset, so nothing to"
                f" correct (fields: {', '.join(sorted(known)) or 'none'})",
                code="unknown_field",
                field=name,
            )
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise ValidationError(f"field {name!r}: give one value", field=name)
        specs = known[name]
        problems = [check_value(s, value, ctx.settings.max_value_bytes) for s in specs]
        if specs and all(problems):
            raise ValidationError(f"field {name!r}: {problems[0]}", field=name)
    return dict(changes)


def read_change(ctx: Context, name: str, text: str) -> Any:
    """``text`` as the value of field ``name``: a number or yes/no where every declaration
    of the field says so (given as JSON: ``42``, ``4.5``, ``true``), else the text as it
    is (a card or phone number stays text)."""
    specs = known_fields(ctx).get(name) or []
    if not specs or any(s.type not in _NOT_TEXT for s in specs):
        return text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return value if isinstance(value, int | float | bool) else text
