"""What a customer's export holds (P29): the categories the actor exporting it may read,
and those left out, each with its reason (:func:`export_scope`). Pure, like the rest of
the gate: the callers (``troth.requests.exports``, ``troth.access.tenant_export``) read the
actor's role and the values, and keep only what :meth:`ExportScope.keeps`.

- Every tenant export, whoever makes it (the customer's admin, the office offboarding the
  customer, troth itself), leaves out the categories that only the policy's
  ``vendor_only`` purposes use, and the values collected only for such purposes: they are
  the vendor's, kept for its own purposes, never the customer's (``vendor_only``).
- An admin of the customer holding a member role exports what that role reads and nothing
  else: its categories that one of its purposes uses row by row (not an aggregate-only
  purpose, not a ``vendor_only`` one); the rest is left out (``role_not_allowed``, or
  ``aggregate_only`` for what the role sees only in aggregates). Every export reads each
  field as its ``mask:`` declares, so a category the role reads ``masked`` is masked.
- An admin without a role, the vendor's office and troth itself export every other
  category, as before.

What is left out is said by category, from the policy alone (never from what the people
hold), so the export says the same of everyone and cannot be taken for complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from troth.gate.model import Reason
from troth.policy.index import PolicyIndex


@dataclass(frozen=True, slots=True)
class ExportScope:
    """What one tenant export holds: ``role`` is the member role it was made as (None:
    none); ``readable`` the categories it may hold (None: every one not ``left_out``);
    ``left_out`` each of the policy's categories it leaves out, with why."""

    role: str | None
    readable: frozenset[str] | None
    left_out: Mapping[str, Reason] = field(default_factory=dict)
    vendor_purposes: frozenset[str] = frozenset()

    def keeps(self, category: str, purposes: Iterable[str]) -> bool:
        """Does the export hold a value of ``category`` collected for ``purposes``? Not
        one of a category left out or outside ``readable``, nor one collected only for
        the vendor's own purposes."""
        if category in self.left_out:
            return False
        if self.readable is not None and category not in self.readable:
            return False
        held = frozenset(purposes)
        return not (held and held <= self.vendor_purposes)

    @property
    def complete(self) -> bool:
        """Nothing the policy declares is left out (no role, no vendor-only purpose)."""
        return self.role is None and not self.left_out and not self.vendor_purposes


def export_scope(index: PolicyIndex, role: str | None) -> ExportScope:
    """The scope of a tenant export made as member role ``role`` (None: an admin without
    one, the office, troth itself). ``role`` must be one the policy declares (the caller
    refuses another with :func:`troth.gate.members.member_role_refusal`)."""
    vendor = index.vendor_purposes
    left: dict[str, Reason] = {c: Reason.vendor_only for c in index.vendor_categories}
    if role is None:
        return ExportScope(None, None, left, vendor)
    cats = index.role_categories.get(role, frozenset())
    purposes = index.role_purposes.get(role, frozenset())

    def reached(through: frozenset[str]) -> frozenset[str]:
        used = (index.purpose_categories.get(p, frozenset()) for p in through)
        return cats & frozenset().union(*used)

    readable = reached(purposes - index.aggregate_purposes - vendor)
    in_aggregate = reached(purposes & index.aggregate_purposes - vendor)
    for c in index.categories:
        if c in left or c in readable:
            continue
        if c in in_aggregate:
            left[c] = Reason.aggregate_only
        elif c in reached(purposes & vendor):
            left[c] = Reason.vendor_only
        else:
            left[c] = Reason.role_not_allowed
    return ExportScope(role, readable, left, vendor)


def left_out_words(index: PolicyIndex, scope: ExportScope) -> list[dict[str, Any]]:
    """What the export leaves out, one entry per category (sorted): ``category``,
    ``description``, ``reason`` (the code) and ``why`` (in words); then, where the policy
    has ``vendor_only`` purposes, one entry (``category`` None) for the values collected
    only for them."""
    org = index.policy.organisation.name
    vendor = ", ".join(sorted(scope.vendor_purposes))
    why = {
        Reason.vendor_only: f"only {org}'s own purposes ({vendor}) use it: {org} keeps it for"
        " those, never for a customer",
        Reason.aggregate_only: f"the role {scope.role!r} it was exported as sees it only in"
        " aggregates",
        Reason.role_not_allowed: f"the role {scope.role!r} it was exported as does not read"
        " it: an export holds only what its maker may read",
    }
    out: list[dict[str, Any]] = []
    for c in sorted(scope.left_out):
        info = index.categories.get(c)
        reason = scope.left_out[c]
        out.append(
            {
                "category": c,
                "description": info.description if info else c,
                "reason": reason.value,
                "why": why[reason],
            }
        )
    if scope.vendor_purposes:
        out.append(
            {
                "category": None,
                "description": f"values collected only for {org}'s own purposes",
                "reason": Reason.vendor_only.value,
                "why": f"collected only for {vendor}: {org} keeps them for those purposes",
            }
        )
    return out


def export_head(index: PolicyIndex, actor_label: str, scope: ExportScope) -> dict[str, Any]:
    """What a tenant export says of itself, beside its data: whom it was made by and as
    which role, whether it is complete, and what it leaves out and why."""
    return {
        "exported_by": {"actor": actor_label, "role": scope.role},
        "complete": scope.complete,
        "left_out": left_out_words(index, scope),
    }
