"""What a person is told of the disclosures of their data under legal demands (P20): the
letter sent when such a disclosure is made, or when the non-disclosure order ends, and the
disclosures as their privacy centre and access export list them.

A demand's ``reference`` is free text an officer may write a name into (the complainant's,
the reporter's): the audit log keeps only its digest, and nothing the person reads
carries it (trial #19 F8). They read who required it (the authority), under which legal
instrument, to whom the data went and what it was, in the policy's words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from troth.context import Context

if TYPE_CHECKING:
    from troth.disclosures.demands import LegalDemand


@dataclass(frozen=True)
class Told:
    """What a notice of one disclosure says: from its row, or from its audit entry when
    the row was deleted outside troth (``from_log``)."""

    id: str
    subject_id: str
    recipient: str
    categories: tuple[str, ...]
    at: datetime
    jurisdiction: str | None
    from_log: bool = False


def for_the_person(item: Mapping[str, Any]) -> dict[str, Any]:
    """A disclosure (:meth:`DisclosureService.disclosures_of`) as the person reads it:
    under a legal demand, its authority and instrument, never its reference."""
    out = dict(item)
    demand = out.get("legal_demand")
    if isinstance(demand, Mapping):
        out["legal_demand"] = {k: v for k, v in demand.items() if k != "reference"}
    return out


def person_disclosures(ctx: Context, subject_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Each person's disclosures as they read them (:func:`for_the_person`), newest
    first; those under a live non-disclosure order left out (P20)."""
    from troth.disclosures.service import DisclosureService

    found = DisclosureService(ctx).disclosures_of_many(subject_ids)
    return {sid: [for_the_person(i) for i in items] for sid, items in found.items()}


def demand_letter(ctx: Context, demand: LegalDemand, told: Sequence[Told]) -> tuple[str, str]:
    """The subject and text of the one letter telling a person of the disclosures of
    their data under ``demand`` (``told``: theirs, one or more), signed by the
    organisation as its other letters are (no greeting that guesses who they are)."""
    org = ctx.policy.policy.organisation
    lines = [
        f"{org.name} was required by law to disclose some of your personal data."
        + (" The law did not allow us to tell you until now." if demand.gag_until else ""),
        "",
        f"Who required it: {demand.authority}",
        f"Legal instrument: {demand.instrument.value.replace('_', ' ')}",
    ]
    for row in told:
        recipient = ctx.policy.recipients.get(row.recipient)
        lines += [
            "",
            f"Disclosed to: {recipient.name if recipient else row.recipient.replace('_', ' ')}",
            f"Date of disclosure: {local_day(ctx, row.jurisdiction, row.at)}",
            "What was disclosed:",
            *(f"- {words}" for words in category_words(ctx, row.categories)),
        ]
    contact = f" If you have a question, write to {org.contact.email}." if org.contact.email else ""
    lines += [
        "",
        f"You can see every disclosure of your data in our privacy centre.{contact}",
        "",
        org.name,
    ]
    subject = f"{org.name}: your data was disclosed under a legal obligation"
    return subject, "\n".join(lines) + "\n"


def category_words(ctx: Context, categories: Iterable[str]) -> list[str]:
    """The categories as the policy describes them (a built-in one by troth's own
    description; one the policy no longer declares by its id, in words)."""
    out = []
    for c in categories:
        info = ctx.policy.categories.get(c)
        text = info.description.strip().rstrip(".") if info and info.description else ""
        out.append(text or c.replace("_", " "))
    return out


def local_day(ctx: Context, regime: str | None, at: datetime) -> str:
    """The day of ``at`` on the calendar of a person under ``regime`` (its zone, else the
    organisation's), as their letters and privacy centre date everything."""
    from troth.clock import utc
    from troth.collection.validation import person_zone

    return (
        utc(at).astimezone(person_zone(ctx.policy.policy.organisation, regime)).date().isoformat()
    )
