"""P20, the usual order (trial #17 F1): the authority asks, the privacy office looks at what
is held (`troth use --purpose legal_requirement`), then records the gagged demand and
discloses. That first look, made before the demand's received time, must not show in the
customer's "What the vendor looked at" (service, API, /tenant page) nor in the person's
own views (privacy centre, access export) while the gag runs; it shows once the gag ends.
`troth disclosures demand --received` records when the demand really arrived."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, csrf_from, privacy_sign_in, section
from cli_runner import run
from troth.access import actor_for
from troth.disclosures.tables import legal_demands
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.requests.holdings import subject_holdings

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
PW = "correct horse battery staple"
CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}
ANN = {"name": "Ann", "email": "ann@example.com", "address": "1 Main St", "product": "x"}


def _try(t: Troth, sid: str, purpose: str, actor: Actor) -> None:
    """A use, allowed or refused: audited either way."""
    with contextlib.suppress(Refused):
        t.use(sid, purpose=purpose, actor=actor)


def _person_purposes(t: Troth, sid: str) -> dict[str, list[str]]:
    """The purposes of the entries the person sees: privacy centre and access export."""
    export = subject_holdings(t.ctx, sid)["access_log"]
    return {
        "centre": sorted(e.entry.purpose or "" for e in t.disclosures.person_entries(sid)),
        "export": sorted(e.get("purpose") or "" for e in export),
    }


def _tenant(t: Troth) -> tuple[str, Actor, Actor]:
    acc = t.access
    acme = acc.tenants.create_tenant("Acme", "office@acme.example")
    tok, _ = acc.tenants.invite(acme, "admin@acme.example", role="admin")
    admin = actor_for(acc.tenants.accept_invitation(tok, PW))
    vendor = actor_for(
        acc.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PW)
    )
    g = acc.grants.request_grant(
        acme, by=vendor, reason="court order", ticket="LEGAL-1", duration=timedelta(days=2)
    )
    acc.grants.approve_grant(g.id, by=admin)
    return acme, admin, vendor


def _demand(t: Troth, recipient: str, ref: str, days: int | None = 30) -> str:
    now = t.ctx.clock.now()
    asks = ["call_records"] if recipient == "authorities" else ["identity", "contact"]
    return t.disclosures.record_demand(
        authority="Crown Court",
        instrument="court_order",
        reference=ref,
        scope="calls",
        categories=asks,
        recipient=recipient,
        gag_until=now + timedelta(days=days) if days else None,
        actor=OFFICE,
    ).id


def _tenant_login(c: Any, acme: str) -> None:
    c.cookies.clear()
    page = c.get("/tenant/login").text
    r = c.post(
        "/tenant/login",
        data={"tenant_id": acme, "email": "admin@acme.example", "password": PW}
        | {"csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def _tenant_sees(c: Any, acme: str, key: dict[str, str]) -> tuple[list[Any], str]:
    """What the customer sees through the API (a key bound to it) and its /tenant page."""
    items = c.get(f"/api/v1/tenants/{acme}/vendor-accesses", headers=key).json()["items"]
    table = c.get("/tenant").text.split('id="vendor-accesses"')[1].split("</table>")[0]
    return sorted(i["purpose"] or "" for i in items), table


def test_the_offices_look_before_the_demand_is_hidden_from_the_customer(phone: Any) -> None:
    t = Troth(phone)
    clock = phone.clock
    acme, admin, vendor = _tenant(t)
    sid = t.collect("call_record_import", CALL, tenant_id=acme).subject_id
    # The police ask: the office and the vendor's admin look at what is held (refused or
    # not, audited), and the office sends a policy notice (another legal obligation).
    _try(t, sid, "legal_requirement", OFFICE)
    _try(t, sid, "legal_requirement", vendor)
    _try(t, sid, "policy_notices", OFFICE)
    clock.advance(hours=2)
    d = _demand(t, "authorities", "CO-9")
    t.disclosures.disclose(
        sid, "authorities", "legal_requirement", vendor, ["call_records"], legal_demand_id=d
    )
    t.use(sid, purpose="support", actor=vendor)  # an ordinary look: the tenant sees it
    # A customer-side actor during the gag: its admin may not act for the authorities'
    # purpose (refused by role, as before), and sees none of the office's looks.
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="legal_requirement", actor=admin)
    assert exc.value.reason == "role_not_allowed"

    looks = t.access.grants.vendor_accesses(acme)
    assert sorted(x.purpose or "" for x in looks) == ["policy_notices", "support"]
    with client_for(phone) as c:
        key = api_key(c, ["admin"], tenant_id=acme)
        _tenant_login(c, acme)
        api, table = _tenant_sees(c, acme, key)
        assert api == ["policy_notices", "support"]
        assert "legal_requirement" not in table and "disclose" not in table
        assert "LEGAL-1" in table  # the ordinary look, under the grant
        seen = _person_purposes(t, sid)
        assert "legal_requirement" not in seen["centre"] + seen["export"]
        assert "support" in seen["centre"] and "support" in seen["export"]

        # The gag ends: every look shows, to the customer and to the person.
        clock.advance(days=30)
        _tenant_login(c, acme)  # the session has long expired
        api, table = _tenant_sees(c, acme, key)
        assert api.count("legal_requirement") == 3  # two looks and the disclosure
        assert "legal_requirement" in table and "disclose" in table
        seen = _person_purposes(t, sid)
        assert seen["centre"].count("legal_requirement") >= 3
        assert seen["export"].count("legal_requirement") >= 3


def test_the_look_stays_hidden_while_a_second_demands_gag_runs(mindlink: Any) -> None:
    """Two gagged demands for the same person: lifting one leaves the look before them
    hidden under the other; lifting both shows it, on the privacy centre's page too."""
    t = Troth(mindlink)
    clock = mindlink.clock
    ann = t.collect("purchase", ANN).subject_id
    _try(t, ann, "legal_compliance", OFFICE)
    clock.advance(days=2)
    first = _demand(t, "law_enforcement", "PO-1", days=60)
    second = _demand(t, "law_enforcement", "PO-2", days=90)
    for d in (first, second):
        t.disclosures.disclose(
            ann, "law_enforcement", "legal_compliance", OFFICE, legal_demand_id=d
        )

    def legal(where: str) -> int:
        return _person_purposes(t, ann)[where].count("legal_compliance")

    assert legal("centre") == 0 and legal("export") == 0
    t.disclosures.lift_gag(first, actor=OFFICE)
    assert legal("centre") == 0 and legal("export") == 0
    words = mindlink.policy.purposes["legal_compliance"].description
    with client_for(mindlink) as c:
        privacy_sign_in(c, mindlink, ANN["email"])
        assert words not in section(c.get("/privacy/me").text, "accesses")
        t.disclosures.lift_gag(second, actor=OFFICE)
        assert legal("centre") == 3 and legal("export") == 3  # the look, two disclosures
        shown = section(c.get("/privacy/me").text, "accesses")
        assert shown.count(words) == 3, shown


