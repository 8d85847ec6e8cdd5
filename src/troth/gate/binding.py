"""Binding stored values to purposes: may a value, collected at a point for purposes
under a policy version, serve this purpose now (P02, P03, P07, P08, P25)?"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from troth.gate.model import Facts, Reason
from troth.policy.index import PolicyIndex
from troth.policy.model import LegalBasis


def bind_record(
    index: PolicyIndex,
    purpose: str,
    *,
    category: str,
    point: str | None,
    record_purposes: tuple[str, ...] | list[str],
    source_third_party: bool,
    collected_at: datetime,
    collected_under: str,
    now: datetime,
    notices: Mapping[tuple[str, str, str], tuple[datetime, bool, str]],
    consented: frozenset[str] = frozenset(),
) -> Reason | None:
    """May a stored value serve ``purpose``? Data is bound to the purposes it was collected
    for: the point's, narrowed by the collection (P02); third-party data only to the
    purpose it was supplied for (P03). A consent purpose of the point the value was not
    bound to serves it once the person consents (P07).
    A purpose a later policy version added to the point is a new use: it waits for the
    notice period from publication (P08) and, where the policy says so, for fresh
    consent (P07)."""
    if purpose in record_purposes:
        return None
    if source_third_party:
        return Reason.purpose_not_of_collection
    if (
        point is None
        or purpose not in index.point_purposes.get(point, frozenset())
        or not index.purpose_allows(purpose, category)
    ):
        later = index.coming
        if later is not None and point is not None:
            # A version waiting for its effective date gives the point this purpose.
            found = bind_record(
                later,
                purpose,
                category=category,
                point=point,
                record_purposes=record_purposes,
                source_third_party=source_third_party,
                collected_at=collected_at,
                collected_under=collected_under,
                now=now,
                notices=notices,
                consented=consented,
            )
            if found in (None, Reason.notice_period_running):
                return Reason.notice_period_running
        return Reason.purpose_not_of_collection
    notice = notices.get((point, purpose, category))
    if notice is None or collected_under == notice[2] or collected_at > notice[0]:
        # Not a new use: the point had this purpose when the value was collected, and the
        # value was not bound to it (the collection was narrowed to other purposes, or the
        # collector could not act for it). Only a consent purpose may serve it later, once
        # the person consents (the gate checks the consent); any other stays unbound, as
        # the collection's answer (``not_for``) said.
        if index.purposes[purpose].legal_basis is LegalBasis.consent:
            return None
        return Reason.purpose_not_of_collection
    posted, needs_consent, _version = notice
    if now < posted + timedelta(days=index.policy.notices.notice_period_days):
        return Reason.notice_period_running
    if needs_consent and purpose not in consented:
        return Reason.no_consent
    return None


class StoredValueLike(Protocol):
    """What the gate needs to know of a stored value (``troth.store.values.StoredValue``)."""

    @property
    def category(self) -> str: ...
    @property
    def collection_point(self) -> str | None: ...
    @property
    def purposes(self) -> tuple[str, ...]: ...
    @property
    def source(self) -> str: ...
    @property
    def collected_at(self) -> datetime: ...
    @property
    def policy_version(self) -> str: ...
    @property
    def restricted_to(self) -> str | None: ...


def value_reason(
    index: PolicyIndex, value: StoredValueLike, purpose: str, now: datetime, facts: Facts
) -> Reason | None:
    """Why a stored value may not serve ``purpose`` now, or None: kept only for a legal
    obligation (P25), or not bound to the purpose (:func:`bind_record`). Every read of
    stored values (use, disclosure, export) asks this same question."""
    if value.restricted_to is not None and value.restricted_to != purpose:
        return Reason.kept_for_legal_obligation
    return bind_record(
        index,
        purpose,
        category=value.category,
        point=value.collection_point,
        record_purposes=value.purposes,
        source_third_party=value.source == "third_party",
        collected_at=value.collected_at,
        collected_under=value.policy_version,
        now=now,
        notices=facts.notices,
        consented=facts.consented,
    )
