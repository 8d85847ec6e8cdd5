"""Every cross-reference rule, each with a bad input and the exact path and line reported."""

from __future__ import annotations

import pytest

from policy_samples import BASE, line_of
from troth.errors import PolicyError
from troth.policy.issues import Issue
from troth.policy.loader import parse_policy
from troth.policy.model import Policy
from troth.policy.validate import check_references, validate_policy
from troth.policy.warnings import policy_warnings


def issues(text: str) -> list[Issue]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return info.value.issues


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def only(text: str, path: str) -> Issue:
    found = issues(text)
    assert [i.path for i in found] == [path], [str(i) for i in found]
    return found[0]


def test_base_is_valid() -> None:
    policy = parse_policy(BASE, "p.yaml")
    assert isinstance(policy, Policy)
    assert validate_policy(policy) == []


def test_purpose_unknown_category() -> None:
    text = edit(
        "categories: [identity, contact, loyalty", "categories: [identity, contakt, loyalty"
    )
    issue = only(text, "purposes[0].categories[1]")
    assert issue.line == line_of(text, "contakt")
    assert "unknown category 'contakt'" in issue.message
    assert "contact" in issue.allowed and "loyalty" in issue.allowed
    assert str(issue).startswith(
        f"p.yaml:{issue.line}: purposes[0].categories[1]: unknown category"
    )
    assert str(issue).endswith(")") and "(allowed: " in str(issue)


def test_point_field_unknown_category() -> None:
    text = edit("      name: identity", "      name: identiti")
    # the purpose check may also complain; the field itself must be reported at its line
    found = {i.path: i for i in issues(text)}
    issue = found["collection_points[0].fields.name.category"]
    assert issue.line == line_of(text, "name: identiti")


def test_recipient_unknown_category() -> None:
    text = edit("categories: [identity, shipping_address]", "categories: [identity, shiping]")
    found = {i.path: i for i in issues(text)}
    # the field list then names a field of no listed category: reported too
    assert set(found) == {
        "recipients[0].receives[0].categories[1]",
        "recipients[0].receives[0].fields[1]",
    }
    assert found["recipients[0].receives[0].categories[1]"].line == line_of(text, "shiping")


def test_recipient_category_not_used_by_purpose() -> None:
    text = edit("categories: [identity, shipping_address]", "categories: [identity, technical]")
    text = edit("fields: [name, address]", "fields: [name]", text)
    issue = only(text, "recipients[0].receives[0].categories[1]")
    assert "does not use category 'technical'" in issue.message
    assert issue.line == line_of(text, "[identity, technical]")


def test_recipient_unknown_field() -> None:
    text = edit("fields: [name, address]", "fields: [name, card_number]")
    issue = only(text, "recipients[0].receives[0].fields[1]")
    assert issue.allowed == ("address", "name")


def test_role_unknown_category_and_purpose() -> None:
    text = edit(
        "categories: [contact, loyalty]\n    purposes: [orders]",
        "categories: [contact, loyality]\n    purposes: [order]",
    )
    found = {i.path: i for i in issues(text)}
    assert set(found) == {"roles[0].categories[1]", "roles[0].purposes[0]"}
    assert found["roles[0].purposes[0]"].line == line_of(text, "purposes: [order]")
    assert found["roles[0].purposes[0]"].allowed == ("news", "orders", "stats")


def test_point_unknown_purpose() -> None:
    text = edit("purposes: [orders, news]", "purposes: [orders, newz]")
    issue = only(text, "collection_points[0].purposes[1]")
    assert issue.line == line_of(text, "newz")


def test_recipient_unknown_purpose() -> None:
    text = edit("      - purpose: orders", "      - purpose: shipping")
    issue = only(text, "recipients[0].receives[0].purpose")
    assert issue.line == line_of(text, "purpose: shipping")


def test_list_and_cookie_unknown_purpose() -> None:
    text = edit("    purpose: news\n", "    purpose: newz\n")
    text = edit("    purpose: stats\n", "    purpose: statz\n", text)
    found = {i.path: i for i in issues(text)}
    assert set(found) == {"lists[0].purpose", "cookies[0].purpose"}
    assert found["cookies[0].purpose"].line == line_of(text, "statz")


def test_unknown_subject_kind() -> None:
    text = edit("subjects: [customer]", "subjects: [client]")
    issue = only(text, "collection_points[0].subjects[0]")
    assert issue.allowed == ("customer",)
    assert issue.line == line_of(text, "subjects: [client]")


def test_subjects_not_checked_when_none_declared() -> None:
    text = edit("subjects:\n  - id: customer\n", "")
    text = edit("subjects: [customer]", "subjects: [anyone]", text)
    parse_policy(text)


