"""The shapes the HTTP API returns (they make the OpenAPI schema), and the base of the bodies
it takes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from troth.consent import ConsentRecord, ConsentStatus
from troth.engine import CollectResult, View


class BodyIn(BaseModel):
    """What a request's body may hold: a field the API does not declare is a 422, never
    dropped in silence (a misspelt option would otherwise fall back to its default)."""

    model_config = ConfigDict(extra="forbid")


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _instant_text(value: Any) -> Any:
    """A date-time arrives as ISO 8601 text: a bare number would be read as a Unix time in
    seconds or milliseconds (lax parsing), which changes its meaning silently."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_INSTANT.match(value)):
        return value
    raise ValueError("write an ISO 8601 date-time with its offset, e.g. 2026-01-05T09:00:00Z")


def _day_text(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.match(value)):
        return value
    raise ValueError("write a date as YYYY-MM-DD")


def _day_or_time_text(value: Any) -> Any:
    """A date or a date-time (its offset optional) as ISO 8601 text, parsed here as the
    command line parses it; a number (a Unix time to lax parsing) is refused."""
    if isinstance(value, date):  # a datetime too
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if _ISO_DAY.match(text):
                return date.fromisoformat(text)
            if _ISO_INSTANT.match(text):
                return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(
        "write an ISO 8601 date-time, e.g. 2026-12-18T16:30 or 2026-12-18T16:30+13:00,"
        " or a date as YYYY-MM-DD"
    )


Instant = Annotated[AwareDatetime, BeforeValidator(_instant_text)]
"""A date-time with its offset, in ISO 8601 text (never a Unix time)."""
Day = Annotated[date, BeforeValidator(_day_text)]
"""A date as ``YYYY-MM-DD`` text (never a Unix time)."""
DayOrTime = Annotated[datetime | date, BeforeValidator(_day_or_time_text)]
"""A date, or a date-time with or without its offset, in ISO 8601 text (never a Unix
time); the caller reads a date or a time without an offset in its own zone."""

ID_CUT = 64
"""How much of an over-long id troth reads (an id is 32 characters; one of another
kind, a key's, at most 64)."""


def _cut_id(value: Any) -> Any:
    """An id longer than :data:`ID_CUT` is read as its first 64 characters and an ellipsis
    (it names nothing): answered as any unknown or malformed id is, the same 404, never a
    422 that tells the length rule apart (trial 18, F6), nor an echo of a caller's megabyte."""
    if isinstance(value, str) and len(value) > ID_CUT:
        return value[:ID_CUT] + "\u2026"
    return value


CutId = BeforeValidator(_cut_id)
"""Put in an id's ``Annotated`` type (a path's, a body's, a query's): see :func:`_cut_id`."""
IdText = Annotated[str, CutId, Field(min_length=1, max_length=ID_CUT + 1)]
"""An id in a body or a query (a person's, a tenant's...)."""


class Problem(BaseModel):
    """RFC 9457 problem details, with troth's stable ``code`` and the gate's ``reason``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    reason: str | None = None


class CollectOut(BaseModel):
    subject_id: str
    stored: int
    purposes: list[str]
    jurisdiction: str = Field(
        description="The person's jurisdiction as recorded: a new person's is the one sent,"
        " else the policy's default_jurisdiction, else the first of its jurisdictions; a"
        " person already known keeps theirs. Their deadlines, minimum age and time zone"
        " follow from it."
    )
    dropped_purposes: dict[str, str] = Field(
        description="Purposes the data was not bound to, with the reason (e.g. no_consent)."
    )

    @classmethod
    def of(cls, r: CollectResult) -> CollectOut:
        return cls(
            subject_id=r.subject_id,
            stored=r.stored,
            purposes=list(r.purposes),
            jurisdiction=r.jurisdiction,
            dropped_purposes=dict(r.dropped_purposes),
        )


class ValueOut(BaseModel):
    field: str
    category: str
    value: Any
    collection_point: str | None
    purposes: list[str]
    source: str
    supplier: str | None
    policy_version: str
    location: str
    collected_at: str
    restricted_to: str | None
    restricted_until: str | None


class ViewOut(BaseModel):
    subject_id: str
    purpose: str
    values: list[ValueOut]
    masked: dict[str, str] = Field(description="Field -> reason code it was withheld.")

    @classmethod
    def of(cls, v: View) -> ViewOut:
        return cls(
            subject_id=v.subject_id,
            purpose=v.purpose,
            values=[ValueOut(**x.to_dict()) for x in v.values],
            masked=dict(v.masked),
        )


class FoundOut(BaseModel):
    subject_id: str


class ConsentOut(BaseModel):
    event_id: int
    subject_id: str
    purpose: str
    kind: str
    granted: bool
    at: datetime
    receipt_id: str | None = None
    receipt_jws: str | None = Field(default=None, description="Kantara v1.1 receipt, as a JWS.")


def consent_out(r: ConsentRecord) -> ConsentOut:
    return ConsentOut.model_validate(r, from_attributes=True)


class PurposeConsentOut(BaseModel):
    purpose: str
    granted: bool
    kind: str
    policy_version: str
    at: datetime


class ConsentStateOut(BaseModel):
    subject_id: str
    purposes: list[PurposeConsentOut]

    @classmethod
    def of(cls, subject_id: str, state: Mapping[str, ConsentStatus]) -> ConsentStateOut:
        return cls(
            subject_id=subject_id,
            purposes=[
                PurposeConsentOut.model_validate(s, from_attributes=True)
                for s in sorted(state.values(), key=lambda s: s.purpose)
            ],
        )


class AuditEntryOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    outcome: str
    subject_id: str | None
    tenant_id: str | None
    purpose: str | None
    categories: list[str]
    reason: str | None
    details: dict[str, Any]
    leaf_hash: str


class Page(BaseModel):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next one."""

    next_cursor: str | None = None


class AuditPage(Page):
    items: list[AuditEntryOut]
