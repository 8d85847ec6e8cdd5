"""What troth tells the person about their request, at each step (plain text mail); what
they asked for is in their kind's words (its handler's)."""

from __future__ import annotations

from typing import Any


def letter(what: str, org: str, request_id: str, kind: str, **facts: Any) -> tuple[str, str]:
    """(subject, body) of the mail ``what`` about a request."""
    from troth.requests.kinds import handler_for

    try:
        asked = handler_for(kind).words
    except (ValueError, KeyError):  # not a kind troth knows: said as it is
        asked = kind
    ref = f"Reference: {request_id}"
    if what == "ack":
        return (
            f"We received your request ({asked})",
            f"We received your request for {asked} on {facts['received']}.\n"
            f"We will answer by {facts['due']} at the latest.\n\n{ref}\n",
        )
    if what == "code":
        return (
            "Your confirmation code",
            f"To confirm that the request for {asked} is yours, enter this code:\n\n"
            f"    {facts['code']}\n\nIt works for {facts['minutes']} minutes. If you did not"
            f" make this request, ignore this message: nothing will happen.\n\n{ref}\n",
        )
    if what == "behalf":
        return (
            f"Your request ({asked}) needs a check",
            "The request says it is made on someone else's behalf. Our privacy office will"
            " check that you may act for them before anything is done, and may contact you."
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
            "We cannot delete your data yet: the law requires us to keep it for now (for"
            " example for legal proceedings or an investigation). Until that obligation ends"
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
    lines = [f"Your request for {asked} is done."]
    if facts.get("link"):
        lines.append(
            f"Download your data here (the link works once, until {facts['expires']}; you"
            f" sign in to our privacy centre with this e-mail address first):\n{facts['link']}"
        )
    for line in facts.get("summary", []):
        lines.append(f"- {line}")
    return (f"Your request is done ({asked})", "\n".join(lines) + f"\n\n{ref}\n")
