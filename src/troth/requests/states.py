"""What a request is and where it stands: kinds, channels, states and the allowed moves.

    received --> identity_unverified --> verified --> in_progress --> completed
        \\--> awaiting_approval (made on someone's behalf: staff verify) --/
    verified, in_progress --> extended (deadline extended, work still to do) --> on as before
    in_progress --> awaiting_hold (an erasure a legal hold blocks) --> in_progress (hold ended)
    in_progress --> verified (cannot be done as asked: waits for the office, the reason kept)
    any open state --> refused

An extension is for a request being handled (GDPR Art. 12(3): "where necessary, taking
into account the complexity and number of the requests"): one whose person's identity is
not verified yet (:data:`UNVERIFIED_STATES`) is not being handled, and cannot be extended.
troth does not stop the clock while identity is unverified: the deadline runs from receipt,
and an extension after verification must still be told inside the first period.

An erasure (deletion, account closure) of a person under a legal hold (on them or their
tenant) waits ``awaiting_hold``: the person has been answered (told it is deferred by a
legal obligation, GDPR Art. 12(4), 17(3)(b)/(e)), so its deadline no longer runs
(:data:`DUE_STATES`), and it is carried out when the hold ends.

A move not in :data:`TRANSITIONS` raises Conflict naming the moves that are allowed.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final, TypeVar

from troth.errors import Conflict, ValidationError

_Choice = TypeVar("_Choice", bound=StrEnum)


class RequestKind(StrEnum):
    """What the person asks for. Stored: never rename a value."""

    access = "access"
    portability = "portability"
    correct = "correct"
    delete = "delete"
    restrict = "restrict"
    object = "object"
    close_account = "close_account"


class Channel(StrEnum):
    """How the request arrived (P27)."""

    self_service = "self_service"
    api = "api"
    email = "email"
    ticket = "ticket"
    staff = "staff"


class RequestState(StrEnum):
    """Where a request stands. Stored: never rename a value."""

    received = "received"
    identity_unverified = "identity_unverified"
    verified = "verified"
    in_progress = "in_progress"
    awaiting_approval = "awaiting_approval"
    extended = "extended"
    # An erasure a legal hold blocks: answered (deferred), carried out when the hold ends.
    awaiting_hold = "awaiting_hold"
    completed = "completed"
    refused = "refused"


S = RequestState
TRANSITIONS: Final[MappingProxyType[RequestState, frozenset[RequestState]]] = MappingProxyType(
    {
        S.received: frozenset({S.identity_unverified, S.awaiting_approval, S.verified, S.refused}),
        S.identity_unverified: frozenset({S.verified, S.awaiting_approval, S.refused}),
        S.awaiting_approval: frozenset({S.verified, S.refused}),
        S.verified: frozenset({S.in_progress, S.extended, S.refused}),
        # An extended request goes on as before. (A request extended while unverified, as
        # troth allowed before, is verified from here like any other.)
        S.extended: frozenset(
            {S.identity_unverified, S.awaiting_approval, S.verified, S.in_progress, S.refused}
        ),
        # in_progress -> in_progress: a run interrupted by a connected database resumes;
        # -> verified: a run that cannot be carried out as asked waits for the office.
        S.in_progress: frozenset(
            {S.in_progress, S.verified, S.completed, S.extended, S.awaiting_hold, S.refused}
        ),
        S.awaiting_hold: frozenset({S.in_progress, S.refused}),
        S.completed: frozenset(),
        S.refused: frozenset(),
    }
)

OPEN_STATES: Final = frozenset(s for s, moves in TRANSITIONS.items() if moves)
UNVERIFIED_STATES: Final = frozenset({S.received, S.identity_unverified, S.awaiting_approval})
"""Open, and the person's identity not verified yet: nothing runs and no extension."""
DUE_STATES: Final = OPEN_STATES - {S.awaiting_hold}
"""Open and not answered yet: the legal deadline runs (due and overdue lists count these).
An erasure waiting for a legal hold was answered when it was deferred."""


def check_transition(request_id: str, current: RequestState, new: RequestState) -> None:
    """Raise Conflict unless a request in ``current`` may move to ``new``."""
    allowed = TRANSITIONS[current]
    if new not in allowed:
        if not allowed:
            raise Conflict(
                f"request {request_id} is {current} and closed: nothing more can happen to it;"
                " open a new request",
                code="request_closed",
                state=current.value,
            )
        raise Conflict(
            f"request {request_id} is {current}: it cannot become {new}"
            f" (from {current} it can become {', '.join(sorted(allowed))})",
            code="illegal_transition",
            state=current.value,
        )


def parse_choice(choices: type[_Choice], value: str, what: str, code: str | None = None) -> _Choice:
    """``value`` as one of ``choices``; else a ValidationError (``code``, by default
    ``invalid_input``) naming every one of them."""
    try:
        return choices(value)
    except ValueError:
        known = ", ".join(c.value for c in choices)
        raise ValidationError(f"unknown {what} {value!r}: use one of {known}", code=code) from None


def parse_kind(value: str) -> RequestKind:
    return parse_choice(RequestKind, value, "request kind", "unknown_kind")


def parse_channel(value: str) -> Channel:
    return parse_choice(Channel, value, "channel", "unknown_channel")
