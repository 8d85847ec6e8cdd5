"""When a disclosure to an authority needs a recorded legal demand (P20), and when the law
makes the organisation report to it routinely instead (a recipient's ``statutory_duty``)."""

from __future__ import annotations

from typing import Any

from troth.policy.model import RecipientKind


def statutory_duty(idx: Any, recipient: str, purpose: str) -> str | None:
    """The law under which the organisation reports to authority ``recipient`` for
    ``purpose`` routinely (its policy's ``statutory_duty``, for a purpose it ``receives``),
    or None."""
    rc = idx.recipients[recipient]
    duty = getattr(rc, "statutory_duty", None)
    if rc.kind is not RecipientKind.authority or not duty:
        return None
    return str(duty) if any(d.purpose == purpose for d in rc.receives) else None


def demand_needed(idx: Any, recipient: str, purpose: str) -> str | None:
    """Why a disclosure needs a recorded legal demand (P20: legal disclosures are recorded
    and the person told), or None: one to an authority goes only under a demand, unless
    the law requires reporting to it for that purpose (its ``statutory_duty``). (A
    legal-obligation purpose to another recipient, a tax adviser say, needs none: without a
    demand its data stays bound to the purposes it was collected for.)"""
    rc = idx.recipients[recipient]
    if rc.kind is not RecipientKind.authority or statutory_duty(idx, recipient, purpose):
        return None
    why = f"{rc.name} is an authority"
    authorities = sorted(r.id for r in idx.recipients.values() if r.kind is RecipientKind.authority)
    to = rc.id if rc.kind is RecipientKind.authority else (" | ".join(authorities) or "AUTHORITY")
    return (
        f"{why}: a legal disclosure needs a recorded legal demand (court order, warrant...),"
        " and nothing was sent. Record the demand first: `troth disclosures demand --authority"
        f" ... --instrument court_order --reference ... --scope ... --recipient {to}` (or POST"
        " /api/v1/legal-demands, or the console's legal demands page), then disclose under"
        " it: --demand DEMAND_ID (legal_demand_id in the API)"
    )
