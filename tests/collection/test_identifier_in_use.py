"""One person per identity (trial 6): data collected onto a person that carries an e-mail,
phone or customer id already identifying ANOTHER person of the same tenant would merge
the two (``find`` then answers the wrong person, and the other one's erasure leaves their
data behind). It is refused whole, 409 ``identifier_in_use`` naming the field (never the
value nor the other person), audited, nothing stored: from Python (one and many rows),
HTTP, the CLI and an import. The same value on the same person is fine, and each identity
stored onto a person is written to their blind index, so that ``find`` reaches it. Another
tenant's person with the same e-mail is another person, as lookups have it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from cli_runner import run
from troth.audit.entries import list_entries
from troth.collection.identities import IdentifierInUse
from troth.collection.importing import import_file
from troth.engine import Troth
from troth.errors import NotFound, ValidationError
from troth.gate import SYSTEM
from troth.store.tables import records, subjects

CARLOS = {
    "name": "Carlos",
    "email": "carlos@example.ca",
    "address": "1 Rue Peel, Montreal",
    "product": "Mindlink Pro",
    "phone": "+44 20 7946 0958",
    "customer_no": "C-100",
}
ZED = {
    "name": "Zed",
    "email": "zed@example.ca",
    "address": "9 Rue Zed, Montreal",
    "product": "Mindlink Lite",
    "phone": "+44 20 7946 0000",
    "customer_no": "C-200",
}


def _identities(data: dict[str, Any]) -> None:
    point = next(p for p in data["collection_points"] if p["id"] == "purchase")
    point["fields"]["phone"] = {"category": "contact", "type": "phone", "identifies": "phone"}
    point["fields"]["customer_no"] = {"category": "contact", "identifies": "customer_id"}


@pytest.fixture
def shop(home: Any, db_url: str) -> tuple[Troth, str, str]:
    """Carlos and Zed, each with their own e-mail, phone and customer number."""
    t = home("mindlink", db_url, edit=_identities)
    carlos = t.collect("purchase", CARLOS).subject_id
    zed = t.collect("purchase", ZED).subject_id
    return t, carlos, zed


def held(t: Troth) -> tuple[int, int, list[tuple[str, str]]]:
    """How many people and values, and each value's (subject, field)."""
    with t.ctx.engine.connect() as conn:
        people = conn.execute(sa.select(sa.func.count()).select_from(subjects)).scalar_one()
        values = conn.execute(sa.select(records.c.subject_id, records.c.field)).all()
    return int(people), len(values), sorted((str(s), f) for s, f in values)


def last_denial(t: Troth) -> Any:
    return next(
        e.entry
        for e in list_entries(t.ctx, newest_first=True, limit=50)
        if e.entry.action == "collect" and e.entry.outcome == "deny"
    )


def _clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, (secret, text)


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", "ZED@example.ca"), ("phone", "+44 20 7946 0000"), ("customer_no", "C-200")],
)
def test_another_persons_identity_onto_a_named_person_is_refused(
    shop: tuple[Troth, str, str], field: str, value: str
) -> None:
    t, carlos, zed = shop
    before = held(t)
    with pytest.raises(IdentifierInUse) as info:
        t.collect("purchase", {**CARLOS, field: value}, subject_id=carlos)
    err = info.value
    assert (err.code, err.status, err.details["field"]) == ("identifier_in_use", 409, field)
    assert repr(field) in err.message and "another person" in err.message
    _clean(err.message, zed, value, "zed@example.ca")
    assert held(t) == before
    entry = last_denial(t)
    assert entry.reason == "identifier_in_use" and entry.details["field"] == field
    _clean(json.dumps(entry.details), zed, value, "zed@example.ca")
    # Lookups still tell the two apart.
    assert t.find(email="zed@example.ca") == zed
    assert t.find(phone="+44 20 7946 0000") == zed
    assert t.find(customer_id="C-200") == zed


def test_the_same_identity_on_the_same_person_is_fine(shop: tuple[Troth, str, str]) -> None:
    t, carlos, _ = shop
    assert t.collect("purchase", CARLOS, subject_id=carlos).subject_id == carlos
    assert t.collect("purchase", {**CARLOS, "email": "CARLOS@example.ca"}).subject_id == carlos


def test_a_new_identity_stored_onto_a_person_finds_them(shop: tuple[Troth, str, str]) -> None:
    t, carlos, zed = shop
    new = {**CARLOS, "email": "carlos.new@example.ca", "customer_no": "C-101"}
    t.collect("purchase", new, subject_id=carlos)
    assert t.find(email="carlos.new@example.ca") == carlos
    assert t.find(customer_id="C-101") == carlos
    assert t.find(phone="+44 20 7946 0958") == carlos
    # Through an unnamed collection too: found by phone, their e-mail is indexed.
    t.collect("purchase", {**ZED, "email": "zed.2@example.ca"})
    assert t.find(email="zed.2@example.ca") == zed


