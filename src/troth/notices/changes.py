"""What a new version of the policy changes for data already held (P07, P08, P34).

The new uses it allows, the consent purposes whose notice changed, the first day a
material change may take effect, and the digest a publish confirmation is bound to.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta

from troth.policy.changes import PolicyDiff
from troth.policy.index import PolicyIndex
from troth.policy.model import LegalBasis, Policy


def new_uses(old: PolicyIndex, new: PolicyIndex) -> list[tuple[str, str, str]]:
    """(point, purpose, category) triples the new policy lets data already collected serve
    and the old one did not: a point's new purpose, or a purpose newly allowed a category."""

    def uses(idx: PolicyIndex) -> set[tuple[str, str, str]]:
        out: set[tuple[str, str, str]] = set()
        for point, fields in idx.point_fields.items():
            cats = {f.category for f in fields.values()}
            for purpose in idx.point_purposes[point]:
                out.update((point, purpose, c) for c in cats if idx.purpose_allows(purpose, c))
        return out

    return sorted(uses(new) - uses(old))


# The sections whose changes concern only the people whose data they name; a material
# change in any other (the organisation, locations, transfers, roles, minors...) concerns
# everyone troth holds an address for.
_NAMED = ("purposes", "collection_points", "categories", "recipients")


def concerned(
    old: PolicyIndex,
    new: PolicyIndex,
    diff: PolicyDiff,
    uses: list[tuple[str, str, str]],
) -> set[tuple[str, str]] | None:
    """The (collection point, category) pairs of the data a material change concerns, so
    that its notice goes to the people who gave such data: a new use's, a changed
    purpose's (the points that list it, the categories it uses), a changed point's, a
    changed category's wherever collected, and a recipient's (what it receives, for the
    purposes it receives it for), in either version. None: everyone (a change of another
    section)."""
    pairs = {(point, category) for point, _, category in uses}
    for change in diff.material:
        if change.section not in _NAMED:
            return None
        for idx in (old, new):
            pairs |= _pairs_of(idx, change.section, change.id)
    return pairs


def _pairs_of(idx: PolicyIndex, section: str, ident: str) -> set[tuple[str, str]]:
    """The (point, category) pairs of ``idx`` that element ``ident`` of ``section`` is
    about (see :func:`concerned`)."""
    if section == "recipients":
        return {
            pair
            for (rid, purpose), grant in idx.recipient_grants.items()
            if rid == ident
            for pair in _pairs_of(idx, "purposes", purpose)
            if pair[1] in grant.categories
        }
    out: set[tuple[str, str]] = set()
    for point, fields in idx.point_fields.items():
        for category in {f.category for f in fields.values()}:
            if (
                (section == "collection_points" and point == ident)
                or (section == "categories" and category == ident)
                or (
                    section == "purposes"
                    and ident in idx.point_purposes[point]
                    and idx.purpose_allows(ident, category)
                )
            ):
                out.add((point, category))
    return out


def notice_text(policy: Policy, purpose: str) -> str:
    p = next(p for p in policy.purposes if p.id == purpose)
    return p.notice or p.description


def reconsent_purposes(old: Policy, new: Policy) -> list[str]:
    """Consent purposes whose notice now says something else, or that now reach more
    categories: consent given to the old notice does not cover them (P07)."""
    before = {p.id: p for p in old.purposes}
    out = []
    for p in new.purposes:
        if p.legal_basis is not LegalBasis.consent or p.id not in before:
            continue
        b = before[p.id]
        if notice_text(old, p.id) != notice_text(new, p.id) or set(p.categories) - set(
            b.categories
        ):
            out.append(p.id)
    return out


def earliest_effective(policy: Policy, now: datetime) -> date:
    """The first day, in the organisation's time zone, that a material change published at
    ``now`` may take effect: the first local midnight at or after the notice period's end
    (with no notice period, the day of publishing)."""
    zone = policy.organisation.zone()
    days = policy.notices.notice_period_days
    if days == 0:
        return now.astimezone(zone).date()
    end = (now + timedelta(days=days)).astimezone(zone)
    return end.date() if end.time() == time.min else end.date() + timedelta(days=1)


def preview_digest(text: str, effective: date | None) -> str:
    """What a publish confirmation is bound to: the exact text and effective date shown."""
    when = effective.isoformat() if effective else "-"
    return hashlib.sha256(f"troth-publish-preview\n{when}\n{text}".encode()).hexdigest()
