"""What the law says of sensitive data, sale or sharing and the minimum age: the setups no
law of the organisation's jurisdictions allows are issues (``FILE:LINE: path: ...``); those
that need a second look are warnings. Each rule with the input that trips it, and the
nearest input that must not."""

from __future__ import annotations

import pytest

from policy_samples import BASE, line_of
from troth.errors import PolicyError
from troth.policy.issues import Issue
from troth.policy.loader import parse_policy
from troth.policy.warnings import policy_warnings

STATS = "    legal_basis: legitimate_interest\n    categories: [technical]\n"
WITHDRAW = "    withdraw: Untick it\n"
GDPR = "jurisdictions: [gdpr, uk_gdpr]\n  default_jurisdiction: gdpr"


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def issues(text: str) -> list[Issue]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return info.value.issues


def warned(text: str, about: str) -> list[str]:
    return [w for w in policy_warnings(parse_policy(text, "p.yaml")) if about in w]


def regimes(names: str, text: str) -> str:
    first = names.split(", ")[0]
    return edit(GDPR, f"jurisdictions: [{names}]\n  default_jurisdiction: {first}", text)


def stats_uses(categories: str, text: str = BASE, basis: str = "legitimate_interest") -> str:
    new = f"    legal_basis: {basis}\n    categories: [technical, {categories}]\n"
    return edit(STATS, new + WITHDRAW if basis == "consent" else new, text)


SYMPTOMS = "  - id: loyalty\n    description: Loyalty points\n"
SYMPTOMS_DECLARED = SYMPTOMS + "  - id: symptoms\n    sensitive: true\n    special: true\n"


# -- GDPR Art. 9: a special category on legitimate interest ------------------------------
@pytest.mark.parametrize("regime", ["gdpr", "uk_gdpr"])
@pytest.mark.parametrize("category", ["health", "symptoms"])
def test_a_special_category_on_legitimate_interest_is_refused_under_gdpr(
    regime: str, category: str
) -> None:
    text = regimes(regime, stats_uses(category, edit(SYMPTOMS, SYMPTOMS_DECLARED)))
    (issue,) = issues(text)
    assert issue.path == "purposes[2].legal_basis"
    assert issue.line == line_of(text, "legal_basis: legitimate_interest")
    assert f"purpose 'stats' uses special category {category!r}" in issue.message
    assert "Art. 9(2) does not allow" in issue.message
    assert "consent (explicit, 9(2)(a))" in issue.message
    assert "contract or legal_obligation only where a 9(2) condition" in issue.message


def test_the_same_is_allowed_where_the_law_allows_it() -> None:
    declared = edit(SYMPTOMS, SYMPTOMS_DECLARED)
    # On consent (explicit consent is an Art. 9(2) condition), or on contract.
    consent = stats_uses("health", declared, "consent")
    for text in (consent, stats_uses("health", declared, "contract")):
        parse_policy(text, "p.yaml")
    # A category declared not special, and a built-in sensitive one that is not special
    # (a card number for fraud checks on legitimate interest is lawful).
    not_special = edit(
        SYMPTOMS, SYMPTOMS + "  - id: symptoms\n    sensitive: true\n    special: false\n"
    )
    parse_policy(stats_uses("symptoms", not_special), "p.yaml")
    parse_policy(stats_uses("payment_card, credentials, government_id"), "p.yaml")
    # A sensitive category of your own is not taken for Art. 9 data (bank details are
    # not): it validates, with a warning asking which it is; marked either way, no warning.
    bank = edit(SYMPTOMS, SYMPTOMS + "  - id: bank_details\n    sensitive: true\n")
    (warning,) = warned(stats_uses("bank_details", bank), "special: true")
    assert "uses sensitive category 'bank_details' on legitimate_interest" in warning
    assert "mark it `special: false`" in warning
    assert not warned(stats_uses("symptoms", not_special), "special: true")
    # A declared special category that is not sensitive by its own flag still is special.
    marked = edit(SYMPTOMS, SYMPTOMS + "  - id: union\n    special: true\n")
    assert "special category 'union'" in issues(stats_uses("union", marked))[0].message
    # Not under CCPA alone (no legal bases there).
    ccpa = regimes("ccpa", stats_uses("health"))
    parse_policy(ccpa, "p.yaml")


