"""A breach by a named actor, a rogue account (trial 13, F5): its people are exactly those
whose data of the breached categories that actor read in the window, per the audit log
(allowed uses, exports, disclosures; a refused read is no read). What troth holds of
others is not counted. The actor is named with or without its role; one the audit log has
never seen is refused (a typo would otherwise report nobody affected); the breach records
who (``by``), and its counts, clocks and customers' shares follow that population."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from troth.errors import NotFound, Refused, ValidationError
from troth.gate import Actor, ActorKind

ROGUE = Actor(ActorKind.staff, "rogue", role="support")
OTHER = Actor(ActorKind.staff, "sam", role="support")


def _ticket(t: Any, email: str) -> str:
    return str(t.collect("support_ticket", {"email": email, "message": "login fails"}).subject_id)


def _record(t: Any, since: Any, until: Any, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "title": "Rogue support account",
        "description": "A support account read tickets it had no case for.",
        "discovered_at": t.ctx.clock.now(),
        "occurred_from": since,
        "occurred_until": until,
        "categories": ["support"],
    }
    return t.breaches.record_breach(**{**args, **kw})


def _scene(t: Any, clock: Any) -> dict[str, Any]:
    """Six people with tickets; the rogue reads one in the window, one before it, one's
    contact only, is refused one; a colleague reads another; one is never read."""
    p = {k: _ticket(t, f"{k}@example.nz") for k in ("read", "before", "contact", "denied")}
    p |= {k: _ticket(t, f"{k}@example.nz") for k in ("colleague", "untouched")}
    t.collect("customer_contact", {"name": "Cy", "email": "contact@example.nz"})
    clock.advance(days=1)
    t.use(p["before"], purpose="support", actor=ROGUE)
    clock.advance(hours=1)
    p["since"] = clock.now()
    t.use(p["read"], purpose="support", actor=ROGUE)
    # Another category (contact, through the customer_contact point): not a breached read.
    t.use(p["contact"], purpose="provide_service", actor=ROGUE)
    # A refused read names the category but revealed nothing.
    with pytest.raises(Refused):
        t.use(
            p["denied"],
            purpose="support",
            categories=["support"],
            actor=Actor(ActorKind.staff, "rogue", role="accounts"),
        )
    t.use(p["colleague"], purpose="support", actor=OTHER)
    clock.advance(hours=1)
    p["until"] = clock.now()
    clock.advance(hours=1)
    t.use(p["untouched"], purpose="support", actor=ROGUE)  # after the window
    return p


def test_by_counts_exactly_what_the_actor_read_in_the_window(home, db_url, clock):
    t = home("ilign", db_url)
    p = _scene(t, clock)
    for given in ("staff:rogue", "staff:rogue@support", "staff:rogue@accounts"):
        b = _record(t, p["since"], p["until"], actors=[given])
        assert t.breaches.affected_subjects(b.id) == [p["read"]], given
        assert b.affected_count == 1
        d = b.to_dict()
        assert d["by"] == ["staff:rogue"] and d["scope"]["actors"] == ["staff:rogue"]
        assert d["affected_by_source"] == {"audit": 1}
        assert [x["source"] for x in t.breaches.affected_people(b.id)] == ["audit"]
        # The clocks follow the one person read (ilign's organisation: nz).
        assert d["regimes_from"]["basis"] == "affected"
        assert sum(d["regimes_from"]["affected"].values()) == 1
        assert t.breaches.notify_preview(b.id)["to_notify"] == 1
    # Both the rogue and the colleague: both their reads, nobody else.
    both = _record(t, p["since"], p["until"], actors=["staff:rogue", "staff:sam@support"])
    assert sorted(t.breaches.affected_subjects(both.id)) == sorted([p["read"], p["colleague"]])
    assert both.to_dict()["by"] == ["staff:rogue", "staff:sam"]
    # The contact category: the rogue read only one person's contact details in the window.
    contact = _record(t, p["since"], p["until"], actors=["staff:rogue"], categories=["contact"])
    assert sorted(t.breaches.affected_subjects(contact.id)) == sorted([p["read"], p["contact"]])
    # Without --by, everyone holding a ticket (unchanged).
    everyone = _record(t, p["since"], p["until"])
    assert everyone.affected_count == 6 and everyone.to_dict()["by"] == []


def test_an_actor_who_read_nothing_an_unknown_actor_and_other_systems(home, db_url, clock):
    t = home("ilign", db_url)
    p = _scene(t, clock)
    # Known (refused reads only, in another window): a breach with nobody affected.
    early = p["since"] - timedelta(minutes=30)
    nothing = _record(t, early - timedelta(minutes=10), early, actors=["staff:rogue"])
    assert nothing.affected_count == 0 and nothing.to_dict()["by"] == ["staff:rogue"]
    assert t.breaches.affected_subjects(nothing.id) == []
    n = len(t.breaches.list_breaches())
    # Never seen acting (a typo, an id of nothing): refused, naming it; nothing stored.
    for bad, words in (
        ("staff:rouge", "never acted"),
        ("staff:rouge@support", "never acted"),
        ("app:nothing", "never acted"),
        ("rogue", "not understood"),
        ("staff:", "not understood"),
        ("wizard:rogue", "not understood"),
        ("staff:nobody@example.com", "no staff account"),
    ):
        with pytest.raises(ValidationError, match=words):
            _record(t, p["since"], p["until"], actors=[bad])
    # A second actor unknown: refused too, though the first is known.
    with pytest.raises(ValidationError, match="rouge"):
        _record(t, p["since"], p["until"], actors=["staff:rogue", "staff:rouge"])
    # What an actor read is in troth's audit log alone: another system is refused.
    for systems in (["troth", "freshdesk"], ["freshdesk"]):
        with pytest.raises(ValidationError, match="system troth only"):
            _record(t, p["since"], p["until"], actors=["staff:rogue"], systems=systems)
    assert len(t.breaches.list_breaches()) == n


def test_an_account_named_by_its_e_mail(home, db_url, clock):
    t = home("ilign", db_url)
    a = _ticket(t, "a@example.nz")
    _ticket(t, "b@example.nz")
    user = t.access.accounts.add_user(
        "mo@ilign.example", kind="staff", role="support", password="correct horse battery"
    )
    clock.advance(days=1)
    since = clock.now()
    t.use(a, purpose="support", actor=Actor(ActorKind.staff, user.id, role="support"))
    clock.advance(hours=1)
    for given in ("staff:mo@ilign.example", f"staff:{user.id}", "staff:MO@ilign.example@support"):
        b = _record(t, since, clock.now(), actors=[given])
        assert t.breaches.affected_subjects(b.id) == [a], given
        assert b.to_dict()["by"] == [f"staff:{user.id}"]


def _phone_scene(t: Any, clock: Any) -> tuple[dict[str, str], dict[str, str], Any, Any]:
    tenants = {
        n: t.access.tenants.create_tenant(n, f"office@{n.lower()}.example")
        for n in ("Acme", "Bolt", "Cole")
    }
    people = {
        k: str(
            t.collect(
                "user_invitation", {"name": "U", "email": f"{k}@x.example"}, tenant_id=tenants[ten]
            ).subject_id
        )
        for k, ten in (("a1", "Acme"), ("a2", "Acme"), ("b1", "Bolt"), ("c1", "Cole"))
    }
    clock.advance(days=1)
    since = clock.now()
    # An application's key, stolen (the vendor's staff need the customer's grant).
    rogue = Actor(ActorKind.application, "eve", scopes=frozenset({"use"}))
    for k in ("a1", "b1"):
        t.use(people[k], purpose="provide_service", actor=rogue)
    clock.advance(hours=1)
    return tenants, people, since, clock.now()


def test_customers_see_only_their_own_people_the_actor_read(home, db_url, clock):
    t = home("phone-service", db_url)
    tenants, people, since, until = _phone_scene(t, clock)
    b = _record(t, since, until, categories=["contact"], actors=["app:eve"])
    assert sorted(t.breaches.affected_subjects(b.id)) == sorted([people["a1"], people["b1"]])
    steps = {s["tenant_id"]: s["people"] for s in t.breaches.controllers(b.id)}
    assert steps == {tenants["Acme"]: 1, tenants["Bolt"]: 1}

    def key(name: str) -> Actor:
        return Actor(
            ActorKind.application, "k", tenant_id=tenants[name], scopes=frozenset({"admin"})
        )

    (acme,) = t.breaches.for_tenant(actor=key("Acme"))
    assert acme["id"] == b.id and acme["your_people_affected"] == 1
    assert "by" not in acme and "scope" not in acme  # the vendor's staff are not named
    # Cole's person was never read: the breach is not Cole's (404 like none at all).
    assert t.breaches.for_tenant(actor=key("Cole")) == []
    with pytest.raises(NotFound):
        t.breaches.for_tenant(actor=key("Cole"), breach_id=b.id)
    # Scoped to a tenant too: the actor's reads of that tenant's people only.
    only_bolt = _record(
        t,
        since,
        until,
        categories=["contact"],
        actors=["application:eve"],
        tenants=[tenants["Bolt"]],
    )
    assert t.breaches.affected_subjects(only_bolt.id) == [people["b1"]]


def test_over_http_a_breach_by_an_actor(home, db_url, clock):
    from _http import api_key, client_for, is_problem

    t = home("phone-service", db_url)
    tenants, _people, since, until = _phone_scene(t, clock)
    body = {
        "title": "Stolen application key",
        "description": "x",
        "discovered_at": clock.now().isoformat(),
        "occurred_from": since.isoformat(),
        "occurred_until": until.isoformat(),
        "categories": ["contact"],
    }
    with client_for(t.ctx) as c:
        admin = api_key(c, ["admin"])
        r = c.post("/api/v1/breaches", json={**body, "actors": ["app:eve"]}, headers=admin)
        assert r.status_code == 201, r.text
        b = r.json()
        assert b["affected_count"] == 2 and b["by"] == ["application:eve"]
        assert b["affected_by_source"] == {"audit": 2} and b["people"]["left_to_controller"] == 2
        assert {s["tenant_id"] for s in b["controllers"]} == {tenants["Acme"], tenants["Bolt"]}
        one = c.get(f"/api/v1/breaches/{b['id']}", headers=admin).json()
        assert one["by"] == ["application:eve"] and one["affected_count"] == 2
        n = len(t.breaches.list_breaches())
        bad = c.post("/api/v1/breaches", json={**body, "actors": ["app:evee"]}, headers=admin)
        assert "never acted" in is_problem(bad, 422)["detail"]
        assert len(t.breaches.list_breaches()) == n
        cole = api_key(c, ["admin"], tenant_id=tenants["Cole"])
        is_problem(c.get(f"/api/v1/breaches/{b['id']}", headers=cole), 404)
        acme = api_key(c, ["breaches"], tenant_id=tenants["Acme"])
        mine = c.get(f"/api/v1/breaches/{b['id']}", headers=acme).json()
        assert mine["your_people_affected"] == 1 and "by" not in mine


def test_on_the_command_line(home, capsys, clock) -> None:
    from cli_runner import run

    t = home("ilign")
    p = _scene(t, clock)

    def cli(*args: str) -> tuple[int, str, str]:
        return run(capsys, "--home", str(t.ctx.home), "breaches", *args)

    base = ["record", "--title", "Rogue", "--description", "x", "--category", "support",
            "--until", p["until"].isoformat(),
            "--actor", "staff:pat@privacy_office"]  # fmt: skip
    code, out, err = cli(*base, "--from", p["since"].isoformat(), "--by", "staff:rogue@support")
    assert code == 0, err
    assert "affects 1 people" in out and "only what staff:rogue read" in out
    bid = out.split()[0]
    shown = json.loads(cli("show", bid)[1])
    assert shown["by"] == ["staff:rogue"] and shown["affected_count"] == 1
    code, out, err = cli("affected", bid)
    assert p["read"] in out and p["denied"] not in out and "audit" in out
    # Read nothing of it in the window: recorded, and said plainly.
    early = (p["since"] - timedelta(minutes=30)).isoformat()
    code, out, err = cli(*base[:-4], "--until", early, "--from",
                         (p["since"] - timedelta(minutes=40)).isoformat(),
                         "--by", "staff:rogue")  # fmt: skip
    assert code == 0, err
    assert "affects 0 people" in out and "staff:rogue read no data of support" in out
    code, out, err = cli(*base, "--from", p["since"].isoformat(), "--by", "staff:rouge")
    assert code != 0 and "never acted" in err
