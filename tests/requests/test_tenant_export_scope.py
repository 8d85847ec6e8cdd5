"""A tenant export holds only what the admin exporting it may read (trial #15 F1): an admin
whose member role covers identity and attendance exported every employee's heart rate and
cycle logs in clear. Now the ZIP (``Exports.export_tenant``, the CLI's ``requests
export-tenant``) holds a role-holder's role's categories only, masked as the role reads
them; never what only the vendor's own (``vendor_only``) purposes use, whoever exports it
(the offboarding's export included); and says what it left out and why (``data.json``,
``left_out.csv``, the summary, the audit entry)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cli_runner import run
from pulse_samples import CARD, PULSE, PulseWorld, pulse_world, without_vendor_only
from troth.audit.entries import list_entries
from troth.errors import PermissionDenied
from troth.gate import SYSTEM, Actor, ActorKind

CYCLE_DAY = '"cycle_day"'


def _zip(w: PulseWorld, tenant: str, actor: Actor) -> zipfile.ZipFile:
    link = w.t.requests.export_tenant(w.tenants[tenant], actor=actor)
    return zipfile.ZipFile(io.BytesIO(w.t.requests.download(link.token, actor=actor)))


def _everything(zf: zipfile.ZipFile) -> str:
    return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())


def _fields(doc: dict[str, Any]) -> dict[str, set[str]]:
    """Category -> the fields the export holds of it, over every person."""
    out: dict[str, set[str]] = {}
    for person in doc["subjects"]:
        for cat, section in person["categories"].items():
            out.setdefault(cat, set()).update(v["field"] for v in section["values"])
    return out


@pytest.fixture(params=["vendor_only", "no_flag"])
def world(request: pytest.FixtureRequest, home: Any, tmp_path: Path) -> PulseWorld:
    """The world on the policy with ``vendor_only`` and on the same policy without it: a
    role limits the export either way."""
    text = PULSE if request.param == "vendor_only" else without_vendor_only()
    return pulse_world(home, tmp_path, text)


def test_an_employers_coordinator_exports_no_health_data(world: PulseWorld) -> None:
    """The trial's repro: coord (admin, role wellness_coordinator: participation, in
    aggregate only) exported cycle logs and heart rate. Now: no person's values at all."""
    zf = _zip(world, "contoso", world.actors["coord"])
    doc = json.loads(zf.read("data.json"))
    assert [p["subject"]["id"] for p in doc["subjects"]] == [world.people["emp"]]
    assert _fields(doc) == {}
    text = _everything(zf)
    for leak in (CYCLE_DAY, "heart_rate", "erin@contoso.example", "Erin Employee", "steps"):
        assert leak not in text, leak
    assert not [n for n in zf.namelist() if "/categories/" in n]
    assert doc["complete"] is False
    assert doc["exported_by"] == {
        "actor": world.actors["coord"].label,
        "role": "wellness_coordinator",
    }
    why = {w["category"]: w["reason"] for w in doc["left_out"]}
    assert why["participation"] == "aggregate_only"
    assert why["contact"] == why["identity"] == "role_not_allowed"
    flagged = "activity_tracking" in world.t.ctx.policy.vendor_purposes
    assert why["biometrics"] == ("vendor_only" if flagged else "role_not_allowed")
    assert why["reproductive_health"] == why["biometrics"]
    # The same list beside the data, for a spreadsheet and for a reader.
    listed = zf.read("left_out.csv").decode()
    assert listed.splitlines()[0] == "category,description,reason,why"
    assert "reproductive_health" in listed and "biometrics" in listed
    assert "Left out of this export" in zf.read("summary.html").decode()


