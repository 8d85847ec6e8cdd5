"""Trial #15 G1 end to end: "an employer may never see an individual's health data". The
policy marks the vendor's health and fraud purposes ``vendor_only``; then no one on a
customer's side (an admin with or without a role, even one who dropped their own role, a
member with or without one, a key bound to the customer whatever its scopes) uses,
collects, discloses, exports or aggregates under them, from the CLI or from Python, while
the vendor's own staff and keys still do; and the same policy without the flag behaves as
it did before (a customer's admin without a role reads heart rate, as documented)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_runner import run
from pulse_samples import PULSE, PulseWorld, pulse_world, without_vendor_only
from troth.audit.entries import list_entries
from troth.errors import Refused
from troth.gate import Actor
from unknown_helpers import assert_unknown_to

CUSTOMER_SIDE = (
    "boss",
    "coord",
    "helpdesk_admin",
    "hr",
    "helpdesk",
    "newbie",
    "key_use",
    "key_collect",
    "key_admin",
    "key_all",
)
CLI_ACTORS = {
    "boss": "tenant_admin:boss@contoso.example@Contoso Wellness",
    "coord": "tenant_admin:coord@contoso.example@Contoso Wellness",
    "hr": "tenant_member:hr@contoso.example@Contoso Wellness",
    "newbie": "tenant_member:new@contoso.example@Contoso Wellness",
}


@pytest.fixture
def world(home: Any, tmp_path: Path) -> PulseWorld:
    return pulse_world(home, tmp_path)


def _refused(call: Any) -> str:
    with pytest.raises(Refused) as exc:
        call()
    return str(exc.value.reason)


@pytest.mark.parametrize("who", CUSTOMER_SIDE)
def test_nobody_at_a_customer_acts_for_the_vendors_own_purposes(
    world: PulseWorld, who: str
) -> None:
    t, actor = world.t, world.actors[who]
    emp = world.people["emp"]
    contoso = world.tenants["contoso"]
    for purpose in ("activity_tracking", "health_insights", "fraud_detection"):
        assert _refused(lambda p=purpose: t.use(emp, purpose=p, actor=actor)) == "vendor_only"
    assert (
        _refused(lambda: t.disclosures.disclose(emp, "lab", "health_insights", actor))
        == "vendor_only"
    )
    band = {"email": "erin@contoso.example", "heart_rate": 120}
    assert (
        _refused(
            lambda: t.collect(
                "band_sync",
                band,
                subject_id=emp,
                tenant_id=contoso,
                actor=actor,
                consents=["activity_tracking"],
            )
        )
        == "vendor_only"
    )
    assert (
        _refused(lambda: t.aggregate("club_statistics", "attendance", "club", actor=actor))
        == "vendor_only"
    )
    # Nothing was read or stored: every attempt is a deny entry with the reason.
    entries = [e.entry for e in list_entries(t.ctx, actor=actor.label, limit=100)]
    assert entries and {e.outcome.value for e in entries} == {"deny"}
    assert {e.reason for e in entries} == {"vendor_only"}


@pytest.mark.parametrize("who", ["insights", "vendor_key"])
def test_the_vendors_own_staff_and_keys_still_act_for_them(world: PulseWorld, who: str) -> None:
    """As before: the vendor's keys act for its purposes on a customer's people too; so do
    its staff, by their role, with no customer's grant: the grant is the customer's say
    over its data, never over the vendor's own purposes (trial #17 G4, #18 F5; before,
    this was ``no_grant``)."""
    t, actor = world.t, world.actors[who]
    emp, own = world.people["emp"], world.people["own"]
    view = t.use(own, purpose="activity_tracking", actor=actor)
    assert {v.field for v in view.values} == {"heart_rate", "cycle_day"}
    view = t.use(emp, purpose="activity_tracking", actor=actor)
    assert {v.field for v in view.values} == {"heart_rate", "cycle_day"}
    if who == "vendor_key":
        return
    sent = t.disclosures.disclose(own, "lab", "health_insights", actor)
    assert "biometrics" in sent.categories


def test_another_customers_people_are_refused_as_before(world: PulseWorld) -> None:
    """Another customer's person is ``not_a_member`` for the vendor's purposes too: the
    flag never answers first (what an id names stays the customer's own business). The
    caller is told, as of an id naming nobody, that there is no such person (trial 19,
    F11: it was told Refused not_a_member); the audit log says ``not_a_member``."""
    gym = world.people["gym"]
    for who in ("boss", "coord", "newbie", "key_admin"):
        actor: Actor = world.actors[who]
        for purpose in ("activity_tracking", "gym_attendance"):
            assert_unknown_to(world.t, gym, purpose, actor)


def test_the_cli_refuses_every_customer_actor_with_the_reason(
    world: PulseWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(world.t.ctx.home)
    emp = world.people["emp"]
    for name, actor in CLI_ACTORS.items():
        code, out, err = run(
            capsys, "--home", home, "use", emp, "--purpose", "activity_tracking", "--actor", actor
        )
        assert code == 3, (name, out, err)
        assert "refused (vendor_only)" in err and "cycle_day" not in out, name
        assert "privacy@pulse.example" in " ".join(err.split())
    code, out, err = run(
        capsys, "--home", home, "use", world.people["own"], "--purpose", "activity_tracking",
        "--actor", "staff:ie@insights_engine", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert {v["field"] for v in json.loads(out)["values"]} == {"heart_rate", "cycle_day"}


def test_the_same_policy_without_the_flag_behaves_as_before(
    home: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Documented before this change: a customer's admin without a role reads every
    category the purposes allow, and a key bound to the customer reads with its scopes."""
    w = pulse_world(home, tmp_path, without_vendor_only(PULSE))
    emp = w.people["emp"]
    for who in ("boss", "key_use"):
        view = w.t.use(emp, purpose="activity_tracking", actor=w.actors[who])
        assert {v.field for v in view.values} == {"heart_rate", "cycle_day"}
    # A role decides as it did: the coordinator may not act for the health purposes.
    refused = _refused(lambda: w.t.use(emp, purpose="activity_tracking", actor=w.actors["coord"]))
    assert refused == "role_not_allowed"
    code, out, err = run(
        capsys, "--home", str(w.t.ctx.home), "use", emp, "--purpose", "activity_tracking",
        "--actor", CLI_ACTORS["boss"],
    )  # fmt: skip
    assert code == 0 and "cycle_day" in out, err


def test_the_cli_collects_and_aggregates_nothing_for_a_customer_under_them(
    world: PulseWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(world.t.ctx.home)
    desk = "tenant_admin:desk@ironworks.example@IronWorks Gym"
    band = json.dumps({"email": "gm2@gymmail.example", "heart_rate": 150})
    code, _, err = run(
        capsys, "--home", home, "collect", "band_sync", "--data", band,
        "--tenant", "IronWorks Gym", "--actor", desk,
    )  # fmt: skip
    assert code == 3 and "refused (vendor_only)" in err, err
    code, _, err = run(
        capsys, "--home", home, "aggregate", "club_statistics", "--category", "attendance",
        "--field", "club", "--actor", desk,
    )  # fmt: skip
    assert code == 3 and "refused (vendor_only)" in err, err
    code, out, err = run(
        capsys, "--home", home, "aggregate", "club_statistics", "--category", "attendance",
        "--field", "club", "--actor", "staff:an@analyst", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["purpose"] == "club_statistics"
