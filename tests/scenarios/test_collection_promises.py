"""P01-P04, P06, P22: collection and use, driven through the Python API with the example
policies, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from troth.audit.tables import audit_entries
from troth.errors import Refused, ValidationError
from troth.gate import SYSTEM, Actor, ActorKind
from troth.store.tables import records, subjects
from troth.store.values import read_values

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
MARKETING = Actor(ActorKind.staff, "mo", role="marketing")
SHIP = Actor(ActorKind.staff, "sue", role="shipping_desk")


def _count(t, table) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _denials(t, reason: str) -> list[dict]:
    from troth.audit.entries import list_entries

    return [e for e in list_entries(t.ctx, limit=1000) if e.entry.reason == reason]


def test_p01_undeclared_field_refused_nothing_stored(home, db_url):
    t = home("mindlink", db_url)
    with pytest.raises(Refused) as exc:
        t.collect(
            "contact_form",
            {"email": "ann@example.com", "message": "hi", "date_of_birth": "1990-01-01"},
        )
    assert exc.value.reason == "field_not_declared"
    assert "date_of_birth" in exc.value.message and "it collects" in exc.value.message
    assert _count(t, records) == 0 and _count(t, subjects) == 0
    assert len(_denials(t, "field_not_declared")) == 1
    # The same form without the extra field is accepted.
    t.collect("contact_form", {"email": "ann@example.com", "message": "hi"})
    assert _count(t, records) == 2


def test_p01_bad_values_refused_with_clear_errors(home, db_url):
    t = home("mindlink", db_url)
    with pytest.raises(ValidationError, match="requires field"):
        t.collect("contact_form", {"message": "no e-mail"})
    with pytest.raises(ValidationError, match="not an e-mail"):
        t.collect("contact_form", {"email": "nope", "message": "x"})
    with pytest.raises(ValidationError, match="expected text"):
        t.collect("contact_form", {"email": "a@b.example", "message": 42})
    with pytest.raises(ValidationError, match="too long"):
        t.collect("contact_form", {"email": "a@b.example", "message": "x" * 200_000})
    with pytest.raises(Refused) as exc:
        t.collect("no_such_point", {"email": "a@b.example"})
    assert exc.value.reason == "unknown_collection_point"
    assert _count(t, records) == 0 and _count(t, subjects) == 0
    # Each refusal is in the audit log, with the problem and never the value.
    assert len(_denials(t, "invalid_input")) == 4
    assert all("x" * 50 not in str(e.entry.details) for e in _denials(t, "invalid_input"))


def test_p02_data_bound_to_collection_point_purposes(home, db_url):
    t = home("mindlink", db_url)
    r = t.collect(
        "purchase",
        {"name": "Ann", "email": "ann@example.com", "address": "1 High St", "product": "Pro"},
    )
    assert set(r.purposes) == {"sales", "account_management"}
    view = t.use(r.subject_id, purpose="account_management", actor=SUPPORT)
    assert view.get("email") == "ann@example.com"
    assert {v.collection_point for v in view.values} == {"purchase"}
    # Support's purpose may use contact data, but this data was not collected for it.
    with pytest.raises(Refused) as exc:
        t.use(r.subject_id, purpose="support", actor=SUPPORT)
    assert exc.value.reason == "purpose_not_of_collection"
    # Data from the support form serves support.
    t.collect(
        "support_request",
        {"name": "Ann", "email": "ann@example.com", "message": "help"},
    )
    view = t.use(r.subject_id, purpose="support", actor=SUPPORT)
    assert view.get("message") == "help"
    assert all(v.collection_point == "support_request" for v in view.values)
    assert "address" not in view.as_dict()


def test_p03_third_party_data_keeps_source_and_one_purpose(home, db_url):
    t = home("mindlink", db_url)
    # Third-party data may not be bound to a purpose it was not supplied for.
    with pytest.raises(Refused) as exc:
        t.collect(
            "third_party_supply",
            {"name": "Bo", "email": "bo@example.com"},
            supplier="Acme Lists Ltd",
            purposes=["sales"],
        )
    assert exc.value.reason == "purpose_not_of_collection"
    assert _count(t, records) == 0
    r = t.collect(
        "third_party_supply",
        {"name": "Bo", "email": "bo@example.com", "organisation": "Acme"},
        supplier="Acme Lists Ltd",
        purposes=["prospecting"],
    )
    view = t.use(r.subject_id, purpose="prospecting", actor=MARKETING)
    assert {v.source for v in view.values} == {"third_party"}
    assert {v.supplier for v in view.values} == {"Acme Lists Ltd"}
    assert {v.purposes for v in view.values} == {("prospecting",)}
    with pytest.raises(Refused) as exc:
        t.use(r.subject_id, purpose="sales", actor=ACCOUNTS)
    assert exc.value.reason == "purpose_not_of_collection"


def test_p04_minor_refused_and_found_later_is_deleted(home, db_url, clock):
    t = home("itechno", db_url)
    order = {
        "name": "Kid",
        "email": "kid@example.com",
        "address": "2 Low St",
        "card_number": "4111111111111111",
        "card_expiry": "12/29",
        "order_items": "1 game",
    }
    with pytest.raises(Refused) as exc:
        t.collect("order_form", {**order, "date_of_birth": "2012-05-01"})
    assert exc.value.reason == "minor" and "18" in exc.value.message
    assert _count(t, records) == 0 and _count(t, subjects) == 0
    assert len(_denials(t, "minor")) == 1
    # An adult's date of birth is checked, then not kept: no purpose needs it.
    adult = t.collect(
        "order_form", {**order, "email": "ad@example.com", "date_of_birth": "1990-05-01"}
    )
    with t.ctx.engine.connect() as conn:
        fields = set(conn.execute(sa.select(records.c.field)).scalars())
    assert "date_of_birth" not in fields
    # Found later (a support agent learns the buyer is 15): deleted everywhere, audited.
    later = t.collect("order_form", {**order, "email": "teen@example.com"})
    t.report_minor(later.subject_id, evidence="ticket 42: parent says the buyer is 15")
    with t.ctx.engine.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).where(records.c.subject_id == later.subject_id)
        ).scalar_one()
        status = conn.execute(
            sa.select(subjects.c.status).where(subjects.c.id == later.subject_id)
        ).scalar_one()
    # Deleted, except what the law keeps (itechno's billing data, 7 years), restricted to
    # that legal purpose.
    with t.ctx.engine.connect() as conn:
        kept = read_values(conn, t.ctx, later.subject_id)
    assert status == "erased" and len(kept) == left
    assert kept and all(v.restricted_to == "billing" for v in kept)
    with pytest.raises(Refused) as exc:
        t.use(later.subject_id, purpose="order_fulfilment", actor=SHIP)
    # The person is erased: a purpose that keeps nothing is refused as such (issue 14).
    assert exc.value.reason == "subject_erased"
    from troth.audit.entries import list_entries

    erased = [
        e
        for e in list_entries(t.ctx, subject_id=later.subject_id)
        if e.entry.action == "minor.erase"
    ]
    assert erased and "ticket 42" in erased[0].entry.details["evidence"]
    assert t.use(adult.subject_id, purpose="billing", actor=ACCOUNTS).get("name") == "Kid"


def test_p04_minimum_age_per_jurisdiction(home, db_url):
    def edit(p):
        p["minors"] = {"minimum_age": 16, "by_jurisdiction": {"uk_gdpr": 13}}

    t = home("mindlink", db_url, edit=edit)
    cp = t.ctx.policy.points["purchase"]
    assert cp.age_field is None  # mindlink's forms carry no age: nothing to check
    assert t.ctx.policy.minimum_age("uk_gdpr") == 13
    assert t.ctx.policy.minimum_age("gdpr") == 16


def test_p06_every_use_names_a_declared_purpose(home, db_url):
    t = home("mindlink", db_url)
    r = t.collect(
        "purchase", {"name": "Ann", "email": "a@example.com", "address": "x", "product": "P"}
    )
    with pytest.raises(Refused) as exc:
        t.use(r.subject_id, purpose="resale", actor=ACCOUNTS)
    assert exc.value.reason == "purpose_not_declared"
    with pytest.raises(Refused) as exc:
        t.use(r.subject_id, purpose="sales", actor=ACCOUNTS, categories=["job_application"])
    assert exc.value.reason == "purpose_not_declared_for_category"
    assert len(_denials(t, "purpose_not_declared")) == 1
    assert len(_denials(t, "purpose_not_declared_for_category")) == 1
    ok = t.use(r.subject_id, purpose="sales", actor=ACCOUNTS)
    assert ok.get("address") == "x"


def test_p22_storage_outside_allowed_locations_refused(home, db_url):
    t = home("mindlink", db_url)
    with pytest.raises(Refused) as exc:
        t.collect("contact_form", {"email": "a@example.com", "message": "m"}, location="US")
    assert exc.value.reason == "location_not_allowed" and "GB" in exc.value.message
    assert _count(t, records) == 0
    r = t.collect("contact_form", {"email": "a@example.com", "message": "m"}, location="EU")
    view = t.use(r.subject_id, purpose="enquiries", actor=SUPPORT)
    assert {v.location for v in view.values} == {"EU"}


def test_p06_collection_goes_through_the_gate_for_the_actor(home, db_url):
    t = home("mindlink", db_url)
    form = {"email": "a@example.com", "message": "hello"}
    no_scope = Actor(ActorKind.application, "crm", scopes=frozenset({"use"}))
    with pytest.raises(Refused) as exc:
        t.collect("contact_form", form, actor=no_scope)
    assert exc.value.reason == "scope_missing"
    hr = Actor(ActorKind.staff, "hana", role="hr")
    with pytest.raises(Refused) as exc:
        t.collect("contact_form", form, actor=hr)
    assert exc.value.reason == "role_not_allowed"
    assert _count(t, records) == 0 and _count(t, subjects) == 0
    assert len(_denials(t, "scope_missing")) == 1
    scoped = Actor(ActorKind.application, "web", scopes=frozenset({"collect:enquiries"}))
    r = t.collect("contact_form", form, actor=scoped)
    assert r.purposes == ("enquiries",) and r.stored == 2


def test_p07_consent_purposes_of_a_point_need_consent_at_collection(home, db_url):
    t = home("mindlink", db_url)
    signup = {"name": "Nia", "email": "nia@example.com"}
    # Name and e-mail would serve only the newsletter purposes, which rest on consent:
    # without consent nothing is collected (P07), and the refusal is audited.
    with pytest.raises(Refused) as exc:
        t.collect("newsletter_signup", signup)
    assert exc.value.reason == "no_consent"
    assert _count(t, records) == 0 and _count(t, subjects) == 0
    r2 = t.collect(
        "newsletter_signup", {**signup, "email": "o@example.com"}, consents=["newsletter"]
    )
    assert "newsletter" in r2.purposes
    # Consent to the newsletter is not consent to service e-mails.
    assert "service_updates" not in r2.purposes
    assert r2.dropped_purposes["service_updates"] == "no_consent"
    with pytest.raises(ValidationError, match="unknown purpose"):
        t.collect("newsletter_signup", signup, consents=["nonsense"])


def test_p02_a_value_narrowed_to_one_purpose_serves_no_other_of_its_point(home, db_url):
    """A collection narrowed with ``purposes=`` binds its values to those purposes only:
    another purpose of the same point is refused for them (audited), whoever asks, and
    the answer the collection gave (``not_for``) stays true. Before, the point's other
    purposes were served, and the audit log recorded those reads as allowed."""
    t = home("itechno", db_url)
    order = {
        "name": "Ann Lee",
        "email": "ann@example.com",
        "address": "1 Main St",
        "card_number": "4111111111111111",
        "card_expiry": "12/29",
        "order_items": "1 widget",
    }
    r = t.collect("order_form", order, purposes=["billing"])
    assert list(r.purposes) == ["billing"]
    assert t.use(r.subject_id, purpose="billing", actor=ACCOUNTS).get("name") == "Ann Lee"
    for actor in (SUPPORT, SYSTEM):
        with pytest.raises(Refused) as exc:
            t.use(r.subject_id, purpose="order_fulfilment", actor=actor)
        assert exc.value.reason == "purpose_not_of_collection"
    with pytest.raises(Refused):
        t.disclosures.disclose(r.subject_id, "shipping_company", "order_fulfilment", SYSTEM)
    a = audit_entries.c
    with t.ctx.engine.connect() as conn:
        q = sa.select(a.outcome).where(a.action == "use", a.purpose == "order_fulfilment")
        assert set(conn.execute(q).scalars()) == {"deny"}
    # The same order collected for both purposes serves both.
    both = t.collect("order_form", {**order, "email": "bo@example.com", "name": "Bo"})
    view = t.use(both.subject_id, purpose="order_fulfilment", actor=SYSTEM)
    assert view.get("name") == "Bo"
