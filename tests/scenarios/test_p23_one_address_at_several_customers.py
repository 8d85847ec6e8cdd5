"""P23/P25 with one e-mail address known to several customers (tenants) and to the
organisation itself: a look-up, a request or a sign-in never picks one of those people by
row order. The organisation's own person comes first where there is one; a customer's
person is named by the tenant; several and no way to choose is a clear error asking for the
tenant (only to those who may look anyone up: for others, the unknown person's 404). A
request to the organisation's own desk reaches a customer's person only where the policy
makes the organisation their controller (``tenant_controller: organisation``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cli_runner import run
from troth.access import actor_for
from troth.access.signin import signin_codes, start_signin
from troth.engine import Troth
from troth.errors import NotFound, ValidationError
from troth.gate import Actor, ActorKind

PW = "correct horse battery staple"
MIA = "mia@example.com"


@pytest.fixture
def phone(home: Any, db_url: str) -> Iterator[Troth]:
    t = home("phone-service", db_url)
    yield t
    t.close()


def _mia(t: Troth, tenant: str | None, email: str = MIA) -> str:
    data = {"company_name": "Co", "name": "Mia", "email": email}
    return t.collect("customer_signup", data, tenant_id=tenant).subject_id


def _tenants(t: Troth) -> tuple[str, str]:
    a = t.access.tenants.create_tenant("Gym A", "office@gyma.example")
    b = t.access.tenants.create_tenant("Gym B", "office@gymb.example")
    return a, b


def test_p23_the_organisations_own_person_comes_first_a_customers_by_tenant(
    phone: Troth,
) -> None:
    t = phone
    a, b = _tenants(t)
    in_a, in_b = _mia(t, a), _mia(t, b)
    own = _mia(t, None)
    assert len({in_a, in_b, own}) == 3
    assert t.find(email=MIA) == own
    assert t.find(email=MIA, tenant_id=a) == in_a
    assert t.find(email=MIA, tenant_id=b) == in_b
    # The desk's request without a tenant is the organisation's own person's; with one,
    # that customer's; executing either erases that person only.
    req = t.requests.open("delete", email=MIA)
    assert (req.subject_id, req.tenant_id) == (own, None)
    req_b = t.requests.open("delete", email=MIA, tenant_id=b)
    assert (req_b.subject_id, req_b.tenant_id) == (in_b, b)
    t.requests.verify_by_staff(req_b.id, staff="ada", reason="id seen")
    t.requests.execute(req_b.id)
    assert t.find(email=MIA, tenant_id=a) == in_a and t.find(email=MIA) == own
    with pytest.raises(NotFound):
        t.find(email=MIA, tenant_id=b)


def test_p23_an_address_of_several_customers_is_looked_up_by_tenant(
    phone: Troth, capsys: pytest.CaptureFixture[str]
) -> None:
    t = phone
    a, b = _tenants(t)
    in_a, in_b = _mia(t, a), _mia(t, b)
    with pytest.raises(ValidationError) as err:
        t.find(email=MIA)
    assert err.value.code == "ambiguous_person" and "tenant" in err.value.message
    assert MIA not in err.value.message  # the message names no one
    # The organisation's own desk, where the customers decide about their people, holds no
    # record of its own for her: the request is the organisation's, bound to no one of
    # theirs (trial 16, F1; tests/requests/test_requests_desk_customers.py).
    req = t.requests.open("delete", email=MIA)
    assert (req.subject_id, req.tenant_id) == (None, None)
    assert t.requests.open("access", email=MIA, tenant_id=a).subject_id == in_a
    code, out, err = run(capsys, "--home", str(t.ctx.home), "find", "--email", MIA)
    assert code != 0 and "name the tenant" in err and in_b not in out
    code, out, _err = run(capsys, "--home", str(t.ctx.home), "find", "--email", MIA, "--tenant", b)
    assert code == 0 and in_b in out
    # The person of one customer asking through their own session is never ambiguous.
    req = t.requests.open(
        "access", subject_id=in_b, email=MIA, actor=Actor(ActorKind.subject, in_b)
    )
    assert (req.subject_id, req.tenant_id, req.on_behalf_of) == (in_b, b, None)


def test_p23_where_the_organisation_decides_a_desk_request_must_name_the_tenant(
    home: Any, db_url: str
) -> None:
    # tenant_controller: organisation (it decides about the customers' people too): the
    # desk's request may reach a customer's person, so two of them is ambiguous.
    t = home("phone-service", db_url, edit=lambda d: d.update(tenant_controller="organisation"))
    a, b = _tenants(t)
    _mia(t, a), _mia(t, b)
    n = len(t.requests.list(include_closed=True))
    with pytest.raises(ValidationError, match="name the tenant"):
        t.requests.open("delete", email=MIA)
    assert len(t.requests.list(include_closed=True)) == n  # nothing half-stored


def test_p23_who_may_be_told_an_address_is_ambiguous(phone: Troth) -> None:
    t = phone
    a, b = _tenants(t)
    in_a, _in_b = _mia(t, a), _mia(t, b)
    member = actor_for(
        t.access.tenants.accept_invitation(
            t.access.tenants.invite(a, "mo@gyma.example", role="admin")[0], PW
        )
    )
    dpo = actor_for(
        t.access.accounts.add_user("dpo@vendor.example", kind="staff", role="privacy_office")
    )
    support = Actor(ActorKind.staff, "sam", role="support")
    # A customer's member looks among its own people only: one person, no ambiguity.
    assert t.access.records.find_for(member, email=MIA) == in_a
    # The office may look anyone up: it is told to name the tenant.
    with pytest.raises(ValidationError) as err:
        t.access.records.find_for(dpo, email=MIA)
    assert err.value.code == "ambiguous_person"
    # Support staff without that power learn nothing: the unknown person's 404.
    with pytest.raises(NotFound) as unknown:
        t.access.records.find_for(support, email=MIA)
    with pytest.raises(NotFound) as nobody:
        t.access.records.find_for(support, email="nobody@example.com")
    assert unknown.value.message == nobody.value.message


def test_p23_the_privacy_centre_sign_in_answers_an_ambiguous_address_like_any(
    phone: Troth,
) -> None:
    t = phone
    a, b = _tenants(t)
    first, _second = _mia(t, a), _mia(t, b)
    challenge = start_signin(t.ctx, MIA)
    with t.ctx.engine.connect() as conn:
        row = conn.execute(signin_codes.select().where(signin_codes.c.id == challenge)).one()
    # A code is sent (the address is known), for one person chosen by rule, not row order:
    # the oldest, as no one is the organisation's own.
    assert row.subject_id == min(first, _second)


def test_p23_troth_itself_is_told_an_address_is_ambiguous(phone: Troth) -> None:
    t = phone
    a, b = _tenants(t)
    _mia(t, a), _mia(t, b)
    # troth's own work (a worker, a desk import) must name the tenant, never be guessed for.
    with pytest.raises(ValidationError) as err:
        t.access.records.find_for(Actor(ActorKind.system, "troth"), email=MIA)
    assert err.value.code == "ambiguous_person"


def test_p23_a_customers_key_opens_a_request_for_its_own_person_of_a_shared_address(
    phone: Troth,
) -> None:
    t = phone
    a, b = _tenants(t)
    in_a, in_b = _mia(t, a), _mia(t, b)
    own = _mia(t, None)
    # A's credential, naming no tenant, is never ambiguous and never reaches B's or the
    # organisation's own person: the request is A's person's, under A.
    for kind in (ActorKind.tenant_admin, ActorKind.application):
        actor = Actor(kind, "k", tenant_id=a)
        req = t.requests.open("delete", email=MIA, actor=actor)
        assert (req.subject_id, req.tenant_id) == (in_a, a)
    # Its desk executing it erases A's person only.
    t.requests.verify_by_staff(req.id, staff="ada", reason="id seen")
    t.requests.execute(req.id)
    assert t.find(email=MIA) == own and t.find(email=MIA, tenant_id=b) == in_b
    with pytest.raises(NotFound):
        t.find(email=MIA, tenant_id=a)
    # B's credential naming A's tenant is refused as unknown, nothing stored.
    n = len(t.requests.list(include_closed=True))
    with pytest.raises(NotFound):
        t.requests.open(
            "delete", email=MIA, tenant_id=a, actor=Actor(ActorKind.application, "k", tenant_id=b)
        )
    assert len(t.requests.list(include_closed=True)) == n
