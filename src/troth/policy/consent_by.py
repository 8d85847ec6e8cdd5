"""Who may record a person's consent to a purpose (``consent_by``): ``person``, only the
person themself (the privacy centre, their own signed-in channel) or the vendor's side
(its office, with the person's evidence); ``customer``, a customer's side too (its
admins, members, keys). With no ``consent_by``, a consent purpose that would show a
customer the vendor's own data (:func:`troth.policy.index.vendor_shared`) is ``person``:
a customer recording that consent would authorise itself (the gate refuses it
``consent_self_grant``). ``policy validate``, ``show`` and ``diff`` say it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from troth.policy.index import person_consent, vendor_shared
from troth.policy.issues import Path
from troth.policy.model import LegalBasis, Policy, Purpose

PERSON = "person"
CUSTOMER = "customer"


def consent_by_rules(data: Mapping[str, Any], add: Callable[[Path, str], None]) -> None:
    """``policy validate``'s errors: ``consent_by: customer`` on a purpose a consent to
    which shows a customer the vendor's own data (:func:`vendor_shared`: the customer
    would authorise itself), and ``consent_by`` on a ``vendor_only`` purpose (no customer
    ever records it). Checked once the policy is otherwise model-valid."""
    try:
        policy = Policy.model_validate(data)
    except (PydanticValidationError, ValueError):
        return  # the model's own errors are reported; this one waits for them
    shared = vendor_shared(policy)
    for i, p in enumerate(policy.purposes):
        if p.consent_by is None:
            continue
        path: Path = ("purposes", i, "consent_by")
        if p.vendor_only:
            add(
                path,
                f"purpose {p.id!r} is vendor_only: no customer ever records its consent"
                " (refused vendor_only); remove `consent_by`",
            )
        elif p.consent_by == CUSTOMER and p.id in shared:
            add(
                path,
                f"purpose {p.id!r} shows a customer {', '.join(sorted(shared[p.id]))}, which"
                " vendor_only purposes hold: a customer recording this consent would give"
                " itself the vendor's own data (self-authorisation, GDPR Art. 7(1),"
                " 9(2)(a)); remove `consent_by: customer` (only the person, or the vendor's"
                " office with their evidence, records it), or take those categories out",
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
            else f"it shows a customer {', '.join(cats)}, which vendor_only purposes hold"
        )
        out.append(
            f"purposes[{i}]: consent to {p.id!r} is recorded only by the person or the"
            f" vendor's office ({why}): a customer's admin, member or key recording a"
            " grant is refused consent_self_grant (withdrawing stays open to them)"
        )
    return out
