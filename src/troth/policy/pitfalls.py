"""What a valid policy sets up that fails, or decides silently, only later, once data
arrives: warnings of ``troth policy validate`` (:func:`troth.policy.warnings.policy_warnings`),
never fatal.

- Several jurisdictions and no ``default_jurisdiction``: a person collected (or a request
  opened) without one is put under the first listed, with its deadlines, minimum age,
  time zone and breach clocks (trial #15: a Texas member got the GDPR in Lisbon time).
- An aggregate-only purpose over a sensitive category: its values are stored encrypted,
  so the database can neither count nor group them and every aggregate of that category
  is refused (``category ... is encrypted``).
- A legal-obligation purpose whose data an authority must receive by law
  (``statutory_duty``) without a ``legal_minimum`` keeping that data: an erasure removes
  it and the filing can no longer be made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from troth.policy.model import LegalBasis, Policy

if TYPE_CHECKING:
    from troth.policy.index import PolicyIndex


def pitfall_warnings(policy: Policy, index: PolicyIndex) -> list[str]:
    """Each warning of the module docstring, in the order of the policy's sections."""
    return (
        _implicit_jurisdiction(policy)
        + _aggregates_of_encrypted(policy, index)
        + _filings_lost_to_erasure(policy)
    )


def _implicit_jurisdiction(policy: Policy) -> list[str]:
    """Several jurisdictions, none chosen as the default: the first listed is used for
    whoever arrives without one (troth infers none from an address, a location or a phone
    number). One jurisdiction is the only one possible: no warning."""
    org = policy.organisation
    if len(org.jurisdictions) < 2 or org.default_jurisdiction is not None:
        return []
    first = org.jurisdictions[0].value
    listed = ", ".join(j.value for j in org.jurisdictions)
    return [
        f"organisation.jurisdictions: the policy lists several jurisdictions ({listed}) and"
        f" no `default_jurisdiction`, so a person collected without one is recorded under"
        f" {first!r}, the first listed, and so is a request for someone troth does not know"
        f" (their deadlines, minimum age, time zone and breach clocks follow): give each"
        f" person's jurisdiction when collecting (`troth collect --jurisdiction`,"
        f' `jurisdiction=`, `"jurisdiction"` over HTTP), and set'
        f" `organisation.default_jurisdiction` to the one that applies otherwise"
    ]


def _aggregates_of_encrypted(policy: Policy, index: PolicyIndex) -> list[str]:
    """An aggregate-only purpose's sensitive categories: stored encrypted, they can be
    neither measured nor grouped by the database (troth.aggregates.question.check)."""
    out = []
    for i, p in enumerate(policy.purposes):
        if not p.aggregate_only:
            continue
        for j, cat in enumerate(p.categories):
            if not index.is_sensitive(cat):
                continue
            out.append(
                f"purposes[{i}].categories[{j}]: aggregate-only purpose {p.id!r} uses"
                f" category {cat!r}, which is sensitive and so stored encrypted: the database"
                f" can neither count, sum nor group its values, and every aggregate of it"
                f' (measured or grouped by) is refused ("category {cat!r} is encrypted"):'
                f" collect what the statistics need in a category that is not sensitive (a"
                f" band, a grade), or remove {cat!r} from the purpose"
            )
    return out


def _filings_lost_to_erasure(policy: Policy) -> list[str]:
    """A legal-obligation purpose an authority receives by law (a recipient's
    ``statutory_duty``) whose legal minimum does not keep what the authority receives: an
    erasure or an account closure deletes it before the filing is made."""
    purposes = {p.id: (i, p) for i, p in enumerate(policy.purposes)}
    out = []
    for r in policy.recipients:
        if not r.statutory_duty:
            continue
        for d in r.receives:
            found = purposes.get(d.purpose)
            if found is None or found[1].legal_basis is not LegalBasis.legal_obligation:
                continue
            i, p = found
            lm = p.retention.legal_minimum if p.retention else None
            kept = set(lm.categories) if lm else set()
            lost = [c for c in d.categories if c not in kept]
            if not lost:
                continue
            out.append(
                f"purposes[{i}].retention: {r.id!r} must receive {', '.join(lost)} for"
                f" {p.id!r} by law ({r.statutory_duty}), but no `legal_minimum` of {p.id!r}"
                f" keeps {'it' if len(lost) == 1 else 'them'}: an erasure request or an account"
                f" closure deletes {'it' if len(lost) == 1 else 'them'} and the filing can no"
                f" longer be made; add `retention.legal_minimum` (keep_for, law, categories:"
                f" [{', '.join(lost)}]) for what the law makes you keep"
            )
    return out
