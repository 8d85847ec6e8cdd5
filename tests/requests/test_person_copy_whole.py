"""GDPR Art. 15(3): the person's copy of their data holds their own values (new-user trial:
a payroll employee's access export showed their own SIN and bank account as `•••• 6789`,
because a field's `mask:` applied to every reader). A masked field may say
``person_copy: whole``: the person's access export and portability package (and the
privacy centre's download of their data) hold it whole; the privacy centre's page keeps
the mask, and so does everyone else who reads it: a customer's admin (their export), a
staff role that reads the category ``masked``, a key bound to the customer. A card number
without it stays masked (PCI DSS 3.4). None of those takes the person's export. ``policy
validate`` refuses the key on a field with no mask, ``policy diff`` names a change of it,
``policy show`` says it."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from _http import client_for, privacy_sign_in
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import SYSTEM, Actor, ActorKind

PAYROLL = """\
troth: 1
id: payday
multi_tenant: true
version: "1.0"
effective: 2026-01-01
organisation:
  name: Payday Payroll Ltd
  contact: {name: Payday privacy office, email: privacy@payday.example}
  jurisdictions: [pipeda]
subjects:
  - {id: employee, description: Employees of our customers.}
categories:
  - {id: national_id, description: Social insurance number., sensitive: true}
  - {id: bank_account, description: Where the pay goes., sensitive: true}
  - {id: payment_card, description: A company expense card., sensitive: true}
purposes:
  - id: payroll
    description: Pay employees on behalf of their employer.
    legal_basis: contract
    categories: [identity, contact, national_id, bank_account, payment_card]
    retention: {keep_for: 7y}
collection_points:
  - id: employee_record
    description: The employer enters an employee.
    subjects: [employee]
    fields:
      name: {category: identity, required: true}
      email: {category: contact, type: email, required: true, identifies: email}
      sin: {category: national_id, mask: last4, person_copy: whole}
      bank_account: {category: bank_account, mask: last4, person_copy: whole}
      expense_card: {category: payment_card, mask: last4}
    purposes: [payroll]
locations: {allowed: [CA], default: CA}
roles:
  - id: payroll_office
    description: The privacy office; reads it all whole.
    categories: [identity, contact, national_id, bank_account, payment_card]
    purposes: [payroll]
    powers: [manage_requests, read_audit]
  - id: payroll_support
    description: Support; identifiers only masked.
    categories: [identity, contact, national_id, bank_account]
    masked: [national_id, bank_account]
    purposes: [payroll]
