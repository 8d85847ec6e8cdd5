"""Which records about a person the console's person page shows an actor: each section
needs the power of its own register (the list of people and the request desk, the
consents and disclosures registers, the audit log), so the page tells no one more about
a person than the registers would. A section the actor's role may not see is left out,
not refused: like a menu, deciding what to offer reads nothing and audits nothing; the
records shown are still read through the gate (and a refusal there audited)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from troth.context import Context
from troth.gate import Actor, decide_power
from troth.policy.model import Power


class PersonSection(StrEnum):
    """A section of the person page about records beside their values."""

    status = "status"  # active or erased, and a legal hold: the people register's
    consents = "consents"
    requests = "requests"
    disclosures = "disclosures"
    trail = "trail"  # who accessed what: their audit entries


# The power of each section's register (/console/consents, /console/requests,
# /console/disclosures, /console/audit).
SECTION_POWERS: Mapping[PersonSection, Power] = {
    PersonSection.status: Power.manage_requests,
    PersonSection.consents: Power.manage_requests,
    PersonSection.requests: Power.manage_requests,
    PersonSection.disclosures: Power.legal_demands,
    PersonSection.trail: Power.read_audit,
}


def person_sections(ctx: Context, actor: Actor) -> tuple[PersonSection, ...]:
    """The sections of a person's page ``actor`` may see, in the page's order: those whose
    register's power (:data:`SECTION_POWERS`) the actor holds."""
    return tuple(
        s for s in PersonSection if decide_power(ctx.policy, actor, SECTION_POWERS[s]).allowed
    )
