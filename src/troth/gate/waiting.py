"""A policy version published but waiting for its effective date (``PolicyIndex.coming``):
what only it allows is refused ``notice_period_running`` until that instant, with the
message naming when it takes effect; what no version allows is refused as before.

Two shapes of it: a purpose only the waiting version declares (a use, a collection, a
disclosure or a record for it: the version in effect would say ``purpose_not_declared``),
and a change the waiting version makes to a purpose both declare (a category, a
recipient). Pure, like the rest of the gate: :func:`troth.gate.decide` hands itself in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from troth.gate.model import Ask, Decision, Facts, Reason
from troth.policy.index import PolicyIndex

Decide = Callable[[PolicyIndex, Ask, Facts], Decision]

# What a newer version may allow that the one in effect does not (a widening change).
_WIDENING = frozenset(
    {
        Reason.purpose_not_declared,
        Reason.purpose_not_declared_for_category,
        Reason.recipient_not_listed,
        Reason.recipient_category_not_allowed,
    }
)


def waiting_for_next(
    index: PolicyIndex, ask: Ask, facts: Facts, now: Decision, decide: Decide
) -> Decision:
    """``now`` (decided on the version in effect), with each refusal that a waiting
    version lifts said as ``notice_period_running``: it waits for that version's date."""
    if now.reason is Reason.purpose_not_declared:
        return _new_purpose(index, ask, now)
    later_index, starts = index.coming, index.coming_at
    if later_index is None or starts is None:  # pragma: no cover - checked by the caller
        return now
    later = decide(later_index, ask, facts)

    def lifted(cat: str) -> bool:
        return cat in later.categories or later.masked.get(cat) is Reason.notice_period_running

    masked = {
        c: Reason.notice_period_running if r in _WIDENING and lifted(c) else r
        for c, r in now.masked.items()
    }
    if now.allowed or now.reason not in _WIDENING:
        return replace(now, masked=masked)
    if not (later.allowed or later.reason is Reason.notice_period_running):
        return replace(now, masked=masked)
    return Decision(
        False,
        Reason.notice_period_running,
        frozenset(),
        masked,
        f"this {ask.operation.value} for {ask.purpose!r} is a change of policy version"
        f" {later_index.version}, which takes effect on {when(later_index, starts)}:"
        " until then it is refused",
    )


def _new_purpose(index: PolicyIndex, ask: Ask, now: Decision) -> Decision:
    """A purpose the version in effect does not declare: ``notice_period_running`` when a
    version waiting for its date declares it (whoever asks, and whatever that version will
    then decide: before that instant the purpose serves nothing), naming the version and
    the instant; ``now`` (``purpose_not_declared``) when none does."""
    coming = waiting_version(index, lambda later: ask.purpose in later.purposes)
    if coming is None:
        return now
    return Decision.deny(
        Reason.notice_period_running,
        f"purpose {ask.purpose!r} comes with {coming}: until then nothing may be done for it",
    )


def when(index: PolicyIndex, starts: datetime) -> str:
    """The instant a version takes effect, in the organisation's time zone."""
    return f"{starts.astimezone(index.policy.organisation.zone()):%Y-%m-%d %H:%M %Z}"


def waiting_version(index: PolicyIndex, allows: Callable[[PolicyIndex], bool]) -> str | None:
    """ "policy version V, which takes effect on WHEN" for the first version waiting for its
    effective date that ``allows`` what the one in effect does not (a collection point, a
    purpose of a point); None when none does."""
    before = index  # each version knows the one after it and when that one starts
    while before.coming is not None and before.coming_at is not None:
        later, starts = before.coming, before.coming_at
        if allows(later):
            return f"policy version {later.version}, which takes effect on {when(later, starts)}"
        before = later
    return None