support_access: {requires_customer_grant: false}
"""
EMPLOYEE = {
    "name": "Pat Roe",
    "email": "pat@acme.example",
    "sin": "046 454 286",
    "bank_account": "00123-004-1234566789",
    "expense_card": "4111111111111111",
}
SIN, BANK, CARD = "•••• 4286", "•••• 6789", "•••• 1111"


def _world(home: Any, tmp_path: Path, db_url: str | None = None) -> dict[str, Any]:
    policy = tmp_path / "payday.yaml"
    policy.write_text(PAYROLL)
    t = Troth(home(None, db_url, policy=policy, context=True))
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    sid = t.collect("employee_record", EMPLOYEE, tenant_id=acme).subject_id
    admin = t.access.accounts.add_user(
        "boss@acme.example", kind="tenant_member", tenant_id=acme, tenant_role="admin"
    )
    from troth.access import actor_for

    _, key = t.access.keys.create_api_key("hr", ["use", "admin"], tenant_id=acme)
    return {
        "t": t,
        "acme": acme,
        "sid": sid,
        "admin": actor_for(admin),
        "key": Actor(ActorKind.application, key.id, tenant_id=acme, scopes=key.scopes),
        "support": Actor(ActorKind.staff, "sue", role="payroll_support"),
        "office": Actor(ActorKind.staff, "po", role="payroll_office"),
        "me": Actor(ActorKind.subject, sid, tenant_id=acme),
    }


def _export(w: dict[str, Any], kind: str = "access") -> str:
    t = w["t"]
    rec = t.requests.open(kind, subject_id=w["sid"], tenant_id=w["acme"])
    t.requests.verify_by_staff(rec.id, staff="po", reason="ID seen")
    done = t.requests.execute(rec.id)
    assert done.download_token
    return str(done.download_token)


def _values(zip_bytes: bytes) -> dict[str, Any]:
    doc = json.loads(zipfile.ZipFile(io.BytesIO(zip_bytes)).read("data.json"))
    cats = doc["categories"]
    return {v["field"]: v["value"] for c in cats.values() for v in c["values"]}


@pytest.mark.parametrize("kind", ["access", "portability"])
def test_the_persons_own_copy_holds_their_sin_and_bank_account_whole(
    home: Any, tmp_path: Path, db_url: str, kind: str
) -> None:
    w = _world(home, tmp_path, db_url)
    data = w["t"].requests.download(_export(w, kind), actor=w["me"])
    values = _values(data)
    assert values["sin"] == EMPLOYEE["sin"]
    assert values["bank_account"] == EMPLOYEE["bank_account"]
    assert values["expense_card"] == CARD  # no person_copy: a card stays masked (PCI)
    assert "4111111111111111" not in zipfile.ZipFile(io.BytesIO(data)).read("summary.html").decode()


def test_everyone_else_still_reads_it_masked(home: Any, tmp_path: Path, db_url: str) -> None:
    w = _world(home, tmp_path, db_url)
    t, sid = w["t"], w["sid"]
    # A staff role that reads the categories masked, a key bound to the customer.
    for who in ("support", "key"):
        view = t.use(sid, purpose="payroll", actor=w[who]).as_dict()
        assert (view["sin"], view["bank_account"]) == (SIN, BANK), who
    # The customer's admin: their tenant export.
    export = t.access.tenants.export_tenant(w["acme"], by=w["admin"])
    (person,) = export["subjects"]
    found = {v["field"]: v["value"] for v in person["values"]}
    assert (found["sin"], found["bank_account"], found["expense_card"]) == (SIN, BANK, CARD)
    assert EMPLOYEE["sin"] not in json.dumps(export)
    # The office's role reads them whole, as before.
    view = t.use(sid, purpose="payroll", actor=w["office"]).as_dict()
    assert view["sin"] == EMPLOYEE["sin"]


@pytest.mark.parametrize("who", ["admin", "key", "support"])
def test_who_reads_it_masked_does_not_take_the_persons_export(
    home: Any, tmp_path: Path, who: str
) -> None:
    w = _world(home, tmp_path)
    t = w["t"]
    code = _export(w)
    with pytest.raises(Refused) as exc:
        t.requests.download(code, actor=w[who])
    assert exc.value.reason == "person_copy_whole"
    assert "employee_record.bank_account (bank_account)" in exc.value.message
    assert "code they were mailed" in exc.value.message
    denied = [
        e.entry
        for e in list_entries(t.ctx, action="request.download", limit=50)
        if e.entry.outcome.value == "deny"
    ]
    assert [(e.reason, e.subject_id) for e in denied] == [("person_copy_whole", w["sid"])]
    # The person takes it (the code is still good); the office's role reading it whole and
    # troth itself would too.
    assert _values(t.requests.download(code, actor=w["me"]))["sin"] == EMPLOYEE["sin"]
    assert t.requests.download(_export(w), actor=w["office"])[:2] == b"PK"
    assert t.requests.download(_export(w), actor=SYSTEM)[:2] == b"PK"


def test_the_privacy_centre_page_keeps_the_mask_its_download_is_the_persons_copy(
    home: Any, tmp_path: Path
) -> None:
    w = _world(home, tmp_path)
    with client_for(w["t"].ctx) as c:
        privacy_sign_in(c, w["t"].ctx, EMPLOYEE["email"])
        page = c.get("/privacy/me").text
        assert SIN in page and BANK in page and CARD in page
        assert EMPLOYEE["sin"] not in page and EMPLOYEE["bank_account"] not in page
        mine = {v["field"]: v["value"] for v in c.get("/privacy/me/export.json").json()["values"]}
    assert (mine["sin"], mine["bank_account"]) == (EMPLOYEE["sin"], EMPLOYEE["bank_account"])
    assert mine["expense_card"] == CARD


# -- the policy tools -------------------------------------------------------------------------
def _cli(capsys: Any, *args: str) -> tuple[int, str]:
    from troth.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, " ".join((out + err).split())


def test_policy_validate_refuses_person_copy_on_a_field_without_a_mask(
    tmp_path: Path, capsys: Any
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        PAYROLL.replace(
            "name: {category: identity, required: true}",
            "name: {category: identity, required: true, person_copy: whole}",
        )
    )
    code, said = _cli(capsys, "policy", "validate", str(bad))
    assert code == 1
    assert "bad.yaml:" in said and "collection_points[0].fields.name.person_copy" in said
    assert "field 'name' declares no `mask:`" in said and "Remove `person_copy:`" in said
    odd = tmp_path / "odd.yaml"
    odd.write_text(PAYROLL.replace("person_copy: whole}", "person_copy: partly}", 1))
    code, said = _cli(capsys, "policy", "validate", str(odd))
    assert code == 1 and "person_copy" in said and "'whole'" in said
    good = tmp_path / "good.yaml"
    good.write_text(PAYROLL)
    assert _cli(capsys, "policy", "validate", str(good))[0] == 0


def test_policy_diff_and_show_name_it(tmp_path: Path, capsys: Any) -> None:
    old = tmp_path / "v1.yaml"
    old.write_text(PAYROLL.replace(", person_copy: whole}", "}"))
    new = tmp_path / "v2.yaml"
    data = yaml.safe_load(PAYROLL)
    data["version"] = "1.1"
    new.write_text(yaml.safe_dump(data, sort_keys=False))
    code, said = _cli(capsys, "policy", "diff", str(old), str(new))
    assert "person copy of field 'sin' changed from" in said and "to whole" in said
    assert "person copy of field 'bank_account' changed" in said
    assert "expense_card" not in said
    code, said = _cli(capsys, "policy", "show", str(new))
    assert code == 0
    assert "sin (national_id, shown masked (last4), whole in the person's own copy" in said
    assert "expense_card (payment_card, shown masked (last4))" in said
    code, out = _cli(capsys, "policy", "show", str(new), "--json")
    (point,) = json.loads(out)["collection_points"]
    assert point["person_copy_whole"] == ["sin", "bank_account"]
    assert point["masked"] == {"sin": "last4", "bank_account": "last4", "expense_card": "last4"}


def test_over_http_the_customers_key_does_not_take_the_persons_export(
    home: Any, tmp_path: Path
) -> None:
    from _http import is_problem

    w = _world(home, tmp_path)
    t = w["t"]
    code = _export(w)
    with client_for(t.ctx) as c:
        key, _ = t.access.keys.create_api_key("desk", ["requests:admin"], tenant_id=w["acme"])
        r = c.post(
            "/api/v1/exports", json={"code": code}, headers={"Authorization": f"Bearer {key}"}
        )
        assert is_problem(r, 403)["reason"] == "person_copy_whole"
        assert EMPLOYEE["sin"].encode() not in r.content
    assert _values(t.requests.download(code, actor=w["me"]))["sin"] == EMPLOYEE["sin"]