@pytest.mark.parametrize(
    ("section", "anchor", "insert"),
    [
        (
            "purposes",
            "  - id: stats\n",
            "  - id: orders\n    description: again\n    legal_basis: contract\n"
            "    categories: [contact]\n",
        ),
        ("categories", "  - id: loyalty\n", "  - id: loyalty\n"),
        (
            "collection_points",
            "  - id: web\n",
            "  - id: web\n    fields: {ip: technical}\n    purposes: [stats]\n",
        ),
        ("roles", "  - id: privacy_office\n", "  - id: support\n"),
        ("lists", "  - id: newsletter\n", "  - id: newsletter\n    purpose: news\n"),
        ("subjects", "  - id: customer\n", "  - id: customer\n"),
    ],
)
def test_duplicate_ids(section: str, anchor: str, insert: str) -> None:
    text = edit(anchor, insert + anchor)
    dupes = [i for i in issues(text) if "duplicate id" in i.message]
    assert len(dupes) == 1, [str(i) for i in issues(text)]
    assert dupes[0].path.startswith(section + "[") and dupes[0].path.endswith("].id")
    # reported at the second occurrence
    first = line_of(text, insert.splitlines()[0])
    assert dupes[0].line > first


def test_retention_shorter_than_legal_minimum() -> None:
    text = edit("keep_for: 7y", "keep_for: 5y")
    issue = only(text, "purposes[0].retention.keep_for")
    assert "at least 6y" in issue.message
    assert issue.line == line_of(text, "keep_for: 5y")


def test_consent_purpose_without_withdraw() -> None:
    text = edit("    withdraw: Click unsubscribe in any email\n", "")
    issue = only(text, "purposes[1].legal_basis")
    assert "withdraw" in issue.message
    assert issue.line == line_of(text, "legal_basis: consent")


def test_recipient_outside_allowed_locations() -> None:
    text = edit("    location: DE\n    receives:", "    location: US\n    receives:")
    issue = only(text, "recipients[0].location")
    assert issue.line == line_of(text, "location: US")
    assert issue.allowed == ("DE", "FR")


def test_recipient_outside_allowed_with_safeguard_is_fine() -> None:
    text = edit(
        "    location: DE\n    receives:", "    location: US\n    safeguard: SCCs\n    receives:"
    )
    parse_policy(text)
    text = edit(
        "  default: DE\n",
        "  default: DE\n  transfers: [{to: US, safeguard: SCCs}]\n",
        edit("    location: DE\n    receives:", "    location: US\n    receives:"),
    )
    parse_policy(text)


def test_age_field_not_a_field() -> None:
    text = edit("age_field: birth_date", "age_field: dob")
    issue = only(text, "collection_points[0].age_field")
    assert issue.line == line_of(text, "age_field: dob")
    assert "birth_date" in issue.allowed


def test_third_party_without_supplier() -> None:
    text = edit("    source: observed\n", "    source: third_party\n")
    issue = only(text, "collection_points[1].source")
    assert issue.line == line_of(text, "source: third_party")
    parse_policy(
        edit("    source: observed\n", "    source: third_party\n    supplier: Lists Ltd\n")
    )


def test_point_purpose_with_no_category_of_the_point() -> None:
    text = edit("purposes: [orders, news]", "purposes: [orders, stats]")
    issue = only(text, "collection_points[0].purposes[1]")
    assert "may use none of this point's field categories" in issue.message


def test_default_location_not_allowed() -> None:
    text = edit("  default: DE", "  default: GB")
    issue = only(text, "locations.default")
    assert issue.line == line_of(text, "default: GB")


def test_point_location_not_allowed() -> None:
    text = edit("    location: DE\n  - id: web", "    location: US\n  - id: web")
    issue = only(text, "collection_points[0].location")
    assert issue.line == line_of(text, "location: US")


def test_duplicate_allowed_location() -> None:
    text = edit("allowed: [DE, FR]", "allowed: [DE, FR, DE]")
    only(text, "locations.allowed[2]")


def test_default_jurisdiction_not_among_jurisdictions() -> None:
    text = edit("default_jurisdiction: gdpr", "default_jurisdiction: ccpa")
    issue = only(text, "organisation.default_jurisdiction")
    assert issue.allowed == ("gdpr", "uk_gdpr")


def test_check_references_tolerates_garbage() -> None:
    assert check_references([1, 2]) == []
    assert check_references({"purposes": "x", "collection_points": [1, {"fields": 3}]}) == []


def test_legal_minimum_in_the_old_shape_says_what_to_write() -> None:
    # A bare period kept every category of the purpose (the card with the invoice).
    text = edit(
        "      legal_minimum:\n        keep_for: 6y\n        law: Tax law, 6 years\n"
        "        categories: [loyalty]\n",
        "      legal_minimum: 6y\n",
    )
    issue = only(text, "purposes[0].retention")
    assert "categories" in issue.message and "keep_for: 6y" in issue.message


