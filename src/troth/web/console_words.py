"""Audit actions in words for the console: the one place the person page's trail and the
audit list (page and CSV) turn ``use``, ``mail.queued`` or ``office.read_audit`` into
what an officer reads ("read their data for support"). The raw action stays beside it
as a copyable detail and as the filter's value.

A sentence's subject is the actor ("Olive", shown before it); the person it is about is
"them" on the person's own page, "the person" in the audit list, and "people" where an
entry names nobody. The privacy centre tells the person themself in its own words
(:mod:`troth.web.privacy_words`)."""

from __future__ import annotations

from typing import Any

from troth.web.words import id_words

# "{them}" and "{their}" stand for the person the entry is about.
_VERBS = {
    "use": "read {their} data",
    "collect": "collected data from {them}",
    "disclose": "disclosed {their} data",
    "read_lookup": "looked {them} up",
    "read_consents": "read {their} consents",
    "read_disclosures": "read {their} disclosures",
    "read_requests": "read {their} requests",
    "read_holds": "read {their} legal holds",
    "read_audit": "read {their} audit trail",
    "change_consents": "changed {their} consents",
    "change_disclosures": "changed {their} disclosures",
    "change_requests": "changed {their} requests",
    "change_holds": "changed {their} legal holds",
    "consent.grant": "recorded {their} consent",
    "consent.withdraw": "recorded {their} withdrawal of consent",
    "consent.refused": "refused a consent change for {them}",
    "consent.import": "imported {their} consent",
    "consent.rebuild": "rebuilt the consent records",
    "mail.queued": "queued an e-mail to {them}",
    "mail.sent": "sent {them} an e-mail",
    "mail.failed": "could not send {them} an e-mail",
    "mail.refused": "refused to send {them} an e-mail",
    "mail.suppressed": "held back an e-mail to {them}",
    "request.open": "opened a request from {them}",
    "request.verified": "confirmed that {their} request came from {them}",
    "request.download": "downloaded the copy of {their} data",
    "request.locked": "started work on {their} request",
    "request.started": "started work on {their} request",
    "request.completed": "completed {their} request",
    "request.interrupted": "was interrupted working on {their} request",
    "request.log_purged": "deleted the working notes of {their} request",
    "request.restriction_lifted": "lifted the limit on the use of {their} data",
    "request.customer_told": "told the customer who holds {their} record of a request to us",
    "restriction.placed": "limited the use of {their} data",
    "request.access": "gathered a copy of {their} data",
    "request.portability": "gathered a copy of {their} data to take elsewhere",
    "request": "worked on {their} request",
    "policy.publish": "published a policy version",
    "breach.record": "recorded a breach",
    "breach.regulator_notified": "marked the authority told of a breach",
    "breach.notified": "marked the authority told of a breach",
    "breach.individuals_notified": "told {them} of a breach",
    "breach.exclude": "left {them} out of a breach",
    "breach.delete": "deleted a breach record",
    "breach": "worked on a breach",
    "office.manage_requests": "opened the request desk",
    "office.read_audit": "read the audit log",
    "office.manage_breaches": "opened the breach register",
    "office.legal_demands": "opened the legal demands",
    "office.publish_policy": "worked on the policy",
    "office.run_retention": "worked on the retention plan",
    "office.manage_holds": "worked on legal holds",
    "office.manage_tenants": "administered customers",
    "office.run_discovery": "ran discovery",
    "privacy.signin": "signed in to the privacy centre",
    "privacy.signin_code": "sent {them} a sign-in code",
    "privacy.view": "viewed the privacy centre",
    "retention.held": "kept {their} data under a legal hold",
    "retention": "deleted {their} data at the end of its keeping period",
    "minor.erase": "erased a minor's data",
    "minor.erase_interrupted": "was interrupted erasing a minor's data",
    "tenant.export": "exported a customer's data",
    "tenant.offboard.start": "started offboarding a customer",
    "tenant.offboard.erase": "erased an offboarded customer's people",
    "tenant.offboard.certificate": "issued an offboarding certificate",
    "keys.rotate": "rotated the encryption keys",
    "store.reindex": "rebuilt the search index",
    "outbox.scrub": "scrubbed sent mail",
    "metrics.read": "read the metrics",
    "discovery.scan": "scanned a database for personal data",
}

_PEOPLE = {
    "them": ("them", "their"),
    "the person": ("the person", "the person's"),
    "people": ("people", "people's"),
}


def action_words(action: str, purpose: str | None = None, *, about: str = "them") -> str:
    """``action`` (an audit entry's) as what the actor did, "for <purpose>" where the
    entry has one. ``about``: "them" (the person's own page), "the person" (a list with
    the person beside it) or "people" (an entry about nobody in particular). An action
    not known here reads as its id in words."""
    them, their = _PEOPLE.get(about, _PEOPLE["them"])
    verb = _VERBS.get(action)
    if verb is None:
        head = action.rsplit(".", 1)[0] if "." in action else action
        verb = _VERBS.get(head) or id_words(action.replace(".", " "))
    said = verb.format(them=them, their=their)
    return f"{said} for {id_words(purpose)}" if purpose else said


# Problems whose message is written for the CLI and the API (a flag, a JSON field) told in
# the console's words: what to do on a console page instead.
_PROBLEMS = {
    "ambiguous_person": "That {field} belongs to several people, at different customers."
    " Search it under People: the search lists each person you may see, with their customer.",
}


def problem_words(body: dict[str, Any]) -> dict[str, Any]:
    """A problem document as the console tells it (the same code, status and reason)."""
    words = _PROBLEMS.get(str(body.get("code")))
    if words is None:
        return body
    field = str(body.get("field") or "identifier").replace("_", " ")
    return body | {"detail": words.format(field="e-mail address" if field == "email" else field)}
