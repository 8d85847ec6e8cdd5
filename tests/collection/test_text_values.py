"""Text values are plain text and e-mail addresses are addresses, by one check wherever
they arrive: a control character (NUL, escape, DEL, C1) is refused in every text field (a
free-text field keeps tab and line breaks), and an address whose domain ends with a dot,
has an empty label or no dot at all is refused, by collect, corrections, requests,
accounts, tenants, the privacy centre's sign-in and mail read for requests. Each refusal
names the field; nothing is stored. Python, CLI and HTTP; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from _http import api_key, client_for, is_problem
from troth.access.signin import start_signin
from troth.audit.entries import list_entries
from troth.collection.validation import check_email, email_problem
from troth.engine import Troth
from troth.errors import ValidationError
from troth.requests.mailbox import read_message
from troth.requests.tables import requests
from troth.store.tables import records, subjects

TICKET = {"name": "Ann", "email": "ann@example.nz", "message": "help"}

NOT_ADDRESSES = [
    "ann@example.com.",
    "ann@example..com",
    "ann@.example.com",
    "ann@example",
    "ann@-example.com",
    "ann@example.c",
    "ann@example.123",
    "ann@@example.com",
    "ann@exam_ple.com",
    "ann @example.com",
    "ann@example.com\x00",
    "a\x1bnn@example.com",
    "@example.com",
    "ann@",
]
ADDRESSES = [
    "ann@example.com",
    "Ann.O'Neil+tag@mail.example.co.uk",
    "ann@xn--mnchen-3ya.de",
    "ann@münchen.de",
    "ann@example.xn--p1ai",
    "a@b-c.io",
]
CONTROLS = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\t", "\n", "\r"]


@pytest.fixture
def ilign(home: Any, db_url: str) -> Any:
    """i-lign as a Context, on SQLite and PostgreSQL."""
    return home("ilign", None if db_url.startswith("sqlite") else db_url, context=True)


def counts(ctx: Any) -> tuple[int, int]:
    with ctx.engine.connect() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(records)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(subjects)).scalar_one()),
        )


def last_entry(ctx: Any) -> Any:
    return list_entries(ctx, newest_first=True, limit=1)[0].entry


@pytest.mark.parametrize("address", NOT_ADDRESSES)
def test_the_one_email_check_refuses_what_is_no_address(address: str) -> None:
    assert email_problem(address) is not None
    with pytest.raises(ValidationError) as exc:
        check_email(address, "contact_email")
    assert exc.value.message.startswith("contact_email: ")
    assert exc.value.details["field"] == "contact_email"


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_one_email_check_takes_addresses(address: str) -> None:
    assert email_problem(address) is None
    assert check_email(f" {address} ") == address


def test_collect_refuses_an_address_with_a_trailing_dot(ilign: Any) -> None:
    t = Troth(ilign)
    for address in ("ann@example.com.", "ann@example..com", "ann@example"):
        with pytest.raises(ValidationError, match=r"field 'email': not an e-mail address"):
            t.collect("support_ticket", {**TICKET, "email": address})
        entry = last_entry(ilign)
        assert (entry.action, entry.outcome.value, entry.reason) == (
            "collect",
            "deny",
            "invalid_input",
        )
        assert address not in json.dumps(entry.details)
    assert counts(ilign) == (0, 0)


@pytest.mark.parametrize("control", CONTROLS)
def test_collect_refuses_control_characters_in_a_name(ilign: Any, control: str) -> None:
    t = Troth(ilign)
    with pytest.raises(ValidationError, match=r"field 'name': contains a control character"):
        t.collect("support_ticket", {**TICKET, "name": f"An{control}n"})
    # A whole batch is refused for one bad row, which the error names.
    with pytest.raises(ValidationError, match=r"field 'name' \(row 1\): contains a control"):
        t.collect_many("support_ticket", [TICKET, {**TICKET, "name": f"An{control}n"}])
    assert counts(ilign) == (0, 0)


def test_free_text_keeps_tabs_and_line_breaks_and_nothing_else(ilign: Any) -> None:
    t = Troth(ilign)
    t.collect("support_ticket", {**TICKET, "message": "line one\r\nline two\n\tindented"})
    assert counts(ilign) == (3, 1)
    for control in ("\x00", "\x1b", "\x7f", "\x0b", "\x0c", "\x9b"):
        with pytest.raises(ValidationError, match=r"field 'message': .*only tab and line br"):
            t.collect("support_ticket", {**TICKET, "message": f"help{control}"})
    assert counts(ilign) == (3, 1)


def test_a_supplier_with_a_control_character_is_refused(home: Any) -> None:
    t = home("mindlink")
    with pytest.raises(ValidationError, match=r"^supplier: contains a control character"):
        t.collect("third_party_supply", {"name": "Ann"}, supplier="Lists\x00Ltd")
    assert t.collect("third_party_supply", {"name": "Ann"}, supplier="Lists Ltd").stored == 1


def test_http_collect_names_the_field(ilign: Any) -> None:
    with client_for(ilign) as client:
        headers = api_key(client, ["admin"])
        for field, value in (("email", "ann@example.com."), ("name", "An\u0000n")):
            r = client.post(
                "/api/v1/collect/support_ticket",
                json={"data": {**TICKET, field: value}},
                headers=headers,
            )
            body = is_problem(r, 422, "invalid_input")
            assert f"field {field!r}" in body["detail"], body
    assert counts(ilign) == (0, 0)


def test_cli_collect_names_the_field(home: Any) -> None:
    ctx = home("ilign", context=True)
    troth = Path(sys.executable).parent / "troth"
    base = [str(troth), "--home", str(ctx.settings.home), "collect", "support_ticket", "--data"]
    for data, words in (
        (json.dumps({**TICKET, "name": "An\u0000n"}), "field 'name': contains a control"),
        (json.dumps({**TICKET, "email": "ann@example.com."}), "field 'email': not an e-mail"),
    ):
        run = subprocess.run([*base, data], capture_output=True, text=True)
        assert run.returncode == 1, run.stderr
        assert f"error (invalid_input): {words}" in run.stderr, run.stderr
    assert counts(ctx) == (0, 0)


def test_a_correction_to_an_address_with_a_trailing_dot_is_refused(home: Any) -> None:
    from troth.requests.execution import check_value  # the check a correction makes

    spec = home("ilign").ctx.policy.points["support_ticket"].fields["email"]
    assert check_value(spec, "ann@example.com.", 10_000) is not None
    assert check_value(spec, "ann@example.com", 10_000) is None


def test_a_request_from_an_address_with_a_trailing_dot_is_refused(ilign: Any) -> None:
    t = Troth(ilign)
    with pytest.raises(ValidationError) as exc:
        t.requests.open("access", email="ann@example.com.")
    assert exc.value.code == "invalid_addr" and exc.value.message.startswith("email: ")
    with client_for(ilign) as client:
        r = client.post(
            "/api/v1/requests",
            json={"kind": "access", "email": "ann@example.com\u0000"},
            headers=api_key(client, ["admin"]),
        )
        body = is_problem(r, 422, "invalid_addr")
        assert body["detail"].startswith("email: contains a control character")
    with ilign.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests)).scalar_one() == 0


def test_tenants_and_accounts_refuse_such_addresses_and_names(home: Any) -> None:
    t = home("phone-service")
    with pytest.raises(ValidationError, match=r"^primary_email: not an e-mail address"):
        t.access.tenants.create_tenant("Acme", "office@acme.example.")
    with pytest.raises(ValidationError, match=r"^name: contains a control character"):
        t.access.tenants.create_tenant("Ac\x00me", "office@acme.example")
    assert t.access.tenants.list_tenants() == []


def test_sign_in_refuses_an_address_with_a_trailing_dot(ilign: Any) -> None:
    with pytest.raises(ValidationError, match="type the e-mail address you gave us"):
        start_signin(ilign, "ann@example.com.")


def test_mail_from_an_address_with_a_trailing_dot_has_no_sender(tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["From"] = "ann@example.com."
    msg["Subject"] = "Delete my data"
    msg["Message-ID"] = "<1@mail.example>"
    msg.set_content("Please erase my data.")
    path = tmp_path / "1.eml"
    path.write_bytes(bytes(msg))
    found = read_message(path)
    assert found.sender is None and "not an e-mail address" in (found.problem or "")


BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


@pytest.mark.parametrize("bidi", BIDI)
def test_bidi_overrides_are_refused_in_text_at_collection_and_correction(
    ilign: Any, bidi: str
) -> None:
    """Trial 11: "Ann\\u202egnp.exe" was accepted as a name, shown reversed to staff."""
    from troth.requests.execution import check_value  # the check a correction makes

    t = Troth(ilign)
    for field in ("name", "message"):  # a name, and free text alike
        with pytest.raises(ValidationError, match=rf"field '{field}': contains a bidirectional"):
            t.collect("support_ticket", {**TICKET, field: f"Ann{bidi}gnp.exe"})
    assert counts(ilign) == (0, 0)
    spec = ilign.policy.points["support_ticket"].fields["name"]
    assert "bidirectional" in (check_value(spec, f"Ann{bidi}x", 10_000) or "")
    # Right-to-left text and its direction marks are still names.
    t.collect("support_ticket", {**TICKET, "name": "\u05d0\u05e0\u05d4 \u200fLee"})
    assert counts(ilign)[1] == 1


def test_http_refuses_a_bidi_override_naming_the_field(ilign: Any) -> None:
    with client_for(ilign) as client:
        r = client.post(
            "/api/v1/collect/support_ticket",
            json={"data": {**TICKET, "name": "Ann\u202egnp.exe"}},
            headers=api_key(client, ["admin"]),
        )
        body = is_problem(r, 422, "invalid_input")
        assert "field 'name'" in body["detail"] and "bidirectional" in body["detail"], body
    assert counts(ilign) == (0, 0)
