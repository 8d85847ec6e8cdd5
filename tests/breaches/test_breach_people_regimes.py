"""A breach's clocks follow the people it affects, not the organisation (trial 10, item 3);
a customer (tenant) is told of a breach of its people's data and reads only its own share
(trial 10, item 4); a notice names the contact point, in the person's time and words
(trial 11, item 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from breach_helpers import person
from outbox_helpers import outbox_mail
from troth.errors import NotFound, Refused, ValidationError
from troth.gate import Actor, ActorKind


def _policy(data: dict[str, Any]) -> None:
    org = data["organisation"]
    org["jurisdictions"] = ["uk_gdpr", "ccpa", "pipeda"]
    org["time_zones"] = {"ccpa": "America/Los_Angeles", "pipeda": "America/Toronto"}
    org["dpo"] = {"name": "Dana Protect", "email": "dpo@phone-service.example"}


def _home(home: Any, db_url: str | None = None, edit: Any = _policy) -> Any:
    return home("phone-service", db_url, edit=edit)


def _record(t: Any, clock: Any, **kw: Any) -> Any:
    now = clock.now()
    args: dict[str, Any] = {
        "title": "Gradebook exposed",
        "description": "An export was readable without login.",
        "discovered_at": now,
        "occurred_from": now - timedelta(days=2),
        "occurred_until": now - timedelta(minutes=1),
        "categories": ["contact"],
    }
    return t.breaches.record_breach(**{**args, **kw})


def _clocks(t: Any, bid: str) -> set[tuple[str, str]]:
    return {(c["regime"], c["audience"]) for c in t.breaches.clocks(bid)}


def test_pipeda_people_run_pipeda_clocks_only(home, db_url, clock):
    t = _home(home, db_url)
    maple = t.access.tenants.create_tenant("Maple PS", "office@maple.example")
    for i in range(3):
        person(t, f"p{i}@maple.example", maple, "pipeda")
    clock.advance(days=1)
    b = _record(t, clock, tenants=[maple])
    assert b.regimes == ("pipeda",)
    assert b.to_dict()["regimes_from"]["basis"] == "affected"
    assert b.to_dict()["regimes_from"]["affected"] == {"pipeda": 3}
    # No UK 72 hours, no California 30 days; PIPEDA's determination shows without --high-risk.
    # Maple's people are Maple's: the determination is Maple's (its controller), and the
    # organisation's own clock is telling Maple (trial 16, G2).
    assert _clocks(t, b.id) == {("pipeda", "assessment"), ("pipeda", "controller")}
    owed = {(c["audience"], c["owed_by"]) for c in t.breaches.clocks(b.id)}
    assert owed == {("assessment", "controllers"), ("controller", "organisation")}


def test_three_jurisdictions_and_the_officer_adds_one(home, db_url, clock):
    t = _home(home, db_url)
    uk = person(t, "uk@example.com", None, "uk_gdpr")
    person(t, "ca@example.com", None, "ccpa")
    person(t, "on@example.com", None, "pipeda")
    clock.advance(days=1)
    b = _record(t, clock)
    assert b.regimes == ("ccpa", "pipeda", "uk_gdpr")
    assert {("uk_gdpr", "regulator"), ("ccpa", "individuals"), ("pipeda", "assessment")} <= (
        _clocks(t, b.id)
    )
    # --regime adds (the officer knows of someone troth does not); it never hides a law.
    more = _record(t, clock, regimes=["gdpr"])
    assert more.regimes == ("ccpa", "gdpr", "pipeda", "uk_gdpr")
    assert more.to_dict()["regimes_from"]["given"] == ["gdpr"]
    # Excluding the UK person settles the regimes again: no UK clock any more.
    after = t.breaches.exclude_people(b.id, [uk], reason="encrypted copy")
    assert after.regimes == ("ccpa", "pipeda")
    assert not {c for c in _clocks(t, b.id) if c[0] == "uk_gdpr"}


def test_no_one_affected_yet_falls_back_to_the_organisation(home, db_url, clock):
    t = _home(home, db_url)
    clock.advance(days=1)
    b = _record(t, clock)
    assert b.affected_count == 0
    assert b.regimes == ("ccpa", "pipeda", "uk_gdpr")
    basis = b.to_dict()["regimes_from"]
    assert basis["basis"] == "organisation" and "no one affected is known yet" in basis["note"]
    named = _record(t, clock, regimes=["pipeda"])
    assert named.regimes == ("pipeda",)


def test_calendar_days_count_in_the_regime_zone_across_the_year_end(home, db_url, clock):
    t = _home(home, db_url)
    person(t, "ca@example.com", None, "ccpa")
    # 31 December, 20:00 in Los Angeles is already 1 January in UTC.
    clock.set(datetime(2027, 1, 1, 4, 30, tzinfo=UTC))
    b = _record(
        t,
        clock,
        discovered_at=datetime(2027, 1, 1, 4, 0, tzinfo=UTC),
        occurred_from=datetime(2026, 12, 30, tzinfo=UTC),
        occurred_until=datetime(2027, 1, 1, 3, 0, tzinfo=UTC),
    )
    (ca,) = [c for c in t.breaches.clocks(b.id) if c["audience"] == "individuals"]
    assert ca["zone"] == "America/Los_Angeles"
    assert ca["due_local"].startswith("2027-01-30T20:00")
    # Across the clocks' change in March the 30 days stay calendar days (same wall time).
    clock.set(datetime(2027, 3, 1, 18, 30, tzinfo=UTC))
    spring = _record(
        t,
        clock,
        discovered_at=datetime(2027, 3, 1, 18, 0, tzinfo=UTC),
        occurred_from=datetime(2027, 2, 27, tzinfo=UTC),
        occurred_until=datetime(2027, 3, 1, 17, 0, tzinfo=UTC),
    )
    (due,) = [c for c in t.breaches.clocks(spring.id) if c["audience"] == "individuals"]
    assert due["due_local"] == "2027-03-31T10:00:00-07:00"


def _key(t: Any, tenant: str | None, scopes: tuple[str, ...]) -> Actor:
    return Actor(ActorKind.application, "k", tenant_id=tenant, scopes=frozenset(scopes))


def test_customers_told_once_each_with_their_own_count(home, db_url, clock):
    from troth.notices.outbox import outbox

    t = _home(home, db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    a = [person(t, f"a{i}@acme.example", acme, "uk_gdpr") for i in range(2)]
    bolt_one = person(t, "b@bolt.example", bolt, "pipeda")
    own = person(t, "own@example.com", None, "ccpa")
    clock.advance(days=1)
    b = _record(t, clock)
    steps = {s["tenant_id"]: s for s in t.breaches.controllers(b.id)}
    assert set(steps) == {acme, bolt}
    assert steps[acme]["people"] == 2 and steps[bolt]["people"] == 1
    assert steps[acme]["clocks"][0]["basis"] == "UK GDPR Art. 33(2)"
    assert steps[acme]["clocks"][0]["deadline"].startswith("without undue delay")
    assert steps[acme]["notified_at"] is None
    with pytest.raises(ValidationError, match="measures"):
        t.breaches.notify_controllers(b.id, measures="  ")
    out = t.breaches.notify_controllers(b.id, measures="Link revoked; passwords reset.")
    assert sorted(out["told"]) == sorted([acme, bolt])
    again = t.breaches.notify_controllers(b.id, measures="Again")
    assert again["told"] == [] and sorted(again["already_told"]) == sorted([acme, bolt])
    mail = {m.to_addr: m for m in outbox_mail(t)}
    assert set(mail) == {"office@acme.example", "office@bolt.example"}
    acme_mail = mail["office@acme.example"].body_text
    assert "Your people affected: 2." in acme_mail and b.title in acme_mail
    assert "Link revoked; passwords reset." in acme_mail and "Dana Protect" in acme_mail
    assert "Data involved: How to reach a person" in acme_mail  # the category in words
    assert "['" not in acme_mail and "Bolt" not in acme_mail
    # The customers' people are left to them (the default); troth tells its own person.
    n = t.breaches.notify_individuals(b.id, "{{ organisation }}: {{ breach.title }}")
    assert n == 1
    with t.ctx.engine.connect() as conn:
        to = {m.to_addr for m in conn.execute(sa.select(outbox))}
    assert "own@example.com" in to and not {"a0@acme.example", "b@bolt.example"} & to
    assert t.breaches.get(b.id).status == "individuals_notified"
    assert bolt_one and a and own


def test_a_customer_reads_only_the_breaches_of_its_own_people(home, db_url, clock):
    t = _home(home, db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    person(t, "a@acme.example", acme, "uk_gdpr")
    person(t, "a2@acme.example", acme, "uk_gdpr")
    person(t, "b@bolt.example", bolt, "uk_gdpr")
    clock.advance(days=1)
    both = _record(t, clock)
    only_acme = _record(t, clock, tenants=[acme])
    bolt_key = _key(t, bolt, ("breaches",))
    seen = t.breaches.for_tenant(actor=bolt_key)
    assert [x["id"] for x in seen] == [both.id]
    assert seen[0]["your_people_affected"] == 1
    assert "affected_count" not in seen[0] and "description" not in seen[0]
    with pytest.raises(NotFound):
        t.breaches.for_tenant(actor=bolt_key, breach_id=only_acme.id)
    with pytest.raises(NotFound):
        t.breaches.for_tenant(actor=bolt_key, breach_id="f" * 32)
    acme_seen = t.breaches.for_tenant(actor=_key(t, acme, ("admin",)))
    assert {x["id"]: x["your_people_affected"] for x in acme_seen} == {
        both.id: 2,
        only_acme.id: 2,
    }
    # A key without the scope, a key of no tenant, a member: refused, audited.
    for who in (_key(t, bolt, ("collect",)), _key(t, None, ("admin",))):
        with pytest.raises(Refused):
            t.breaches.for_tenant(actor=who)
    member = Actor(ActorKind.tenant_member, "m", tenant_id=bolt)
    with pytest.raises(Refused):
        t.breaches.for_tenant(actor=member)
    with t.ctx.engine.connect() as conn:
        from troth.audit.tables import audit_entries as a

        refused = list(
            conn.execute(
                sa.select(a.c.reason, a.c.tenant_id).where(a.c.action == "breach.tenant_read")
            )
        )
    assert ("not_found", bolt) in {(r.reason, r.tenant_id) for r in refused}
    assert {"scope_missing", "tenant_bound", "not_tenant_admin"} <= {r.reason for r in refused}


def test_notice_names_the_dpo_in_the_person_s_time_and_words(home, db_url, clock):
    t = _home(home, db_url)
    person(t, "on@example.com", None, "pipeda")
    clock.set(datetime(2027, 1, 1, 4, 30, tzinfo=UTC))
    b = _record(
        t,
        clock,
        discovered_at=datetime(2027, 1, 1, 4, 0, tzinfo=UTC),
        occurred_from=datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
        occurred_until=datetime(2027, 1, 1, 3, 0, tzinfo=UTC),
    )
    template = (
        "Ask {{ dpo }} ({{ dpo.email }}). Your {{ breach.categories }} data, from"
        " {{ breach.occurred_from }}."
    )
    _, body = t.breaches.render_notice(b.id, template)
    assert "Dana Protect, dpo@phone-service.example (dpo@phone-service.example)" in body
    t.breaches.notify_individuals(b.id, template)
    (mail,) = outbox_mail(t)
    # In Toronto it was still 31 December, 18:00 EST.
    assert "Thursday 31 December 2026 at 18:00 EST" in mail.body_text
    assert "Your How to reach a person: e-mail address, telephone number, postal address data" in (
        mail.body_text
    )
    assert "['" not in mail.body_text and "2026-12-31T23:00" not in mail.body_text


def test_over_http_a_customer_key_sees_its_own_share_only(phone) -> None:
    from _http import api_key, client_for, is_problem
    from troth.engine import Troth

    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    for i in range(2):
        t.collect("user_invitation", {"name": "U", "email": f"a{i}@acme.example"}, tenant_id=acme)
    t.collect("user_invitation", {"name": "U", "email": "b@bolt.example"}, tenant_id=bolt)
    now = t.ctx.clock.now()
    window = {"discovered_at": now, "occurred_from": now - timedelta(days=1)}
    args = {
        "title": "Export open",
        "description": "x",
        "occurred_until": now,
        "categories": ["contact"],
    }
    both = t.breaches.record_breach(**args, **window)
    acme_only = t.breaches.record_breach(**args, **window, tenants=[acme])
    with client_for(phone) as c:
        bolt_key = api_key(c, ["breaches"], tenant_id=bolt)
        listed = c.get("/api/v1/breaches", headers=bolt_key)
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        assert [x["id"] for x in items] == [both.id] and items[0]["your_people_affected"] == 1
        one = c.get(f"/api/v1/breaches/{both.id}", headers=bolt_key).json()
        assert one["your_people_affected"] == 1 and "clocks" not in one
        is_problem(c.get(f"/api/v1/breaches/{acme_only.id}", headers=bolt_key), 404)
        weak = api_key(c, ["collect"], tenant_id=bolt)
        assert is_problem(c.get("/api/v1/breaches", headers=weak), 403)["reason"] == (
            "scope_missing"
        )
        admin = api_key(c, ["admin"])
        told = c.post(
            f"/api/v1/breaches/{both.id}/notify-controllers",
            json={"measures": "Link revoked."},
            headers=admin,
        )
        assert told.status_code == 200, told.text
        assert sorted(told.json()["told"]) == sorted([acme, bolt])
        after = c.get(f"/api/v1/breaches/{both.id}", headers=bolt_key).json()
        assert after["you_were_told_at"] and after["measures"] == "Link revoked."
        bound = api_key(c, ["admin"], tenant_id=bolt)
        r = c.post(
            f"/api/v1/breaches/{both.id}/notify-controllers",
            json={"measures": "x"},
            headers=bound,
        )
        assert is_problem(r, 403)["reason"] == "tenant_bound"


def test_on_the_command_line_show_and_notify_controllers(home, capsys, clock) -> None:
    import json

    from cli_runner import run

    t = _home(home)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    person(t, "a@acme.example", acme, "pipeda")
    clock.advance(days=1)

    def cli(*args: str) -> tuple[int, str, str]:
        return run(capsys, "--home", str(t.ctx.home), "breaches", *args)

    now = clock.now()
    code, out, err = cli("record", "-q", "--title", "Export open", "--description", "x",
                         "--from", (now - timedelta(days=1)).isoformat(),
                         "--until", now.isoformat(), "--category", "contact")  # fmt: skip
    assert code == 0, err
    bid = out.strip()
    assert "regimes: pipeda" in err and "people affected" in err
    shown = json.loads(cli("show", bid)[1])
    assert shown["regimes"] == ["pipeda"] and shown["regimes_from"]["basis"] == "affected"
    (step,) = shown["controllers"]
    assert step["tenant_id"] == acme and step["people"] == 1 and step["notified_at"] is None
    code, out, err = cli("notify-controllers", bid, "--measures", "Link revoked.")
    assert code == 0 and "told 1 customer(s)" in out, err
    code, out, _ = cli("notify-controllers", bid, "--measures", "Link revoked.")
    assert "told 0 customer(s); 1 told before" in out
    code, out, _ = cli("notify", bid, "--template", _template(t), "--dry-run")
    assert "left to the customer to tell" in out


def _template(t: Any) -> str:
    path = t.ctx.home / "notice.j2"
    path.write_text("{{ organisation }}: {{ breach.title }}. Ask {{ dpo }}.")
    return str(path)
