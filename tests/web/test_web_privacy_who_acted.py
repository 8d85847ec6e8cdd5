"""Who read a person's data, in their words (trial #15 F2, #16 D4): a read by an API key
bound to a customer is the customer's system, said with the customer's name ("Contoso
Wellness's systems read ..."), as a read by the customer's admins and members is its staff
("Contoso Wellness's staff read ..."); only a key bound to no customer is "Our systems".
The same on the privacy centre's page and in the "who" of the access export's log."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from _http import PASSWORD, api_key, client_for, privacy_sign_in, section
from audit_helpers import edit_row
from requests_helpers import verified
from troth.access import actor_for
from troth.access.who import Acting, acting_in, who_acted
from troth.clock import ManualClock
from troth.engine import Troth
from troth.gate import SYSTEM, Actor, ActorKind
from troth.store.tables import tenants

ANN = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 High Street, Leeds",
    "product": "Mindlink Pro",
    "renewal_date": "2027-01-01",
}
READ = "read your"


@pytest.fixture
def ctx(home: Any) -> Any:
    return home("mindlink", clock=ManualClock(), context=True)


def _reads(ctx: Any) -> tuple[Troth, str, str]:
    """Ann, a person of Contoso Wellness, read by Contoso's HR-system key, by Contoso's
    admin, and by the vendor's own key: (troth, Ann's id, Contoso's id)."""
    t = Troth(ctx)
    contoso = t.access.tenants.create_tenant("Contoso Wellness", "office@contoso.example")
    sid = t.collect("purchase", ANN, tenant_id=contoso).subject_id
    tok, _ = t.access.tenants.invite(contoso, "boss@contoso.example", role="admin")
    boss = actor_for(t.access.tenants.accept_invitation(tok, PASSWORD))
    t.use(sid, purpose="account_management", actor=boss)
    with client_for(ctx) as c:
        for key in (api_key(c, ["use"], tenant_id=contoso), api_key(c, ["use"])):
            r = c.get(f"/api/v1/subjects/{sid}?purpose=account_management", headers=key)
            assert r.status_code == 200, r.text
    return t, sid, contoso


def test_the_page_names_the_customer_whose_system_or_staff_read(ctx: Any) -> None:
    _reads(ctx)
    with client_for(ctx) as c:
        privacy_sign_in(c, ctx, ANN["email"])
        accesses = section(c.get("/privacy/me").text, "acc-h")
    assert f"Contoso Wellness&#39;s systems {READ}" in accesses, accesses
    assert f"Contoso Wellness&#39;s staff {READ}" in accesses
    assert accesses.count(f"Our systems {READ}") == 1  # the vendor's own key, only
    assert "Your organisation" not in accesses


def test_the_access_export_says_who_in_the_same_words(ctx: Any) -> None:
    t, _sid, contoso = _reads(ctx)
    # The customer's person: a request at the customer (its people are the customer's, and
    # the vendor's own desk reaches only the vendor's own people).
    done = t.requests.execute(verified(t, "access", ANN["email"], tenant_id=contoso))
    assert done.download_token
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM)))
    uses = [a for a in json.loads(zf.read("data.json"))["access_log"] if a["action"] == "use"]
    # Who, in words alone: the actor's label (a key's id, an admin's address) is not
    # the person's to read (trial #19 F6).
    assert sorted(a["who"] for a in uses) == [
        "Contoso Wellness's staff",
        "Contoso Wellness's systems",
        "Our systems",
    ]
    assert not any("actor" in a for a in uses)
    assert "who" in zf.read("access_log.csv").decode().splitlines()[0]
    html = zf.read("summary.html").decode()
    assert "Contoso Wellness&#39;s systems" in html and "Our systems" in html


def test_every_kind_of_actor_in_words(ctx: Any) -> None:
    t = Troth(ctx)
    contoso = t.access.tenants.create_tenant("Contoso Wellness", "office@contoso.example")
    _, bound = t.access.keys.create_api_key("hris", ["use"], tenant_id=contoso)
    _, vendor = t.access.keys.create_api_key("crm", ["use"])
    tok, _ = t.access.tenants.invite(contoso, "m@contoso.example")
    member = actor_for(t.access.tenants.accept_invitation(tok, PASSWORD))
    staff = t.access.accounts.add_user("sam@mindlink.example", kind="staff", role="support")
    admin = t.access.accounts.add_user("ops@mindlink.example", kind="vendor_admin")
    acting = acting_in(t.ctx)

    def who(actor: Actor | str) -> str:
        label = actor if isinstance(actor, str) else actor.label
        return who_acted(label, "s1", t.ctx.policy, acting)

    assert who(f"application:{bound.id}") == "Contoso Wellness's systems"
    assert who(f"application:{vendor.id}") == "Our systems"
    assert who("application:shop") == "Our systems"  # an asserted actor, of the operator
    assert who(member) == "Contoso Wellness's staff"
    assert who(actor_for(staff)) == "Our support team"
    assert who(actor_for(admin)) == "Our administrators"
    assert who(Actor(ActorKind.subject, "s1")) == "You"
    assert who(Actor(ActorKind.subject, "s2")) == "Someone else"
    assert who(SYSTEM) == "We"
    # A customer's name a database writer put there is not shown: the customer unnamed.
    edit_row(t, tenants, contoso, name="Mindlink Security Team")
    fresh = acting_in(t.ctx)
    said = who_acted(f"application:{bound.id}", "s1", t.ctx.policy, fresh)
    assert said == "Your organisation's systems"
    assert who_acted(member.label, "s1", t.ctx.policy, fresh) == "Your organisation's staff"
    # Without a lookup's answer (an account or key since gone), the plain words.
    assert who_acted(member.label, "s1", t.ctx.policy, lambda _a: Acting()) == (
        "Your organisation's staff"
    )