def test_a_gyms_front_desk_exports_check_ins_with_the_card_masked(world: PulseWorld) -> None:
    zf = _zip(world, "iron", world.actors["desk"])
    doc = json.loads(zf.read("data.json"))
    assert _fields(doc) == {
        "identity": {"name"},
        "attendance": {"club"},
        "membership_card": {"member_card"},
    }
    gym = world.people["gym"]
    card_csv = zf.read(f"people/{gym}/categories/membership_card.csv").decode()
    assert "•••• 9424" in card_csv
    text = _everything(zf)
    assert CARD not in text and "6011" not in text
    assert "heart_rate" not in text
    assert "gus@gymmail.example" not in text  # contact: not the role's
    assert "Soho" in zf.read(f"people/{gym}/categories/attendance.csv").decode()
    assert {w["category"]: w["reason"] for w in doc["left_out"]}["contact"] == "role_not_allowed"


def test_the_audit_entry_says_as_which_role_and_what_was_left_out(world: PulseWorld) -> None:
    _zip(world, "contoso", world.actors["coord"])
    (entry,) = [e.entry for e in list_entries(world.t.ctx, action="tenant.export", limit=50)]
    assert entry.actor == world.actors["coord"].label and entry.outcome.value == "allow"
    d = entry.details
    assert d["role"] == "wellness_coordinator" and d["complete"] is False
    assert {"biometrics", "reproductive_health", "participation"} <= set(d["left_out"])


def test_an_admin_without_a_role_exports_all_but_the_vendors_own(world: PulseWorld) -> None:
    zf = _zip(world, "contoso", world.actors["boss"])
    doc = json.loads(zf.read("data.json"))
    fields = _fields(doc)
    flagged = bool(world.t.ctx.policy.vendor_purposes)
    if not flagged:
        # Exactly as before: everything, complete, nothing said left out.
        assert fields["biometrics"] == {"heart_rate"}
        assert fields["reproductive_health"] == {"cycle_day"}
        assert fields["device"] == {"device_id"}
        assert doc["complete"] is True and doc["left_out"] == []
        assert "left_out.csv" not in zf.namelist()
        return
    assert set(fields) == {"identity", "contact", "participation"}
    text = _everything(zf)
    assert CYCLE_DAY not in text and "heart_rate" not in text and "dev-77" not in text
    # The e-mail collected only for fraud checks is the vendor's; the sign-up's is not.
    (person,) = doc["subjects"]
    points = {v["collection_point"] for v in person["categories"]["contact"]["values"]}
    assert "fraud_review" not in points and "member_signup" in points
    why = {w["category"]: w for w in doc["left_out"]}
    assert why["biometrics"]["reason"] == "vendor_only"
    assert "Pulse Wearables Inc." in why["biometrics"]["why"]
    assert why[None]["reason"] == "vendor_only"  # the values collected only for it


def test_dropping_ones_own_role_does_not_reach_the_vendors_own(home: Any, tmp_path: Path) -> None:
    """G1: an admin whose role is taken away (by the customer's admin without a role: the
    coordinator may not drop their own, ``tests/access/test_member_role_delegation.py``)
    exports as an admin without one; what only the vendor's purposes use stays out all the
    same."""
    w = pulse_world(home, tmp_path)
    coord = w.actors["coord"]
    w.t.access.tenants.set_member_role(w.tenants["contoso"], coord.id, None, by=w.actors["boss"])
    doc = json.loads(_zip(w, "contoso", coord).read("data.json"))
    assert doc["exported_by"]["role"] is None
    assert "biometrics" not in _fields(doc) and "reproductive_health" not in _fields(doc)


