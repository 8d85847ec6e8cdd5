"""A customer's export goes only to whoever made it, as they are now.

Before: the download code of a tenant export (``t.requests.export_tenant`` returns it; the
offboarding hands it to ``on_export``) was bound to the tenant only. Another admin of the
same customer with a narrower role (an employer's wellness coordinator, who may read no
person's values) redeemed the code of an export made by an admin without a role, and so
read everyone's heart rate; so did a key bound to the customer (``POST /api/v1/exports``),
any staff member, and the maker after their role was narrowed or their membership
revoked. Now the code is bound to its maker and the role it was made as: anyone else gets
the answer of an unknown code (``no_export``, audited ``request.download``
``not_the_owner``); the maker whose role changed is refused ``role_not_allowed``, and one no
longer an admin ``not_a_member``; nothing is spent, so the maker still downloads it once,
before it expires."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from _http import api_key, client_for, is_problem
from pulse_samples import PASSWORD, PulseWorld, pulse_world
from troth.audit.entries import list_entries
from troth.errors import NotFound, PermissionDenied, Refused
from troth.gate import SYSTEM, Actor, ActorKind

HEART = "heart_rate"


@pytest.fixture
def world(home: Any, tmp_path: Path) -> PulseWorld:
    return pulse_world(home, tmp_path)


def _download_refusals(w: PulseWorld) -> list[Any]:
    return [
        e.entry for e in list_entries(w.t.ctx, action="request.download", outcome="deny", limit=50)
    ]


def _is_boss_export(data: bytes, w: PulseWorld) -> None:
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("data.json"))
    assert doc["exported_by"]["actor"] == w.actors["boss"].label
    assert doc["tenant_id"] == w.tenants["contoso"]


def test_another_admin_with_a_narrower_role_cannot_redeem_the_code(world: PulseWorld) -> None:
    w = world
    link = w.t.requests.export_tenant(w.tenants["contoso"], actor=w.actors["boss"])
    for who in ("coord", "helpdesk_admin"):
        with pytest.raises(NotFound) as got:
            w.t.requests.download(link.token, actor=w.actors[who])
        assert got.value.code == "no_export"
    refused = _download_refusals(w)
    assert [e.reason for e in refused] == ["not_the_owner", "not_the_owner"]
    assert {e.actor for e in refused} == {w.actors["coord"].label, w.actors["helpdesk_admin"].label}
    assert all(e.tenant_id == w.tenants["contoso"] for e in refused)
    # Nothing spent: the maker downloads it, once.
    _is_boss_export(w.t.requests.download(link.token, actor=w.actors["boss"]), w)
    with pytest.raises(NotFound) as again:
        w.t.requests.download(link.token, actor=w.actors["boss"])
    assert again.value.code == "export_used"


def test_a_key_of_the_customer_and_the_vendors_staff_cannot_redeem_it(world: PulseWorld) -> None:
    w = world
    link = w.t.requests.export_tenant(w.tenants["contoso"], actor=w.actors["boss"])
    others = [
        w.actors["key_admin"],
        w.actors["vendor_admin_key"],
        Actor(ActorKind.staff, "po", role="privacy_office"),
        Actor(ActorKind.staff, "ie", role="insights_engine"),
        Actor(ActorKind.vendor_admin, "v"),
        Actor(ActorKind.tenant_member, w.actors["hr"].id, tenant_id=w.tenants["contoso"]),
        Actor(ActorKind.subject, w.people["emp"]),
    ]
    for actor in others:
        with pytest.raises(NotFound):
            w.t.requests.download(link.token, actor=actor)
    assert len(_download_refusals(w)) == len(others)
    _is_boss_export(w.t.requests.download(link.token, actor=w.actors["boss"]), w)


def test_over_http_a_key_of_the_customer_gets_the_unknown_codes_answer(world: PulseWorld) -> None:
    w = world
    link = w.t.requests.export_tenant(w.tenants["contoso"], actor=w.actors["boss"])
    with client_for(w.t.ctx) as c:
        for scopes in (["admin"], ["requests:admin"], ["requests"]):
            headers = api_key(c, scopes, tenant_id=w.tenants["contoso"])
            r = c.post("/api/v1/exports", json={"code": link.token}, headers=headers)
            is_problem(r, 404, "no_export")
            assert HEART not in r.text
    assert [e.reason for e in _download_refusals(w)] == ["not_the_owner"] * 3
    _is_boss_export(w.t.requests.download(link.token, actor=w.actors["boss"]), w)


def test_the_maker_whose_role_was_narrowed_is_refused(world: PulseWorld) -> None:
    w = world
    boss = w.actors["boss"]
    contoso = w.tenants["contoso"]
    link = w.t.requests.export_tenant(contoso, actor=boss)
    w.t.access.tenants.set_member_role(contoso, boss.id, "wellness_coordinator")
    with pytest.raises(Refused) as got:
        w.t.requests.download(link.token, actor=boss)
    assert got.value.reason == "role_not_allowed"
    assert "wellness_coordinator" in got.value.message and "new export" in got.value.message
    (refused,) = _download_refusals(w)
    assert refused.reason == "role_not_allowed" and refused.actor == boss.label
    # Given back the role it was made as (none), the code works again, once.
    w.t.access.tenants.set_member_role(contoso, boss.id, None)
    _is_boss_export(w.t.requests.download(link.token, actor=boss), w)


def test_the_maker_no_longer_a_member_is_refused(world: PulseWorld) -> None:
    w = world
    boss = w.actors["boss"]
    contoso = w.tenants["contoso"]
    link = w.t.requests.export_tenant(contoso, actor=boss)
    w.t.access.tenants.revoke_member(contoso, boss.id)
    with pytest.raises(PermissionDenied):
        w.t.requests.download(link.token, actor=boss)
    (refused,) = _download_refusals(w)
    assert refused.reason == "not_a_member" and refused.actor == boss.label


def test_an_export_troth_made_is_troths_and_expires(world: PulseWorld) -> None:
    """The operator's export (the CLI, with the key file) is not a customer admin's to
    take; an expired code is refused to its maker too."""
    w = world
    contoso = w.tenants["contoso"]
    link = w.t.requests.export_tenant(contoso, actor=SYSTEM)
    with pytest.raises(NotFound):
        w.t.requests.download(link.token, actor=w.actors["boss"])
    assert w.t.requests.download(link.token, actor=SYSTEM)[:2] == b"PK"
    late = w.t.requests.export_tenant(contoso, actor=w.actors["boss"])
    w.t.ctx.clock.advance(timedelta(hours=w.t.ctx.settings.export_link_hours, seconds=1))
    with pytest.raises(NotFound) as got:
        w.t.requests.download(late.token, actor=w.actors["boss"])
    assert got.value.code == "export_expired"


def test_the_maker_made_a_plain_member_is_refused(world: PulseWorld) -> None:
    """Revoked, then invited back as a member (the same account, no longer an admin): the
    actor they signed in as says admin; their account decides."""
    w = world
    boss = w.actors["boss"]
    contoso = w.tenants["contoso"]
    link = w.t.requests.export_tenant(contoso, actor=boss)
    w.t.access.tenants.revoke_member(contoso, boss.id)
    tok, _ = w.t.access.tenants.invite(contoso, "boss@contoso.example", role="member")
    assert w.t.access.tenants.accept_invitation(tok, PASSWORD).id == boss.id
    with pytest.raises(PermissionDenied):
        w.t.requests.download(link.token, actor=boss)
    with pytest.raises(PermissionDenied):
        w.t.requests.export_tenant(contoso, actor=boss)
    assert [e.reason for e in _download_refusals(w)] == ["not_tenant_admin"]
    (made,) = list_entries(w.t.ctx, action="tenant.export", outcome="deny")
    assert made.entry.reason == "not_tenant_admin"
