"""One identifier of each kind per collection point: a field marked ``identifies:
email`` (or phone, or customer id) finds the person the values are about. A second such
field in a point (a referee's e-mail beside the candidate's) would file the person under
someone else's address: that other person's sign-in and requests would reach them, and
their own address would no longer find them. The other field is plain data."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from troth.policy.issues import Path

Add = Callable[[Path, str, Sequence[str]], None]


def one_identity_each(data: Mapping[str, Any], add: Add) -> None:
    """Report (through ``add``) every second field of a point identifying the same kind."""
    points = data.get("collection_points")
    for i, cp in enumerate(points if isinstance(points, list) else []):
        fields = cp.get("fields") if isinstance(cp, Mapping) else None
        if not isinstance(fields, Mapping):
            continue
        first: dict[str, str] = {}
        for name, spec in fields.items():
            kind = spec.get("identifies") if isinstance(spec, Mapping) else None
            if not isinstance(kind, str):
                continue
            if kind in first:
                add(
                    ("collection_points", i, "fields", str(name), "identifies"),
                    f"field {first[kind]!r} already identifies the person by {kind}: only the"
                    f" person's own {kind} may; make {name!r} a plain field (keep its `type:`),"
                    " or collect it at a point of its own about that other person",
                    (),
                )
            else:
                first[kind] = str(name)


def person_copy_needs_mask(data: Mapping[str, Any], add: Add) -> None:
    """Report every field with ``person_copy:`` but no ``mask:``: ``person_copy`` says how
    the person's own copy of their data holds a masked field (``whole``: GDPR Art. 15(3)),
    and a field without a mask is whole everywhere already."""
    points = data.get("collection_points")
    for i, cp in enumerate(points if isinstance(points, list) else []):
        fields = cp.get("fields") if isinstance(cp, Mapping) else None
        for name, spec in (fields if isinstance(fields, Mapping) else {}).items():
            if not isinstance(spec, Mapping) or spec.get("person_copy") is None:
                continue
            if not spec.get("mask"):
                add(
                    ("collection_points", i, "fields", str(name), "person_copy"),
                    f"field {name!r} declares no `mask:`, so everyone (the person too) reads it"
                    " whole: `person_copy:` says how the person's own copy holds a masked"
                    " field. Remove `person_copy:`, or add `mask: last4` for the others",
                    (),
                )
