"""Masking for display: the one place that turns a value into what a person is shown
(privacy centre, access export, tenant export) when its field declares ``mask:`` in the
policy. The stored value is unchanged; those who may use it (the gate decides) still can,
whole, unless their role reads its category ``masked`` (:func:`masked_for_role`).

    card_number: {category: payment_card, mask: last4}    # shown as •••• •••• •••• 4242
    roles: [{id: support, categories: [payment_card], masked: [payment_card], ...}]
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from troth.policy.index import PolicyIndex
from troth.policy.model import Mask

if TYPE_CHECKING:
    from troth.audit.entries import LoggedEntry
    from troth.store.values import StoredValue


def mask_of(index: PolicyIndex, collection_point: str | None, field: str) -> Mask | None:
    """The masking a stored value's field declares, or None."""
    declared = index.point_fields.get(collection_point or "", {}).get(field)
    return declared.mask if declared is not None else None


def apply_mask(mask: Mask | None, value: Any) -> Any:
    """``value`` as shown under ``mask`` (None: unchanged)."""
    if mask is None or value is None:
        return value
    if mask is Mask.last4:
        digits = [c for c in str(value) if c.isdigit()]
        if len(digits) <= 4:
            return "•" * len(digits)  # too short to show any of it
        return "•••• " + "".join(digits[-4:])
    raise AssertionError(f"unhandled mask {mask}")  # pragma: no cover


def shown(index: PolicyIndex, collection_point: str | None, field: str, value: Any) -> Any:
    """The value of ``field`` (collected at ``collection_point``) as a person sees it."""
    return apply_mask(mask_of(index, collection_point, field), value)


def for_the_person(index: PolicyIndex, collection_point: str | None, field: str, value: Any) -> Any:
    """The value of ``field`` in the person's own copy of their data (their access export,
    portability package, the privacy centre's download): whole where the field says
    ``person_copy: whole`` (GDPR Art. 15(3): a payroll employee's own SIN), else as
    :func:`shown` (a card stays masked, PCI DSS 3.4). Every other reader, the privacy
    centre's page included, reads :func:`shown`."""
    declared = index.point_fields.get(collection_point or "", {}).get(field)
    if declared is not None and declared.mask is not None and declared.person_copy == "whole":
        return value
    return shown(index, collection_point, field, value)


def whole_for_the_person(index: PolicyIndex) -> dict[str, str]:
    """The fields the person's own copy holds whole (``person_copy: whole``), as
    ``point.field`` -> category."""
    return {
        f"{cp.id}.{name}": f.category
        for cp in index.policy.collection_points
        for name, f in cp.fields.items()
        if f.mask is not None and f.person_copy == "whole"
    }


def masked_for_role(
    index: PolicyIndex, role: str | None, values: list[StoredValue]
) -> list[StoredValue]:
    """``values`` (stored values a use reveals) as staff (or a customer's member) of
    ``role`` see them: a value of a category the role reads ``masked`` is its field's mask
    (``policy validate`` makes every such field declare one), never the whole value."""
    declared = index.any_role(role)
    if declared is None or not declared.masked:
        return values
    cats = frozenset(declared.masked)
    return [
        replace(v, value=shown(index, v.collection_point, v.field, v.value))
        if v.category in cats
        else v
        for v in values
    ]


def withheld_from_access(
    index: PolicyIndex, values: list[StoredValue]
) -> tuple[list[StoredValue], list[dict[str, Any]]]:
    """``values`` split for the person's own access: those they are given, and, per
    category the policy withholds from access (``withheld_from_access:``), what is held
    back and why (never the values): ``{"category", "description", "values", "why"}``.

    A value given that came through a collection point which also takes a withheld
    category (the flagged message of an abuse report) is given without its ``supplier``:
    that text names the source the withholding protects ("member report by ...")."""
    given: list[StoredValue] = []
    held_back: dict[str, dict[str, Any]] = {}
    guarded = _points_taking_withheld(index)
    for v in values:
        decl = index.categories.get(v.category)
        why = decl.withheld_from_access if decl is not None else None
        if why is None:
            hide = v.collection_point in guarded and v.supplier is not None
            given.append(replace(v, supplier=None) if hide else v)
            continue
        entry = held_back.setdefault(
            v.category,
            {
                "category": v.category,
                "description": decl.description if decl is not None else v.category,
                "values": 0,
                "why": why,
            },
        )
        entry["values"] += 1
    return given, [held_back[c] for c in sorted(held_back)]


def _points_taking_withheld(index: PolicyIndex) -> frozenset[str]:
    """The collection points with a field in a category withheld from access."""
    withheld = {c for c, d in index.categories.items() if d.withheld_from_access}
    return frozenset(
        cp.id
        for cp in index.policy.collection_points
        if any(f.category in withheld for f in cp.fields.values())
    )


def entry_for_the_person(index: PolicyIndex, logged: LoggedEntry) -> LoggedEntry | None:
    """An audit entry as the person's own access log shows it: without the categories the
    policy withholds from their access, and not at all when it touched only those (a read
    of the abuse report about them would tell them when an investigation moved)."""
    cats = logged.entry.categories
    kept = tuple(c for c in cats if not _withheld(index, c))
    if len(kept) == len(cats):
        return logged
    if not kept:
        return None
    return replace(logged, entry=replace(logged.entry, categories=kept))


def _withheld(index: PolicyIndex, category: str) -> bool:
    decl = index.categories.get(category)
    return decl is not None and decl.withheld_from_access is not None
