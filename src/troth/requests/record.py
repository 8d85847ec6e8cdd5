"""What a request looks like to callers: the record, an ingest report, a download link."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from troth.requests.mailbox import Recognised
from troth.requests.states import DUE_STATES, Channel, RequestKind, RequestState
from troth.store.plain import plain_fields
from troth.store.seals import RecordTampered

# In a request's details: opened at the organisation's own desk though bound to a customer's
# person (``tenant_controller: organisation``). Set by troth only (a caller's is dropped).
RECEIVED_BY = "received_by"
# In a request's details: opened at the organisation's own desk naming a customer's person by
# subject id where the customers decide (``tenant_controller: customer``): that record's id,
# left to its customer, who is told (troth.requests.elsewhere). Set by troth only.
LEFT_TO = "left_to"
MARKS = (RECEIVED_BY, LEFT_TO)


@dataclass(frozen=True)
class RequestRecord:
    """A request as stored (the contact address decrypted)."""

    id: str
    kind: RequestKind
    state: RequestState
    subject_id: str | None
    tenant_id: str | None
    regime: str
    channel: Channel
    on_behalf: bool
    on_behalf_of: str | None
    """The agent's name and capacity, as given ("Mary Byrne, mother")."""
    email: str | None
    """The person's own address (None when named otherwise); never written to for a
    request made on their behalf."""
    received_at: datetime
    received_on: date
    """The day of receipt where the organisation is (its time zone for the regime)."""
    acknowledged_at: datetime | None
    acknowledge_by: date | None
    due_at: date
    extended_due_at: date | None
    extension_reason: str | None
    verified_at: datetime | None
    verified_by: str | None
    verification: str | None
    details: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    closed_at: datetime | None
    code_attempts: int = 0
    codes_sent: int = 0
    agent_email: str | None = None
    """The agent's own address: every letter about a request made on the person's behalf
    goes there."""
    adult_since: date | None = None
    """For a request made on the person's behalf: the day a stored date of birth says they
    turned 18 (:mod:`~troth.requests.coming_of_age`); a parent's authority has ended."""
    tampered: bool = False
    """The row does not match its seal (changed outside troth): no step is taken on it;
    only a list shows it, flagged."""
    unreadable: tuple[str, ...] = ()
    """In a list only: the columns (``requests.details``) holding a value troth never
    writes. The row is ``tampered``; each such field is None (``details`` empty), never
    the value (:mod:`troth.requests.listed`)."""
    # Only on the value execute() returns for an access request: the link's secret.
    download_token: str | None = field(default=None, repr=False)

    @property
    def agent_warning(self) -> str | None:
        """What staff must check before verifying the agent (None: nothing)."""
        from troth.requests.coming_of_age import warning

        return warning(self.adult_since) if self.adult_since else None

    @property
    def customer_received(self) -> bool:
        """Whether a customer (its tenant) received it: its letters say so. One opened at
        the organisation's own desk is the organisation's, whoever the person is."""
        return self.tenant_id is not None and self.details.get(RECEIVED_BY) != "organisation"

    @property
    def deadline(self) -> date:
        """The date the answer is due (the extended one when extended); None only in a
        listed row whose dates troth cannot read (:attr:`unreadable`)."""
        return self.extended_due_at or self.due_at

    def overdue(self, today: date) -> bool:
        """Past its deadline and not answered yet (an erasure waiting for a legal hold to
        end was answered when it was deferred: :data:`~troth.requests.states.DUE_STATES`).
        A row troth cannot read is not counted (it is flagged instead)."""
        if self.unreadable:
            return False
        return self.state in DUE_STATES and self.deadline < today

    @property
    def requester(self) -> str | None:
        """Where letters about the request go: the agent's address for a request made on
        someone else's behalf (None when none is known: then nobody is written to), else the
        person's."""
        return self.agent_email if self.on_behalf else self.email

    def to_dict(self) -> dict[str, Any]:
        omit = (
            "download_token",
            "code_attempts",
            "codes_sent",
            *(() if self.tampered else ("tampered",)),
            *(() if self.unreadable else ("unreadable",)),
        )
        out = plain_fields(self, omit=omit)
        due = self.deadline.isoformat() if self.deadline is not None else None
        return out | {"deadline": due, "agent_warning": self.agent_warning}


class RequestTampered(RecordTampered):
    """A request's row does not match its seal: it was changed outside troth."""


def tampered_request(rec: RequestRecord) -> RequestTampered:
    return RequestTampered(
        f"request {rec.id} does not match its seal: its state, deadline, person, tenant,"
        " verification or result was changed outside troth (a database writer without the"
        " key file; or this key file is not the home's), so no step is taken on it. Run"
        " `troth audit verify`, then restore the request from a backup",
        request_id=rec.id,
        subject_id=rec.subject_id,
        tenant_id=rec.tenant_id,
    )


@dataclass
class IngestReport:
    """What ``ingest`` did with each message."""

    opened: list[RequestRecord] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # paths already ingested
    unrecognised: list[Recognised] = field(default_factory=list)


@dataclass(frozen=True)
class ExportLink:
    token: str
    url: str
    expires_at: datetime
