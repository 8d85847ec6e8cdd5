"""What the privacy centre tells a person, in plain words: who accessed their data, as a
sentence built from the policy (role, category and purpose descriptions), never staff
ids or troth's internal action names; and what is held, one record per collection (a
call, an order, a form) with its fields together, masked where the policy says.

Which audit entries a person sees (see README, "The privacy centre"):

* shown: collection (``collect``), reads and refused reads of their data (``use``),
  disclosures (``disclose``, minus those under a live non-disclosure order, which
  :func:`troth.disclosures.gags.person_entries` has already left out), consent changes
  (``consent.*``), their requests' steps (``request.*``), sign-ins to the privacy centre
  and wrong codes (``privacy.signin``), deletions when a keeping period ends
  (``retention.*``), and exports of their organisation's data (``tenant.export``);
* not shown: their own page views (``privacy.view``), troth's mail bookkeeping
  (``mail.*``, ``outbox.*``), key and index maintenance, legal holds and office actions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from troth.access.who import Acting, who_acted
from troth.audit.entry import AuditEntry
from troth.consent.events import COOKIE_PREFIX
from troth.policy.index import PolicyIndex
from troth.policy.masking import shown
from troth.store.values import StoredValue
from troth.web.words import USE_OF, as_use, listing
from troth.web.words import id_words as words

HIDDEN_PREFIXES = ("privacy.view", "privacy.signin_code", "mail.", "outbox.", "keys.", "store.")
SHOWN_PREFIXES = (
    "collect",
    "use",
    "disclose",
    "consent.",
    "request.",
    "privacy.signin",
    "retention.",
    "minor.erase",
)

# How staff took a consent or a withdrawal (troth.consent.events.CHANNELS), in words.
CHANNELS = {
    "phone": " by phone",
    "paper": " on paper",
    "in_person": " in person",
    "letter": " by letter",
    "email": " by e-mail",
    "chat": " by chat",
    "video": " by video call",
}
REQUEST_STEPS = {
    "open": "We received your request",
    "verified": "We confirmed that the request came from you",
    "download": "The copy of your data was downloaded",
    "locked": "We started working on your request",
    "interrupted": "Work on your request was interrupted; we will resume it",
    "deferred": "The law requires us to keep your data for now: we limited our use of it"
    " and will delete it as soon as that obligation ends",
    "restriction_lifted": "The limit on our use of your data ended",
    "log_purged": "We deleted the working notes of a finished request",
    "customer_told": "You asked us about your data, and we told the customer who holds this"
    " record that you asked (they decide about it)",
}
REQUEST_KINDS = {
    "access": "We gathered a copy of your data",
    "portability": "We gathered a copy of your data to take elsewhere",
    "delete": "We deleted your data, as you asked",
    "erase": "We deleted your data, as you asked",
    "correct": "We corrected your data, as you asked",
    "restrict": "We limited our use of your data, as you asked",
    "object": "We stopped the use of your data you objected to",
}


@dataclass(frozen=True)
class Access:
    """One line of "who accessed your data": when, the sentence, and whether refused."""

    at: datetime
    sentence: str
    refused: bool = False


class Narrator:
    """Turns audit entries about one person into sentences. ``acting(label)`` says what
    the words need of an entry's actor (a staff member's role, the customer a member or an
    API key acts for: :func:`troth.access.who.acting_in`); it is asked once per actor."""

    def __init__(
        self, index: PolicyIndex, subject_id: str, acting: Callable[[str], Acting]
    ) -> None:
        self.index = index
        self.subject_id = subject_id
        self._acting = acting
        self._seen: dict[str, Acting] = {}

    # -- the parts of a sentence ---------------------------------------------------------
    def who(self, actor: str) -> str:
        """Who acted, in the person's words (:func:`troth.access.who.who_acted`): our
        staff, administrators or systems; a customer's staff or systems by its name."""
        return who_acted(actor, self.subject_id, self.index, self._looked_up)

    def _looked_up(self, label: str) -> Acting:
        if label not in self._seen:
            self._seen[label] = self._acting(label)
        return self._seen[label]

    def what(self, categories: Iterable[str]) -> str:
        cats = sorted(set(categories))
        return f"your {listing(words(c) for c in cats)} details" if cats else "your data"

    def why(self, purpose: str | None) -> str:
        """The end of a read's or a disclosure's sentence: " for this use of your data:
        <the purpose as the policy describes it>" ("" when there is no purpose)."""
        return f" for {self.use_of(purpose)}" if purpose else ""

    # -- sentences -----------------------------------------------------------------------
    def sentence(self, e: AuditEntry) -> str | None:
        """The entry in words, or None when the person is not shown it. A refused entry
        is always told as a refused attempt (:meth:`refused`), never as what it asked for."""
        action = e.action
        if action.startswith(HIDDEN_PREFIXES) or not action.startswith(SHOWN_PREFIXES):
            return None
        if e.outcome == "deny":
            return self.refused(e)
        who, what, why = self.who(e.actor), self.what(e.categories), self.why(e.purpose)
        details: Mapping[str, Any] = e.details or {}
        if action == "collect":
            return f"We recorded {what}{self.source(details)}."
        # The purpose's description ends the sentence, after a colon: it reads well
        # whatever its form (a verb phrase, a noun phrase, a sentence of its own).
        if action == "use":
            return f"{who} read {what}{why}."
        if action == "disclose":
            return f"{who} passed {what} to {self.recipient(details)}{why}."
        if action.startswith("consent."):
            return self.consent(action.removeprefix("consent."), e.purpose or "", details, e.actor)
        if action.startswith("request."):
            step = action.removeprefix("request.")
            text = REQUEST_STEPS.get(step) or REQUEST_KINDS.get(step)
            return f"{text}." if text else "Your request moved on."
        if action == "privacy.signin":
            return "You signed in to the privacy centre."
        if action == "minor.erase_interrupted":
            return f"Deleting {what} was interrupted; we will finish it."
        if action.startswith(("retention.", "minor.erase")):
            return f"We deleted {what} because the time we may keep it had ended."
        return None

    def refused(self, e: AuditEntry) -> str:
        """A refused attempt, told as an attempt that was refused: who asked (another
        customer of ours, unnamed, when the gate refused it as not theirs) and what for.
        Shown even when it revealed nothing and changed nothing: someone tried to act on
        the person's data, and they may want to know (README, "The privacy centre")."""
        action, details = e.action, e.details or {}
        who = self.who(e.actor)
        if e.reason == "not_a_member" and not e.actor.startswith("subject:"):
            who = "Another organisation using our service"
        what, why = self.what(e.categories or self.collected(details)), self.why(e.purpose)
        if action == "collect":
            source = self.source(details)
            return f"{who} asked to record {what}{source}. This was refused: nothing was kept."
        if action == "use":
            return f"{who} asked to read {what}{why}. This was refused."
        if action == "disclose":
            to = self.recipient(details)
            return f"{who} asked to pass {what} to {to}{why}. This was refused."
        if action.startswith("consent."):
            use = self.use_of(e.purpose) if e.purpose else "your consents"
            return f"{who} asked to change your consent to {use}. This was refused."
        if action == "request.locked":
            return (
                "Too many wrong confirmation codes were typed for your request. They were"
                " refused, and the request waits for our staff to confirm it is you."
            )
        if action.startswith("request."):
            return f"{who} asked to make a request about your data. This was refused."
        if action == "privacy.signin":
            return "Someone typed a wrong sign-in code for your address. This was refused."
        return f"{who} asked to delete {what}. This was refused."

    def source(self, details: Mapping[str, Any]) -> str:
        """ " (<the collection point's description>)", or "" when it has none."""
        point = self.index.points.get(str(details.get("point", "")))
        return f" ({point.description.rstrip('.')})" if point and point.description else ""

    def collected(self, details: Mapping[str, Any]) -> tuple[str, ...]:
        """The categories of the fields a collection names (a refused one logs its field
        but no categories: nothing was stored)."""
        declared = self.index.point_fields.get(str(details.get("point", "")), {})
        named = [details.get("field"), *(details.get("fields") or ())]
        return tuple(declared[f].category for f in named if f in declared)

    def recipient(self, details: Mapping[str, Any]) -> str:
        r = self.index.recipients.get(str(details.get("recipient", "")))
        return r.name if r is not None else "another organisation"

    def use_of(self, purpose: str) -> str:
        """The end of a consent, read or disclosure sentence: "this use of your data:
        <the purpose as the policy describes it>" (a description may be a verb phrase, a
        noun phrase or a sentence of its own; after the colon each reads well)."""
        p = self.index.purposes.get(purpose)
        text = as_use(p.description or "") if p is not None else ""
        return f"{USE_OF}{text or words(purpose).capitalize()}"

    def consent(
        self, kind: str, purpose: str, details: Mapping[str, Any], actor: str = ""
    ) -> str | None:
        """A consent event (``consent.KIND``) told to the person it is about. A grant or a
        withdrawal they made themself (``actor`` is them) is theirs: "You gave consent";
        one someone else recorded says who (:meth:`who`): "Lakeshore Clinic's systems
        recorded that you agreed", never that the person gave it. None for what is not one
        person's event (a refused change, an import summed up over many people, a
        rebuild)."""
        granted = details.get("granted")
        if not isinstance(granted, bool):
            return None
        if purpose.startswith(COOKIE_PREFIX):
            cookies = f"{words(purpose.removeprefix(COOKIE_PREFIX))} cookies"
            if kind == "gpc_opt_out":
                return f"Your browser's Global Privacy Control signal turned off {cookies}."
            return f"You {'allowed' if granted else 'refused'} {cookies}."
        use = self.use_of(purpose)
        how = CHANNELS.get(str(details.get("channel")), "")
        if kind == "gpc_opt_out":
            return f"Your browser's Global Privacy Control signal opted you out of {use}."
        if kind == "unsubscribe":
            name = str(details.get("list_id") or "")
            of = f" from our {words(name)} list" if name else ""
            return f"You unsubscribed{of}, which ended {use}."
        if kind == "erasure":
            return f"When your data was erased, we ended {use}."
        if kind == "import" or details.get("method") == "import":
            done = "gave consent to" if granted else "withdrew consent to"
            return f"Our earlier records show that you {done} {use}."
        if details.get("request_id") and not granted:
            return f"At your request, we stopped {use}."
        who = self.who(actor) if actor else "You"
        if who != "You":
            done = "agreed" if granted else "withdrew consent"
            return f"{who} recorded that you {done}{how} to {use}."
        return f"You {'gave' if granted else 'withdrew'} consent{how} to {use}."

    def accesses(self, entries: Iterable[Any]) -> list[Access]:
        out = []
        for logged in entries:
            e: AuditEntry = logged.entry
            text = self.sentence(e)
            if text is not None:
                out.append(Access(logged.at, text, e.outcome == "deny"))
        return out