def test_a_sensitive_category_on_legitimate_interest_is_a_warning_under_pipeda() -> None:
    text = regimes("pipeda", stats_uses("payment_card"))
    (warning,) = warned(text, "express consent")
    assert warning.startswith("purposes[2]: purpose 'stats' uses sensitive category")
    assert "PIPEDA Principle 4.3.6; Quebec private-sector Act s. 12" in warning
    assert not warned(regimes("pipeda", stats_uses("purchases")), "express consent")


# -- a sensitive category kept for ever ---------------------------------------------------
ALLERGIES = "      birth_date: {category: demographic, type: date}\n"


def test_a_sensitive_category_collected_for_a_purpose_without_retention_is_a_warning() -> None:
    text = edit(ALLERGIES, ALLERGIES + "      allergies: {category: health}\n")
    text = edit("    categories: [contact]\n", "    categories: [contact, health]\n", text)
    (warning,) = warned(text, "no retention rule")
    assert warning.startswith("purposes[1]: purpose 'news' has no retention rule")
    assert "(health, through order_form) are kept for ever unless erased" in warning
    assert "GDPR Art. 5(1)(e)" in warning
    # With a retention rule, nothing to say; nor of a non-sensitive category (contact).
    kept = edit(
        "    withdraw: Click unsubscribe in any email\n",
        "    withdraw: Click unsubscribe in any email\n    retention:\n      keep_for: 2y\n",
        text,
    )
    assert not warned(kept, "no retention rule")
    assert not warned(BASE, "no retention rule")


def test_a_purpose_no_point_serves_keeps_nothing_for_ever() -> None:
    # A legal-obligation purpose using a sensitive category, listed by no point: no value is
    # ever bound to it, so nothing is kept for it.
    extra = (
        "  - id: authorities\n    description: Disclosures the law requires\n"
        "    legal_basis: legal_obligation\n    categories: [identity, health]\n"
    )
    text = edit("collection_points:\n", extra + "collection_points:\n")
    assert not warned(text, "no retention rule")


# -- the minimum age a point cannot check -------------------------------------------------
MINORS = "minors:\n  minimum_age: 16\nroles:\n"


def test_an_optional_age_field_is_a_warning_naming_the_point() -> None:
    text = edit("roles:\n", MINORS)
    (warning,) = warned(text, "minimum age")
    assert warning.startswith("collection_points[0].fields.birth_date: collection point")
    assert "'order_form' has an optional age field 'birth_date'" in warning
    assert "a child who leaves it empty is stored despite the minimum age (16)" in warning
    required = edit(
        "birth_date: {category: demographic, type: date}",
        "birth_date: {category: demographic, type: date, required: true}",
        text,
    )
    assert not warned(required, "minimum age")
    # No minimum age (0), or none written in the policy: nothing to check.
    no_minimum = regimes("nz", edit("roles:\n", "minors:\n  minimum_age: 0\nroles:\n"))
    assert not warned(no_minimum, "minimum age")
    assert not warned(BASE, "minimum age")


def test_a_point_that_asks_no_age_while_others_do_is_a_warning() -> None:
    point = (
        "  - id: signup\n    subjects: [customer]\n    fields:\n"
        "      email: {category: contact, type: email, required: true}\n"
        "    purposes: [news]\n"
    )
    text = edit("  - id: web\n", point + "  - id: web\n", edit("roles:\n", MINORS))
    (warning,) = warned(text, "no `age_field`")
    assert warning.startswith("collection_points[1]: collection point 'signup' has no")
    assert "a child is stored through it despite the minimum age (16)" in warning
    # The observed point (web) is never said to ask no age: no person fills it in.
    assert not warned(text, "'web'")


# -- sale or sharing without consent ------------------------------------------------------
def sale(basis: str, text: str = BASE) -> str:
    return edit(
        STATS,
        f"    legal_basis: {basis}\n    categories: [technical]\n    sale_or_sharing: true\n"
        + (WITHDRAW if basis == "consent" else ""),
        text,
    )


def test_a_sale_on_contract_is_refused_under_gdpr() -> None:
    text = sale("contract")
    (issue,) = issues(text)
    assert issue.path == "purposes[2].legal_basis"
    assert issue.line == line_of(text, "sale_or_sharing: true") - 2  # its legal_basis
    assert "purpose 'stats' sells or shares data on contract" in issue.message
    assert "Art. 6(1)(b)" in issue.message and "rest it on consent" in issue.message