def test_a_demand_without_a_gag_hides_nothing(mindlink: Any) -> None:
    t = Troth(mindlink)
    ann = t.collect("purchase", ANN).subject_id
    _try(t, ann, "legal_compliance", OFFICE)
    d = _demand(t, "law_enforcement", "PO-3", days=None)
    t.disclosures.disclose(ann, "law_enforcement", "legal_compliance", OFFICE, legal_demand_id=d)
    assert _person_purposes(t, ann)["centre"].count("legal_compliance") == 2


# -- troth disclosures demand --received -------------------------------------------------
def _cli(capsys: Any, t: Troth, *args: str) -> tuple[int, str, str]:
    code, out, err = run(capsys, "--home", str(t.ctx.home), *args)
    return code, out, " ".join(err.split())


DEMAND = ("disclosures", "demand", "--authority", "Court", "--instrument", "court_order",
          "--reference", "CO-1", "--scope", "calls", "--category", "identity",
          "--recipient", "law_enforcement", "--actor", "staff:pat@privacy_office",
          "-q")  # fmt: skip


def test_cli_demand_takes_when_it_was_received(home: Any, capsys: Any) -> None:
    """mindlink's organisation is in Europe/London: a time without an offset is London's."""
    t = home("mindlink")
    year = datetime.now(UTC).year - 1  # last summer (BST, UTC+1) and last winter (GMT)
    code, out, err = _cli(capsys, t, *DEMAND, "--received", f"{year}-07-01T09:15")
    assert code == 0, err
    got = t.disclosures.demand(out.strip()).received_at
    assert got.astimezone(UTC) == datetime(year, 7, 1, 8, 15, tzinfo=UTC)
    code, out, err = _cli(capsys, t, *DEMAND, "--received", f"{year}-12-01",
                          "--gag-until", f"{year + 5}-01-01")  # fmt: skip
    assert code == 0, err
    got = t.disclosures.demand(out.strip()).received_at
    assert got.astimezone(UTC) == datetime(year, 12, 1, 0, 0, tzinfo=UTC)
    code, out, err = _cli(capsys, t, *DEMAND, "--received", f"{year}-07-01T09:15+02:00")
    assert code == 0, err
    got = t.disclosures.demand(out.strip()).received_at
    assert got.astimezone(UTC) == datetime(year, 7, 1, 7, 15, tzinfo=UTC)
    # Without --received: now.
    code, out, err = _cli(capsys, t, *DEMAND)
    assert code == 0, err
    got = t.disclosures.demand(out.strip()).received_at
    assert abs(got - datetime.now(UTC)) < timedelta(minutes=5)


def _last_sunday(year: int, month: int) -> int:
    last = datetime(year, month + 1, 1) - timedelta(days=1)
    return last.day - (last.weekday() + 1) % 7


@pytest.mark.parametrize(
    ("when", "says"),
    [
        ("spring", "give an offset"),  # the clocks skipped 01:30 in London
        ("autumn", "give the offset"),  # 01:30 happened twice
        ("future", "received_at is in the future"),
        ("after-gag", "must be after received_at"),
        ("yesterday", "ISO 8601"),
        ("2026-13-01", "ISO 8601"),
    ],
)
def test_cli_demand_refuses_a_received_time_it_cannot_take(
    home: Any, capsys: Any, when: str, says: str
) -> None:
    t = home("mindlink")
    year = datetime.now(UTC).year - 1
    gag: tuple[str, ...] = ()
    text = {
        "spring": f"{year}-03-{_last_sunday(year, 3):02d}T01:30",
        "autumn": f"{year}-10-{_last_sunday(year, 10):02d}T01:30",
        "future": (datetime.now(UTC) + timedelta(days=2)).date().isoformat(),
    }.get(when, when)
    if when == "after-gag":
        text, gag = f"{year}-06-01", ("--gag-until", f"{year}-05-01")
    code, out, err = _cli(capsys, t, *DEMAND, *gag, "--received", text)
    assert code != 0 and says in err, err
    assert "Traceback" not in err and out == ""
    with t.ctx.engine.connect() as conn:  # nothing recorded
        assert conn.execute(sa.select(sa.func.count()).select_from(legal_demands)).scalar() == 0
