"""What the law says of a policy's sensitive data, sale or sharing and minimum age: the
setups no law allows are issues (``policy validate`` refuses them), those that need a
second look are warnings (printed, never fatal). REGULATIONS.md and the README ("The
policy as code") say which is which and why.

Errors: a special category (GDPR Art. 9) on legitimate interest where GDPR or UK GDPR
applies (Art. 9(2) has no such condition); a sale or sharing on contract there (never
necessary to perform one, Art. 6(1)(b)); a sale or sharing without consent where CCPA
applies and people under 16 may be collected from (CCPA 1798.120(c): they opt in).
Warnings: a sensitive category collected for a purpose that keeps it for ever; a minimum
age a collection point cannot check; a sale or sharing on legitimate interest (GDPR) or
without consent (PIPEDA, Quebec); a sensitive category on legitimate interest (PIPEDA).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from troth.policy.issues import Path
from troth.policy.model import LegalBasis, Policy, Regime, SourceKind
from troth.policy.taxonomy import BUILTIN_BY_ID

Add = Callable[[Path, str], None]

GDPR_LIKE = frozenset({Regime.gdpr.value, Regime.uk_gdpr.value})
# CCPA 1798.120(c): no sale or sharing of a consumer under 16 without their opt-in.
CCPA_OPT_IN_BELOW = 16
_NOT_CONSENT = (LegalBasis.contract.value, LegalBasis.legitimate_interest.value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _maps(value: Any) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for i, item in enumerate(_list(value)):
        if isinstance(item, Mapping):
            yield i, item


def special_categories(data: Mapping[str, Any]) -> set[str]:
    """The special categories of personal data (GDPR Art. 9(1): health, genetic,
    biometric, ethnic origin, beliefs, union membership, sex life) a policy names: the
    built-in ``health`` unless it says ``special: false``, and each category that says
    ``special: true``. A category only ``sensitive`` (bank details, a card) is not one:
    troth cannot tell, so it warns instead (:func:`lawful_warnings`)."""
    declared = {c.get("id"): c for _, c in _maps(data.get("categories"))}
    out = {"health"} if declared.get("health", {}).get("special") is not False else set()
    for cid, c in declared.items():
        if not isinstance(cid, str):
            continue
        special = c.get("special")
        if special is True:
            out.add(cid)
        elif special is False:
            out.discard(cid)
    return out


def _regimes(data: Mapping[str, Any]) -> set[str]:
    org = data.get("organisation")
    jurisdictions = org.get("jurisdictions") if isinstance(org, Mapping) else None
    return {j for j in _list(jurisdictions) if isinstance(j, str)}


def _ccpa_minimum_age(data: Mapping[str, Any]) -> Any:
    minors = data.get("minors")
    minors = minors if isinstance(minors, Mapping) else {}
    overrides = minors.get("by_jurisdiction")
    overrides = overrides if isinstance(overrides, Mapping) else {}
    return overrides.get(Regime.ccpa.value, minors.get("minimum_age", 18))


def check_lawfulness(data: Mapping[str, Any], add: Add) -> None:
    """Report (through ``add``) what no law of the organisation's jurisdictions allows."""
    regimes = _regimes(data)
    gdpr = sorted(regimes & GDPR_LIKE)
    special = special_categories(data)
    ccpa_age = _ccpa_minimum_age(data)
    for i, p in _maps(data.get("purposes")):
        pid, basis = p.get("id"), p.get("legal_basis")
        where: Path = ("purposes", i, "legal_basis")
        used = [c for c in _list(p.get("categories")) if isinstance(c, str) and c in special]
        if gdpr and basis == LegalBasis.legitimate_interest.value and used:
            add(
                where,
                f"purpose {pid!r} uses special category {used[0]!r} (GDPR Art. 9) on"
                " legitimate_interest, which Art. 9(2) does not allow: use consent (explicit,"
                " 9(2)(a)), or contract or legal_obligation only where a 9(2) condition"
                " applies (health care 9(2)(h), public health 9(2)(i))",
            )
        if p.get("sale_or_sharing") is not True or basis not in _NOT_CONSENT:
            continue
        if gdpr and basis == LegalBasis.contract.value:
            add(
                where,
                f"purpose {pid!r} sells or shares data on contract: under GDPR a sale or"
                " sharing is never necessary to perform a contract with the person (Art."
                " 6(1)(b); CJEU C-252/21 Meta): rest it on consent",
            )
        if (
            Regime.ccpa.value in regimes
            and isinstance(ccpa_age, int)
            and ccpa_age < CCPA_OPT_IN_BELOW
        ):
            add(
                where,
                f"purpose {pid!r} sells or shares data on {basis} while people from"
                f" {ccpa_age} are collected from under ccpa: CCPA 1798.120(c) lets no one"
                f" under {CCPA_OPT_IN_BELOW} be sold or shared without opting in: rest it on"
                f" consent, or set minors.by_jurisdiction.ccpa to {CCPA_OPT_IN_BELOW}",
            )


def lawful_warnings(policy: Policy) -> list[str]:
    """What the law asks a second look at (see the module docstring); never fatal."""
    return (
        _kept_for_ever(policy)
        + _unchecked_ages(policy)
        + _without_consent(policy)
        + _special_in_clear(policy)
    )