def test_a_sale_on_legitimate_interest_is_a_warning_under_gdpr() -> None:
    text = sale("legitimate_interest")
    (warning,) = warned(text, "sells or shares")
    assert warning.startswith("purposes[2]: purpose 'stats' sells or shares data on legit")
    assert "may object at any time (Art. 6(1)(f), 21" in warning
    consent = sale("consent")
    assert not warned(consent, "sells or shares")


def test_a_sale_without_consent_under_ccpa_needs_an_opt_in_below_16() -> None:
    # Adults: CCPA asks an opt-out, which troth honours on any basis (GPC): nothing to say.
    for basis in ("contract", "legitimate_interest"):
        adults = regimes("ccpa", sale(basis))
        parse_policy(adults, "p.yaml")
        assert not warned(adults, "sells or shares")
    young = edit("roles:\n", "minors:\n  minimum_age: 18\n  by_jurisdiction: {ccpa: 13}\nroles:\n")
    text = regimes("ccpa", sale("legitimate_interest", young))
    (issue,) = issues(text)
    assert issue.path == "purposes[2].legal_basis"
    assert "people from 13 are collected from under ccpa" in issue.message
    assert "CCPA 1798.120(c)" in issue.message and "under 16" in issue.message
    consent = regimes("ccpa", sale("consent", young))
    parse_policy(consent, "p.yaml")
    sixteen = edit("{ccpa: 13}", "{ccpa: 16}", text)
    parse_policy(sixteen, "p.yaml")


def test_a_sale_without_consent_is_a_warning_under_pipeda() -> None:
    for basis in ("contract", "legitimate_interest"):
        (warning,) = warned(regimes("pipeda", sale(basis)), "sells or shares")
        assert f"sells or shares data on {basis}" in warning
        assert "Quebec private-sector Act s. 13" in warning


def test_a_home_whose_policy_a_newer_rule_refuses_still_opens(tmp_path) -> None:
    """The law's checks bind where a policy is written (validate, publish, init): a home
    whose policy passed when it was written opens after an upgrade that adds a rule, and
    its published versions stay readable; `policy validate` says what to mend."""
    from troth.home import init_home, open_context

    ctx = init_home(tmp_path / "home", example="mindlink")
    ctx.engine.dispose()
    path = tmp_path / "home" / "policy.yaml"
    text = path.read_text()
    old = "    legal_basis: legitimate_interest\n    categories: ["
    assert old in text
    # As an older troth let it through: a special category on legitimate interest.
    bad = text.replace(old, old + "health, ", 1)
    path.write_text(bad)
    assert "Art. 9(2)" in str(issues(bad)[0].message)
    reopened = open_context(tmp_path / "home")
    assert (
        "health"
        in reopened.policy.purpose_categories[
            next(p.id for p in reopened.policy.policy.purposes if "health" in p.categories)
        ]
    )
    reopened.engine.dispose()


def test_a_special_category_stored_in_clear_is_warned_about() -> None:
    """`special: true` without `sensitive: true` stores Art. 9 data in clear (found by
    the Hirewell trial's diversity answers): a warning naming the category; none once it
    is sensitive."""
    import yaml

    from troth.examples import example_path
    from troth.policy.loader import parse_policy
    from troth.policy.warnings import policy_warnings

    data = yaml.safe_load(example_path("itechno").read_text())
    data.setdefault("categories", []).append({"id": "ethnicity", "special": True})
    point = next(p for p in data["collection_points"] if p["id"] == "account_signup")
    point["fields"]["ethnic_origin"] = {"category": "ethnicity"}
    purpose = next(p for p in data["purposes"] if p["id"] in point["purposes"])
    purpose["categories"].append("ethnicity")
    purpose["legal_basis"] = "consent"
    purpose.setdefault("withdraw", "Write to us.")
    warned = [w for w in policy_warnings(parse_policy(yaml.safe_dump(data), "p.yaml"))]
    assert any("'ethnicity'" in w and "stored in clear" in w for w in warned), warned
    data["categories"][-1]["sensitive"] = True
    warned = policy_warnings(parse_policy(yaml.safe_dump(data), "p.yaml"))
    assert not any("stored in clear" in w for w in warned), warned