def test_many_rows_are_refused_whole(shop: tuple[Troth, str, str]) -> None:
    t, carlos, zed = shop
    before = held(t)
    fresh = {**CARLOS, "email": "x@example.ca", "phone": None, "customer_no": None}
    # Named: the second row gives Zed's e-mail to Carlos; the first would be fine alone.
    with pytest.raises(IdentifierInUse, match=r"'email' \(row 1\)"):
        t.collect_many(
            "purchase", [CARLOS, {**CARLOS, "email": ZED["email"]}], subject_ids=[carlos, carlos]
        )
    # Named: one new address for two people in one batch.
    with pytest.raises(IdentifierInUse, match=r"\(row 1\)"):
        t.collect_many(
            "purchase", [fresh, {**ZED, "email": "x@example.ca"}], subject_ids=[carlos, zed]
        )
    # Unnamed: found as Carlos by e-mail, with Zed's phone.
    with pytest.raises(IdentifierInUse, match="'phone'"):
        t.collect_many("purchase", [{**ZED, "email": "new@example.ca"}, {**CARLOS, **_ph(ZED)}])
    assert held(t) == before


def _ph(who: dict[str, Any]) -> dict[str, Any]:
    return {"phone": who["phone"]}


def test_over_http_409_naming_the_field(shop: tuple[Troth, str, str]) -> None:
    t, carlos, zed = shop
    before = held(t)
    body = {"subject_id": carlos, "data": {**CARLOS, "email": "zed@example.ca"}}
    with client_for(t.ctx) as c:
        key = api_key(c, ["collect"])
        r = c.post("/api/v1/collect/purchase", json=body, headers=key)
        problem = is_problem(r, 409, "identifier_in_use")
        assert problem["field"] == "email"
        _clean(r.text, zed, "zed@example.ca")
        ok = c.post("/api/v1/collect/purchase", json={**body, "data": CARLOS}, headers=key)
        assert ok.status_code == 201, ok.text
    assert held(t)[0] == before[0]
    assert t.find(email="zed@example.ca") == zed


def test_the_cli_says_so_and_stores_nothing(
    shop: tuple[Troth, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    t, carlos, zed = shop
    before = held(t)
    data = json.dumps({**CARLOS, "email": "zed@example.ca"})
    code, out, err = run(
        capsys, "--home", str(t.ctx.home), "collect", "purchase", "--data", data,
        "--subject", carlos,
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "identifier_in_use" in err or "another person" in err
    _clean(err, zed)
    assert held(t) == before


def test_an_import_row_with_two_peoples_identities_is_refused(
    shop: tuple[Troth, str, str], tmp_path: Path
) -> None:
    t, carlos, zed = shop
    before = held(t)
    rows = tmp_path / "rows.jsonl"
    ok = {**CARLOS, "email": "new@example.ca", "phone": None, "customer_no": "C-300"}
    lines = [ok, {**CARLOS, "customer_no": ZED["customer_no"]}]
    rows.write_text("".join(json.dumps(r) + "\n" for r in lines))
    state = import_file(t, rows, "purchase", actor=SYSTEM, state_file=tmp_path / "s.json")
    assert state.stored == 1
    assert [r["row"] for r in state.refused] == [2]
    assert state.refused[0]["reason"].startswith("identifier_in_use:")
    assert "'customer_no'" in state.refused[0]["reason"]
    assert held(t)[0] == before[0] + 1
    assert t.find(customer_id="C-200") == zed
    assert t.find(email="carlos@example.ca") == carlos


# -- tenants: the scope lookups use -----------------------------------------------------
OTHER_TENANT = {"name": "Dora", "email": "dora@acme.example"}


def test_another_tenants_person_with_the_same_email_is_another_person(
    home: Any, db_url: str
) -> None:
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    dora = t.collect("user_invitation", OTHER_TENANT, tenant_id=acme).subject_id
    carl = t.collect("user_invitation", {"name": "Carl", "email": "carl@bolt.example"},
                     tenant_id=bolt).subject_id  # fmt: skip
    bob = t.collect("user_invitation", {"name": "Bob", "email": "bob@bolt.example"},
                    tenant_id=bolt).subject_id  # fmt: skip
    # Bolt's Carl may use the address Acme's Dora uses: they are told apart by tenant.
    t.collect("user_invitation", OTHER_TENANT, subject_id=carl)
    assert t.find(email="dora@acme.example", tenant_id=acme) == dora
    assert t.find(email="dora@acme.example", tenant_id=bolt) == carl
    with pytest.raises(ValidationError) as info:
        t.find(email="dora@acme.example")
    assert info.value.code == "ambiguous_person"
    # Within Bolt, Bob may not take it from Carl.
    with pytest.raises(IdentifierInUse):
        t.collect("user_invitation", OTHER_TENANT, subject_id=bob)
    with pytest.raises(NotFound):
        t.find(email="bob@bolt.example", tenant_id=acme)
    assert t.find(email="bob@bolt.example") == bob
