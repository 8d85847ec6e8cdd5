"""The roles' part of ``policy validate``: each role's categories and purposes are the
policy's, and a category a role reads ``masked`` is one it reads, whose every field
declares a ``mask:`` (else the role would see the field whole, or nothing). A role for a
customer's members (``for: tenant_members``) has no ``powers``: the office is the vendor's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from troth.policy.issues import Path
from troth.policy.validate import _items, _strs, fields_by_category

if TYPE_CHECKING:
    from troth.policy.validate import _Checker


def role_rules(v: _Checker) -> None:
    unmasked = _unmasked_fields(v)
    for i, role in _items(v.data, "roles"):
        cats = {c for _, c in _strs(role.get("categories"))}
        for j, cat in _strs(role.get("categories")):
            v.category_ref(("roles", i, "categories", j), cat)
        for j, pid in _strs(role.get("purposes")):
            v.purpose_ref(("roles", i, "purposes", j), pid)
        if role.get("for") == "tenant_members" and role.get("powers"):
            v.add(
                ("roles", i, "powers"),
                "a role for tenant_members has no `powers`: the office functions are the"
                " vendor's privacy office's; remove `powers`, or make it a staff role",
            )
        for j, cat in _strs(role.get("masked")):
            path: Path = ("roles", i, "masked", j)
            if cat not in cats:
                v.add(path, f"the role does not read {cat!r}: list it in `categories`")
            elif unmasked.get(cat):
                v.add(
                    path,
                    f"the role reads {cat!r} masked, but field {sorted(unmasked[cat])[0]!r}"
                    " declares no mask: add `mask: last4` to every field of that category",
                )


def _unmasked_fields(v: _Checker) -> dict[str, set[str]]:
    """Category -> the fields of it (any collection point) that declare no ``mask:``."""
    return fields_by_category(
        v.data, lambda spec: not (isinstance(spec, Mapping) and spec.get("mask"))
    )