# -- what is held, record by record ------------------------------------------------------
@dataclass(frozen=True)
class Field:
    label: str
    value: Any
    category: str


@dataclass(frozen=True)
class Record:
    """The values one collection stored (one call, one order, one form)."""

    title: str
    collected_at: datetime
    fields: tuple[Field, ...]
    why: tuple[str, ...]  # purpose descriptions
    categories: tuple[str, ...]  # category ids, in words on the page


def _why(index: PolicyIndex, purpose: str, kept_until: date | None) -> str:
    """A purpose in words; for a value kept after an erasure, how long and why."""
    said = index.purposes[purpose].description if purpose in index.purposes else words(purpose)
    if kept_until is None:
        return said
    return f"{said} (only this, until {kept_until.isoformat()}: the law requires us to keep it)"


def records(index: PolicyIndex, values: Iterable[StoredValue]) -> list[Record]:
    """Values grouped into records (same collection point, same moment), newest first;
    each field labelled from the policy and masked where its field declares a mask."""
    # One collection stores its values together, in id order, at one moment: a new record
    # starts when the point or the moment changes, or a field comes round again (two
    # collections in the same instant, e.g. a batch of calls imported at once).
    groups: list[tuple[tuple[str, datetime], list[StoredValue]]] = []
    for v in sorted(values, key=lambda x: x.id):
        key = (v.collection_point or "", v.collected_at)
        if not groups or groups[-1][0] != key or any(v.field == w.field for w in groups[-1][1]):
            groups.append((key, []))
        groups[-1][1].append(v)
    out = []
    for (point_id, at), vs in groups:
        point = index.points.get(point_id)
        declared = index.point_fields.get(point_id, {})
        fields = []
        for v in sorted(
            vs, key=lambda x: list(declared).index(x.field) if x.field in declared else 999
        ):
            d = declared.get(v.field)
            label = (
                d.description if d is not None and d.description else words(v.field).capitalize()
            )
            fields.append(
                Field(label, shown(index, v.collection_point, v.field, v.value), v.category)
            )
        # A value an erasure kept for a legal obligation serves that purpose alone, until
        # the law's minimum ends: that, not what it was first collected for, is why.
        kept = {v.restricted_to: v.restricted_until for v in vs if v.restricted_to}
        purposes = sorted(
            {p for v in vs for p in ((v.restricted_to,) if v.restricted_to else v.purposes)}
        )
        out.append(
            Record(
                title=(point.description or words(point_id)).rstrip(".")
                if point is not None
                else words(point_id or "other data").capitalize(),
                collected_at=at,
                fields=tuple(fields),
                why=tuple(_why(index, p, kept.get(p)) for p in purposes),
                categories=tuple(sorted({v.category for v in vs})),
            )
        )
    out.sort(key=lambda r: r.collected_at, reverse=True)
    return out
