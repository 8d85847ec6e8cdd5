"""What a valid policy sets up that fails, or is decided silently, only once data arrives:
``policy validate`` warns (troth.policy.pitfalls). Trial #15 F4 (a Texas member put
under the GDPR, the first jurisdiction listed, in Lisbon time) and trial #16 G7 (every
aggregate of an encrypted salary refused; a tax filing an erasure makes impossible).
Each warning is said of the setup that fails and of nothing else: the shared BASE
policy, and each setup once fixed, gets none."""

from __future__ import annotations

from policy_samples import BASE
from troth.policy.loader import parse_policy
from troth.policy.warnings import policy_warnings


def _edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _warnings(text: str) -> list[str]:
    return policy_warnings(parse_policy(text, "p.yaml"))


def test_the_base_policy_gets_no_warning() -> None:
    assert _warnings(BASE) == []


# -- F4: the jurisdiction of a person collected without one ------------------------------
NO_DEFAULT = _edit("  default_jurisdiction: gdpr\n", "")


def test_several_jurisdictions_without_a_default_are_warned_about() -> None:
    (warning,) = _warnings(NO_DEFAULT)
    assert warning.startswith("organisation.jurisdictions: ")
    # which one is used, why, and the two ways to choose
    assert "recorded under 'gdpr', the first listed" in warning
    assert "--jurisdiction" in warning and "default_jurisdiction" in warning
    # the first listed, whichever it is
    uk_first = _edit("[gdpr, uk_gdpr]", "[uk_gdpr, gdpr]", NO_DEFAULT)
    (warning,) = _warnings(uk_first)
    assert "recorded under 'uk_gdpr', the first listed" in warning


def test_a_default_or_a_single_jurisdiction_is_not_warned_about() -> None:
    assert _warnings(BASE) == []  # default_jurisdiction: gdpr
    single = _edit("[gdpr, uk_gdpr]", "[gdpr]", NO_DEFAULT)
    assert _warnings(single) == []
    assert parse_policy(single).organisation.default_jurisdiction is None


# -- G7: an aggregate-only purpose over an encrypted category ---------------------------
WAGES = _edit("  - id: loyalty\n", "  - id: wages\n    sensitive: true\n  - id: loyalty\n")
AGGREGATED = _edit(
    "    categories: [technical]\n    aggregate_only: true\n",
    "    categories: [technical, wages]\n    aggregate_only: true\n",
    _edit("      ip: technical\n", "      ip: technical\n      salary: wages\n", WAGES),
)


def _aggregates(text: str) -> list[str]:
    # (the law's warnings about a sensitive category on legitimate interest come too)
    return [w for w in _warnings(text) if "aggregate-only" in w]


def test_an_aggregate_of_an_encrypted_category_is_warned_about() -> None:
    (warning,) = _aggregates(AGGREGATED)
    assert warning.startswith("purposes[2].categories[1]: aggregate-only purpose 'stats'")
    assert "'wages', which is sensitive" in warning
    assert "category 'wages' is encrypted" in warning  # the refusal every aggregate gets
    # A built-in sensitive category (financial) is as encrypted as a declared one.
    builtin = AGGREGATED.replace("wages", "financial").replace(
        "  - id: financial\n    sensitive: true\n", ""
    )
    (warning,) = _aggregates(builtin)
    assert "'financial', which is sensitive" in warning


def test_an_aggregate_of_a_category_stored_in_clear_is_not_warned_about() -> None:
    in_clear = AGGREGATED.replace("    sensitive: true\n", "    sensitive: false\n", 1)
    assert _warnings(in_clear) == []
    # Not aggregate-only: its rows are read one by one, decrypted.
    rows = _edit("    aggregate_only: true\n", "", AGGREGATED)
    assert _aggregates(rows) == []


# -- G7: a statutory filing an erasure makes impossible --------------------------------
TAX_PURPOSE = """\
  - id: tax_reporting
    description: Yearly returns to the tax office
    legal_basis: legal_obligation
    categories: [identity, loyalty]
    retention:
      keep_for: 7y
"""
TAX_OFFICE = """\
  - id: tax_office
    name: Tax office
    kind: authority
    location: DE
    statutory_duty: Income Tax Act s.1
    receives:
      - purpose: tax_reporting
        categories: [identity, loyalty]
"""
KEEPS = """\
      legal_minimum:
        keep_for: 6y
        law: Income Tax Act s.2
        categories: [{cats}]
"""


def _taxed(purpose: str = TAX_PURPOSE, office: str = TAX_OFFICE) -> str:
    text = _edit("collection_points:\n", purpose + "collection_points:\n")
    text = _edit("locations:\n", office + "locations:\n", text)
    return _edit("purposes: [orders, news]", "purposes: [orders, news, tax_reporting]", text)


def test_a_statutory_filing_nothing_keeps_is_warned_about() -> None:
    (warning,) = _warnings(_taxed())
    assert warning.startswith("purposes[3].retention: 'tax_office' must receive")
    # loyalty too: what the legal minimum of 'orders' keeps is kept for 'orders' alone
    assert "identity, loyalty for 'tax_reporting' by law (Income Tax Act s.1)" in warning
    assert "an erasure request or an account closure deletes them" in warning
    assert "legal_minimum" in warning
    # A legal minimum keeping only part of it: the rest is named.
    partly = _taxed(TAX_PURPOSE + KEEPS.format(cats="identity"))
    (warning,) = _warnings(partly)
    assert "must receive loyalty for 'tax_reporting'" in warning and "deletes it" in warning


def test_a_statutory_filing_its_legal_minimum_keeps_is_not_warned_about() -> None:
    kept = _taxed(TAX_PURPOSE + KEEPS.format(cats="identity, loyalty"))
    assert _warnings(kept) == []
    # A recipient without a statutory duty (a demand is needed each time): no warning.
    no_duty = _taxed(office=TAX_OFFICE.replace("    statutory_duty: Income Tax Act s.1\n", ""))
    assert not [w for w in _warnings(no_duty) if "by law" in w]
    # Not a legal obligation (a contract): not this warning.
    contract = _taxed(TAX_PURPOSE.replace("legal_obligation", "contract"))
    assert not [w for w in _warnings(contract) if "must receive" in w]