def _special_in_clear(policy: Policy) -> list[str]:
    """A special category (GDPR Art. 9) a field collects, not marked ``sensitive``: its
    values are stored in clear, where Art. 9 data wants encryption (Art. 32)."""
    from troth.policy.index import PolicyIndex

    index = PolicyIndex.build(policy)
    collected = {f.category for cp in policy.collection_points for f in cp.fields.values()}
    return [
        f"categories: category {cid!r} is a special category (GDPR Art. 9) but not"
        " `sensitive: true`, so its values are stored in clear: add `sensitive: true` to"
        " encrypt them (aggregates cannot then be computed over it)"
        for cid in sorted(special_categories(policy.model_dump(mode="json")) & collected)
        if not index.is_sensitive(cid)
    ]


def _kept_for_ever(policy: Policy) -> list[str]:
    """A purpose with no retention rule keeps what it serves (``compile_rules``): a
    sensitive category collected for it stays until the person asks for erasure."""
    from troth.policy.index import PolicyIndex

    index = PolicyIndex.build(policy)
    out = []
    for i, p in enumerate(policy.purposes):
        if p.retention is not None:
            continue
        kept: dict[str, set[str]] = {}
        for cp in policy.collection_points:
            if p.id not in cp.purposes:
                continue
            for f in cp.fields.values():
                if f.category in p.categories and index.is_sensitive(f.category):
                    kept.setdefault(f.category, set()).add(cp.id)
        if kept:
            points = sorted(set().union(*kept.values()))
            out.append(
                f"purposes[{i}]: purpose {p.id!r} has no retention rule, so the sensitive"
                f" categories collected for it ({', '.join(sorted(kept))}, through"
                f" {', '.join(points)}) are kept for ever unless erased: give it `retention:`"
                " (GDPR Art. 5(1)(e), PIPEDA 4.5.3, CCPA 1798.100(a)(3))"
            )
    return out


def _unchecked_ages(policy: Policy) -> list[str]:
    """Collection refuses a person under the minimum age only from the age field's value
    (``troth.collection.service``): a point whose age field may be left empty, or that has
    none while other points ask, stores a child. Said where the policy sets ``minors``."""
    minors = policy.minors
    ages = {minors.minimum_age, *minors.by_jurisdiction.values()}
    if "minors" not in policy.model_fields_set or not any(ages):
        return []
    age = minors.minimum_age
    asked = any(cp.age_field for cp in policy.collection_points)
    out = []
    for i, cp in enumerate(policy.collection_points):
        if cp.source is not SourceKind.subject:
            continue
        field = cp.fields.get(cp.age_field) if cp.age_field else None
        if field is not None and not field.required:
            out.append(
                f"collection_points[{i}].fields.{cp.age_field}: collection point {cp.id!r}"
                f" has an optional age field {cp.age_field!r}, so a child who leaves it empty"
                f" is stored despite the minimum age ({age}): make it `required: true`"
            )
        elif cp.age_field is None and asked:
            out.append(
                f"collection_points[{i}]: collection point {cp.id!r} has no `age_field`"
                f" (other points ask for one), so a child is stored through it despite the"
                f" minimum age ({age}): add a required date of birth as its `age_field`"
            )
    return out


def _without_consent(policy: Policy) -> list[str]:
    """A sale or sharing on legitimate interest under GDPR (a balancing test it rarely
    passes), or on any basis but consent under PIPEDA (Quebec: consent to give a third
    party personal information); a sensitive category on legitimate interest under PIPEDA
    (express consent for sensitive information)."""
    from troth.policy.index import PolicyIndex

    index = PolicyIndex.build(policy)
    regimes = {r.value for r in policy.organisation.jurisdictions}
    pipeda = Regime.pipeda.value in regimes
    declared_special = {c.id for c in policy.categories if c.special is not None}
    out = []
    for i, p in enumerate(policy.purposes):
        basis = p.legal_basis
        if p.sale_or_sharing and basis is LegalBasis.legitimate_interest and regimes & GDPR_LIKE:
            out.append(
                f"purposes[{i}]: purpose {p.id!r} sells or shares data on legitimate_interest:"
                " under GDPR that needs a balancing test a sale rarely passes, and the person"
                " may object at any time (Art. 6(1)(f), 21; CJEU C-252/21): consent holds"
            )
        if p.sale_or_sharing and basis.value in _NOT_CONSENT and pipeda:
            out.append(
                f"purposes[{i}]: purpose {p.id!r} sells or shares data on {basis.value}:"
                " PIPEDA and Quebec want the person's consent to give a third party their"
                " information (PIPEDA Principle 4.3; Quebec private-sector Act s. 13)"
            )
        sensitive = [c for c in p.categories if index.is_sensitive(c)]
        unsure = [c for c in sensitive if c not in BUILTIN_BY_ID and c not in declared_special]
        if unsure and basis is LegalBasis.legitimate_interest and regimes & GDPR_LIKE:
            out.append(
                f"purposes[{i}]: purpose {p.id!r} uses sensitive category {unsure[0]!r} on"
                " legitimate_interest: if it is special category data (GDPR Art. 9: health,"
                " genetic, biometric, ethnic origin, beliefs, union membership, sex life),"
                " mark it `special: true` and rest the purpose on consent; if it is not,"
                " mark it `special: false`"
            )
        if sensitive and basis is LegalBasis.legitimate_interest and pipeda:
            out.append(
                f"purposes[{i}]: purpose {p.id!r} uses sensitive category {sensitive[0]!r} on"
                " legitimate_interest: PIPEDA and Quebec want express consent for sensitive"
                " information (PIPEDA Principle 4.3.6; Quebec private-sector Act s. 12)"
            )
    return out