def test_legal_minimum_with_no_categories_is_refused() -> None:
    text = edit("        categories: [loyalty]\n", "        categories: []\n")
    assert any(
        i.path.startswith("purposes[0].retention.legal_minimum.categories") for i in issues(text)
    ), [str(i) for i in issues(text)]


def test_legal_minimum_keeps_only_its_own_purposes_categories() -> None:
    text = edit("        categories: [loyalty]\n", "        categories: [loyalty, technical]\n")
    issue = only(text, "purposes[0].retention.legal_minimum.categories[1]")
    assert "does not use category 'technical'" in issue.message
    assert "loyalty" in issue.allowed


def test_law_outside_the_legal_minimum_is_refused() -> None:
    text = edit("      keep_for: 7y\n", "      keep_for: 7y\n      law: Tax law\n")
    issue = only(text, "purposes[0].retention")
    assert "under `legal_minimum:`" in issue.message


def test_a_legal_minimum_keeping_a_sensitive_category_is_warned_about() -> None:
    assert policy_warnings(parse_policy(BASE)) == []
    text = edit("  - id: loyalty\n", "  - id: loyalty\n    sensitive: true\n")
    (warning,) = policy_warnings(parse_policy(text))
    assert "sensitive category 'loyalty'" in warning
    assert warning.startswith("purposes[0].retention.legal_minimum.categories[0]")


def test_customer_categories_are_known_categories_seen_under_a_grant() -> None:
    """support_access.customer_categories names declared or built-in categories, and only
    where grants are required (ilign: the customer's database)."""
    text = BASE + "support_access:\n  customer_categories: [loyalty, nosuch]\n"
    issue = only(text, "support_access.customer_categories[1]")
    assert "unknown category 'nosuch'" in issue.message
    off = BASE + (
        "support_access:\n  requires_customer_grant: false\n  customer_categories: [loyalty]\n"
    )
    issue = only(off, "support_access.customer_categories")
    assert "requires_customer_grant: true" in issue.message
    ok = parse_policy(BASE + "support_access:\n  customer_categories: [loyalty]\n", "p.yaml")
    assert ok.support_access.customer_categories == ["loyalty"]


# -- a field no purpose of its point uses: every collection through the point refused ------
IP = "      ip: technical\n"
EMAIL = "      email: {category: contact, required: true}\n"


def test_required_field_no_purpose_of_its_point_uses() -> None:
    text = edit(IP, IP + EMAIL)
    issue = only(text, "collection_points[1].fields.email.category")
    assert issue.line == line_of(text, "email: {category: contact, required: true}")
    # It names the point, the field, its category and the purposes, and says what to fix.
    assert issue.message == (
        "collection point 'web': field 'email' is in category 'contact', which none of its"
        " purposes (stats) uses, so every collection through the point is refused (the field"
        " is required): add 'contact' to the categories of one of those purposes, or remove"
        " the field"
    )
    assert issue.allowed == ("technical",)
    # Other purposes using `contact` (orders, news) do not help: the point does not serve them.
    assert "orders" not in issue.message


def test_optional_field_no_purpose_of_its_point_uses_is_a_warning() -> None:
    # Not fatal (a policy that opened before an upgrade still opens), but said by
    # `troth policy validate`: every form that fills the field in is refused.
    text = edit(IP, IP + "      note: support\n")
    [warning] = [w for w in policy_warnings(parse_policy(text, "p.yaml")) if "note" in w]
    assert warning.startswith("collection_points[1].fields.note: collection point 'web'")
    assert "field 'note' is in category 'support'" in warning
    assert "every collection that fills it in is refused" in warning
    # Adding the category to the point's purpose, or dropping the field, fixes it.
    fixed = edit("categories: [technical]", "categories: [technical, support]", text)
    assert not [w for w in policy_warnings(parse_policy(fixed, "p.yaml")) if "note" in w]


