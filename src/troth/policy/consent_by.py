"""Who may record a person's consent to a purpose (``consent_by``): ``person``, only the
person themself (the privacy centre, their own signed-in channel) or the vendor's side
(its office, with the person's evidence); ``customer``, a customer's side too (its
admins, members, keys). With no ``consent_by``, a purpose that reads a category of a
``vendor_only`` purpose is ``person``: a customer recording that consent would give
itself the vendor's own data (:func:`troth.policy.index.person_consent`; the gate
refuses it ``consent_self_grant``). ``policy validate``, ``show`` and ``diff`` say it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from troth.policy.index import person_consent, vendor_shared
from troth.policy.issues import Path
from troth.policy.model import LegalBasis, Policy, Purpose

PERSON = "person"
CUSTOMER = "customer"


def consent_by_rules(data: Mapping[str, Any], add: Callable[[Path, str], None]) -> None:
    """``policy validate``'s errors: ``consent_by: customer`` on a purpose that reads a
    ``vendor_only`` purpose's categories (the customer would authorise itself), and
    ``consent_by`` on a ``vendor_only`` purpose (no customer ever records it)."""
    purposes = data.get("purposes")
    if not isinstance(purposes, list):
        return
    items = [p for p in purposes if isinstance(p, Mapping)]
    own = {
        c
        for p in items
        if p.get("vendor_only") is True and isinstance(p.get("categories"), list)
        for c in p["categories"]
        if isinstance(c, str)
    }
    for i, p in enumerate(purposes):
        if not isinstance(p, Mapping) or p.get("consent_by") is None:
            continue
        path: Path = ("purposes", i, "consent_by")
        if p.get("vendor_only") is True:
            add(
                path,
                f"purpose {p.get('id')!r} is vendor_only: no customer ever records its"
                " consent (refused vendor_only); remove `consent_by`",
            )
            continue
        cats = p.get("categories")
        shared = (
            sorted(own & {c for c in cats if isinstance(c, str)}) if isinstance(cats, list) else []
        )
        if p.get("consent_by") == CUSTOMER and shared:
            add(
                path,
                f"purpose {p.get('id')!r} reads {', '.join(shared)}, which vendor_only"
                " purposes use: a customer recording this consent would give itself the"
                " vendor's own data (self-authorisation, GDPR Art. 7(1), 9(2)(a)); remove"
                " `consent_by: customer` (only the person, or the vendor's office with"
                " their evidence, records it), or take those categories out",
            )


def consentable(p: Purpose) -> bool:
    """Is there a consent (or an opt-in) to give to ``p``?"""
    return p.legal_basis is LegalBasis.consent or p.sale_or_sharing or p.marketing


def recorded_by(policy: Policy, p: Purpose) -> str:
    """Who may record a grant of ``p``: ``person`` or ``customer`` (as the gate decides)."""
    return PERSON if p.id in person_consent(policy) else CUSTOMER


def recorded_by_words(policy: Policy, p: Purpose) -> str | None:
    """``policy show``'s line on who may record a consent to ``p`` (None: not one a
    customer's side is kept from, or no consent to give)."""
    if p.vendor_only or not consentable(p) or recorded_by(policy, p) != PERSON:
        return None
    shared = sorted(vendor_shared(policy).get(p.id, ()))
    why = (
        f" (it shows a customer {', '.join(shared)}, which we hold for our own purposes)"
        if shared
        else ""
    )
    return (
        "consent recorded only by the person, or by us with their evidence; never by a"
        f" customer{why}"
    )


def validate_notes(policy: Policy) -> list[str]:
    """``policy validate``'s notes: each consent purpose only the person may give, and
    why (``consent_by: person``, or the ``vendor_only`` categories it reads)."""
    out = []
    shared = vendor_shared(policy)
    for i, p in enumerate(policy.purposes):
        if p.vendor_only or not consentable(p) or recorded_by(policy, p) != PERSON:
            continue
        cats = sorted(shared.get(p.id, ()))
        why = (
            "`consent_by: person`"
            if p.consent_by == PERSON
            else f"it reads {', '.join(cats)}, which vendor_only purposes use"
        )
        out.append(
            f"purposes[{i}]: consent to {p.id!r} is recorded only by the person or the"
            f" vendor's office ({why}): a customer's admin, member or key recording a"
            " grant is refused consent_self_grant (withdrawing stays open to them)"
        )
    return out