def test_the_cli_exports_as_the_actors_role(
    world: PulseWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "contoso2.zip"
    home = str(world.t.ctx.home)
    actor = "tenant_admin:coord@contoso.example@Contoso Wellness"
    code, _, err = run(
        capsys, "--home", home, "requests", "export-tenant", "Contoso Wellness", "-o", str(out),
        "--actor", actor,
    )  # fmt: skip
    assert code == 0, err
    zf = zipfile.ZipFile(out)
    emp = world.people["emp"]
    assert f"people/{emp}/categories/reproductive_health.csv" not in zf.namelist()
    assert CYCLE_DAY not in _everything(zf) and "heart_rate" not in _everything(zf)
    assert json.loads(zf.read("data.json"))["complete"] is False


@pytest.mark.parametrize("who", ["hr", "newbie", "key_admin", "desk", "vendor_key"])
def test_nobody_else_exports_a_customer_and_each_refusal_is_audited(
    home: Any, tmp_path: Path, who: str
) -> None:
    w = pulse_world(home, tmp_path)
    actor = w.actors[who]
    before = len(list_entries(w.t.ctx, action="tenant.export", limit=500))
    with pytest.raises(PermissionDenied):
        w.t.requests.export_tenant(w.tenants["contoso"], actor=actor)
    entries = list_entries(w.t.ctx, action="tenant.export", limit=500)
    assert len(entries) == before + 1
    (denied,) = [e.entry for e in entries[before:]]
    assert denied.outcome.value == "deny" and denied.actor == actor.label
    # Another customer's admin is filed under their own customer, never under Contoso.
    if actor.tenant_id is not None:
        assert denied.tenant_id == actor.tenant_id
    if who == "desk":
        assert denied.reason == "not_a_member"
    elif who in ("hr", "newbie", "key_admin", "vendor_key"):
        assert denied.reason == "not_tenant_admin"


def test_the_offboarding_export_leaves_out_the_vendors_own(home: Any, tmp_path: Path) -> None:
    w = pulse_world(home, tmp_path)
    got: list[bytes] = []
    w.t.requests.offboard_tenant(
        w.tenants["contoso"],
        on_export=lambda link: got.append(w.t.requests.download(link.token, actor=SYSTEM)),
    )
    zf = zipfile.ZipFile(io.BytesIO(got[0]))
    doc = json.loads(zf.read("data.json"))
    assert doc["exported_by"] == {"actor": SYSTEM.label, "role": None}
    assert set(_fields(doc)) == {"identity", "contact", "participation"}
    assert "heart_rate" not in _everything(zf) and CYCLE_DAY not in _everything(zf)


def test_staff_and_troth_export_what_a_customer_may_hold(home: Any, tmp_path: Path) -> None:
    w = pulse_world(home, tmp_path)
    for actor in (SYSTEM, Actor(ActorKind.staff, "po", role="privacy_office")):
        doc = json.loads(_zip(w, "iron", actor).read("data.json"))
        assert doc["exported_by"]["role"] is None
        fields = _fields(doc)
        assert "biometrics" not in fields and fields["membership_card"] == {"member_card"}


@pytest.mark.parametrize("controller", ["customer", "organisation"])
def test_the_offboarding_export_hands_a_controller_its_data_whole(
    home: Any, tmp_path: Path, controller: str
) -> None:
    """trial #16 F2: the export made when a customer leaves is the only copy it gets before
    its people's data is erased; where the customer is their controller it must be the data
    itself (GDPR Art. 28(3)(g)), not the masked card a reader is shown. Where the
    organisation is the controller, the export is masked as before. The admin's own
    export stays masked either way."""
    text = PULSE if controller == "customer" else PULSE + "tenant_controller: organisation\n"
    w = pulse_world(home, tmp_path, text)
    admin_zip = _zip(w, "iron", w.actors["desk"])
    assert CARD not in _everything(admin_zip)
    got: list[bytes] = []
    w.t.requests.offboard_tenant(
        w.tenants["iron"],
        on_export=lambda link: got.append(w.t.requests.download(link.token, actor=SYSTEM)),
    )
    zf = zipfile.ZipFile(io.BytesIO(got[0]))
    doc = json.loads(zf.read("data.json"))
    card_csv = zf.read(f"people/{w.people['gym']}/categories/membership_card.csv").decode()
    if controller == "customer":
        assert CARD in card_csv and "•••• 9424" not in card_csv
        assert doc["masked"] is False
    else:
        assert CARD not in _everything(zf) and "•••• 9424" in card_csv
        assert doc["masked"] is True
    entries = [e.entry for e in list_entries(w.t.ctx, action="tenant.export", limit=500)]
    assert [e.details["masked"] for e in entries] == [True, controller == "organisation"]