def test_a_point_field_is_checked_per_point_and_the_age_field_is_exempt() -> None:
    # Dropping `news` from order_form leaves its e-mail to `orders` (contact): still valid;
    # dropping `contact` from orders too leaves it to nothing: the e-mail field is reported.
    parse_policy(edit("purposes: [orders, news]", "purposes: [orders]"))
    text = edit("purposes: [orders, news]", "purposes: [orders]",
                edit("[identity, contact, loyalty, shipping_address]",
                     "[identity, loyalty, shipping_address]"))  # fmt: skip
    # The e-mail is optional there: a warning, per point (no other point's field named).
    said = policy_warnings(parse_policy(text, "p.yaml"))
    about = [w for w in said if "fields." in w]
    assert [w.split(":")[0] for w in about] == ["collection_points[0].fields.email"]
    assert "collection point 'order_form': optional field 'email'" in about[0]
    # birth_date (demographic, used by no purpose) is the age field: read for the minimum
    # age, as collection reads it, so not reported (BASE is valid).
    assert not any("birth_date" in w for w in said)
    # Made required, the point could collect nothing: an error.
    required = edit("identifies: email}", "identifies: email, required: true}", text)
    issue = only(required, "collection_points[0].fields.email.category")
    assert "collection point 'order_form': field 'email'" in issue.message


def test_no_second_issue_for_a_point_already_wrong() -> None:
    # An unknown purpose or a misnamed age field is reported once, without a cascade.
    only(edit("purposes: [stats]", "purposes: [statz]"), "collection_points[1].purposes[0]")
    only(edit("age_field: birth_date", "age_field: dob"), "collection_points[0].age_field")


# -- a purpose no collection point serves: nothing stored is ever bound to it -------------
SUPPORT_PURPOSE = """\
  - id: support_desk
    description: Answer customers' questions
    legal_basis: legitimate_interest
    categories: [contact]
"""


def _unserved(text: str) -> list[str]:
    return [w for w in policy_warnings(parse_policy(text, "p.yaml")) if "no collection point" in w]


def test_a_purpose_no_collection_point_serves_is_a_warning() -> None:
    # Not fatal (a deployed policy still opens), but every use of it would answer
    # purpose_not_of_collection: said, with the purpose and the fix.
    text = edit("collection_points:\n", SUPPORT_PURPOSE + "collection_points:\n")
    text = edit("    purposes: [orders]\n", "    purposes: [orders, support_desk]\n", text)
    assert _unserved(BASE) == []
    [warning] = _unserved(text)
    assert warning.startswith("purposes[3]: purpose 'support_desk' is listed by no collection")
    assert "purpose_not_of_collection" in warning and "support grant" in warning
    assert "add 'support_desk' to the purposes of the collection points" in warning
    # Served by a point, it is fine.
    fixed = edit("purposes: [orders, news]", "purposes: [orders, news, support_desk]", text)
    assert _unserved(fixed) == []
    # A consent purpose whose point stopped serving it (the newsletter list sends for it).
    [news] = _unserved(edit("purposes: [orders, news]", "purposes: [orders]"))
    assert news.startswith("purposes[1]: purpose 'news'")


def test_a_purpose_that_works_without_a_collection_point_is_not_warned_about() -> None:
    # A legal obligation discloses whatever the data was collected for.
    legal = SUPPORT_PURPOSE.replace("legitimate_interest", "legal_obligation")
    assert _unserved(edit("collection_points:\n", legal + "collection_points:\n")) == []
    # A session cookie's purpose reads no stored data.
    session = SUPPORT_PURPOSE.replace("support_desk", "login").replace(
        "legitimate_interest", "contract"
    )
    cookie = "  - category: strictly_necessary\n    purpose: login\n"
    text = edit("collection_points:\n", session + "collection_points:\n")
    assert _unserved(text + cookie) == []
    # ...unless something does read data for it: a role, or aggregates.
    read = edit("    purposes: [orders]\n", "    purposes: [orders, login]\n", text + cookie)
    assert [w.split(":")[0] for w in _unserved(read)] == ["purposes[3]"]
    counted = session.replace("[contact]\n", "[technical]\n    aggregate_only: true\n")
    stats = edit("collection_points:\n", counted + "collection_points:\n") + cookie
    assert [w.split(":")[0] for w in _unserved(stats)] == ["purposes[3]"]


def test_a_point_identifies_the_person_once_per_kind() -> None:
    """A second `identifies: email` in one point (a referee's address beside the
    candidate's) would file the person under someone else's address: refused, naming
    the field, at the line it is on (found by the Hirewell trial)."""
    import yaml

    from troth.errors import PolicyError
    from troth.examples import example_path
    from troth.policy.loader import parse_policy

    data = yaml.safe_load(example_path("itechno").read_text())
    point = next(p for p in data["collection_points"] if p["id"] == "account_signup")
    point["fields"]["referee_email"] = {
        "category": "contact",
        "type": "email",
        "identifies": "email",
    }
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    (issue,) = [str(i) for i in info.value.issues]
    assert "'referee_email'" in issue and "already identifies the person by email" in issue
    assert "p.yaml:" in issue
    point["fields"]["referee_email"] = {"category": "contact", "type": "email"}
    parse_policy(yaml.safe_dump(data, sort_keys=False), "p.yaml")  # a plain field is fine
