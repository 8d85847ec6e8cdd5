"""What troth tells the requester about their request, at each step (plain text mail); what
they asked for is in their kind's words (its handler's). For a request made on someone
else's behalf the requester is the agent (``agent``): the letters say so, and the person
gets only ``for_you`` (their data was changed on their behalf).

Every letter is signed by who asks: the organisation, or for a customer's (tenant's)
request "<customer>, a customer of <organisation>", and the acknowledgement and the code
name that customer in their subject, so a person can tell who asks (trial 7: a customer's
key made troth mail anyone, from an address naming no one)."""

from __future__ import annotations

from typing import Any


def letter(
    what: str,
    org: str,
    request_id: str,
    kind: str,
    *,
    agent: bool = False,
    customer: str | None = None,
    **facts: Any,
) -> tuple[str, str]:
    """(subject, body) of the mail ``what`` about a request (``agent``: to the agent;
    ``customer``: the tenant on whose behalf the request is handled, by name), signed."""
    from troth.requests.kinds import handler_for

    try:
        asked = handler_for(kind).words
    except (ValueError, KeyError):  # not a kind troth knows: said as it is
        asked = kind
    if agent:
        asked = asked.replace("your ", "their ")
    ref = f"Reference: {request_id}"
    subject, body = _letter(what, org, asked, ref, agent=agent, customer=customer, **facts)
    by = f"{customer}, a customer of {org}" if customer else org
    return subject, f"{body}\n{by}\n"


def _letter(
    what: str,
    org: str,
    asked: str,
    ref: str,
    *,
    agent: bool,
    customer: str | None,
    **facts: Any,
) -> tuple[str, str]:
    if what == "for_you":
        by = f" by {facts['by']}" if facts.get("by") else ""
        return (
            f"A request about your data was carried out ({asked})",
            f"A request for {asked} was made on your behalf{by}. Our privacy office checked"
            " that they may act for you, and the request is now done. If you did not ask"
            f" anyone to act for you, contact {org} at once.\n\n{ref}\n",
        )
    asker = f"{customer}, a customer of {org}," if customer else ""
    if what == "ack":
        return (
            f"{asker} received your request ({asked})"
            if customer
            else f"We received your request ({asked})",
            f"We received your request for {asked} on {facts['received']}.\n"
            f"We will answer by {facts['due']} at the latest.\n\n{ref}\n",
        )
    if what == "code":
        return (
            f"Your confirmation code for {asker} about your request"
            if customer
            else "Your confirmation code",
            f"To confirm that the request for {asked} is yours, enter this code:\n\n"
            f"    {facts['code']}\n\nIt works for {facts['minutes']} minutes. If you did not"
            f" make this request, ignore this message: nothing will happen.\n\n{ref}\n",
        )
    if what == "behalf":
        return (
            f"Your request ({asked}) needs a check",
            "The request says it is made on someone else's behalf. Our privacy office will"
            " check that you may act for them before anything is done, and may contact you."
            " Until then nothing about them is given to you."
            f"\n\n{ref}\n",
        )
    if what == "extended":
        return (
            f"More time needed for your request ({asked})",
            f"We need more time to answer: {facts['reason']}\nWe will now answer by"
            f" {facts['due']}.\n\n{ref}\n",
        )
    if what == "delayed":
        return (
            f"Your request ({asked}) is delayed",
            "One of our systems could not be reached while we worked on your request. Nothing"
            " was left half done; we will finish as soon as it is back, and by"
            f" {facts['due']} at the latest.\n\n{ref}\n",
        )
    if what == "deferred":
        return (
            f"Your request ({asked}) is deferred by a legal obligation",
            "We cannot delete your data yet: the law requires us to keep it for now. Until"
            " that obligation ends"
            " we keep it only for that, we use it for nothing else and send you no mail"
            " other than about your requests. As soon as it ends we delete it, without you"
            " asking again, and tell you. This is our answer to your request; you may"
            f" complain to the data protection authority.\n\n{ref}\n",
        )
    if what == "refused":
        return (
            f"We cannot act on your request ({asked})",
            f"We cannot act on your request: {facts['reason']}\nYou may complain to the data"
            f" protection authority.\n\n{ref}\n",
        )
    return _done(asked, ref, agent, facts)


def _done(asked: str, ref: str, agent: bool, facts: dict[str, Any]) -> tuple[str, str]:
    """The "done" letter: the export's link (to the agent: with a mailed confirmation code;
    to the person: with their sign-in), then what was done in each system."""
    lines = [f"Your request for {asked} is done."]
    if facts.get("link") and agent:
        lines.append(
            f"Download the data here (the link works once, until {facts['expires']}; the page"
            " sends a confirmation code to this e-mail address first):\n" + str(facts["link"])
        )
    elif facts.get("link"):
        lines.append(
            f"Download your data here (the link works once, until {facts['expires']}; you"
            f" sign in to our privacy centre with this e-mail address first):\n{facts['link']}"
        )
    for line in facts.get("summary", []):
        lines.append(f"- {line}")
    return (f"Your request is done ({asked})", "\n".join(lines) + f"\n\n{ref}\n")
