"""`-q`/`--quiet` (README, "Commands"): a command that creates something prints, with it,
only the new id, so that `X=$(troth ...)` captures the id and nothing else; without it,
what it prints says the same id among the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from cli_runner import run
from troth.engine import Troth
from troth.errors import NotFound
from troth.retention.tables import legal_holds

SIGNUP = {"name": "Ann", "email": "ann@example.org"}


@pytest.fixture
def t(home: Any) -> Troth:
    return home("mindlink")


def _troth(capsys: pytest.CaptureFixture[str], t: Troth, *args: str) -> str:
    code, out, err = run(capsys, "--home", str(t.ctx.home), *args)
    assert code == 0, err
    return out


def test_collect_prints_json_and_with_q_only_the_subject_id(
    t: Troth, capsys: pytest.CaptureFixture[str]
) -> None:
    point = ("collect", "newsletter_signup", "--consent", "newsletter")
    out = _troth(capsys, t, *point, "--data", json.dumps(SIGNUP))
    body = json.loads(out)
    assert body["subject_id"] == t.find(email=SIGNUP["email"]) and body["stored"] == 2
    bo = {**SIGNUP, "email": "bo@example.org"}
    out = _troth(capsys, t, *point, "-q", "--data", json.dumps(bo))
    assert out == f"{t.find(email=bo['email'])}\n"
    # The help says so, as the README's command table does.
    helped = " ".join(_troth(capsys, t, "collect", "--help").split())
    assert "prints what was stored as JSON" in helped and "only the subject id" in helped


# -- every creating command takes -q ---------------------------------------------------------
# Commands that create one thing: with -q they print its id (the key, for a key; the
# receipt id, for a consent; the invitation's id, or its link with --show-link).
CREATING = {
    "breaches record",
    "collect",
    "consent grant",
    "disclosures demand",
    "disclosures send",
    "grants request",
    "keys api create",
    "requests open",
    "retention hold",
    "tenants accept",
    "tenants create",
    "tenants invite",
    "users add",
}
# Commands whose help opens with a verb of creation but that leave no one new id to print.
NO_NEW_ID = {
    "breaches regulator": "records a date on an existing breach",
    "breaches public-notice": "records a date on an existing breach",
    "consent withdraw": "ends a consent; nothing refers to the event by id",
    "demo": "builds a whole home and serves it",
    "import": "stores many people: a summary, with the refused rows",
    "init": "creates a directory",
    "keys rotate": "re-wraps keys; no id to use",
    "policy publish": "the version is the policy file's own",
    "requests ingest": "opens one request per recognised e-mail: a report",
}
CREATION = ("Create ", "Record ", "Add ", "Open a", "Place ", "Store ", "Invite ", "Ask ",
            "Accept ", "Disclose ", "Publish ", "Make ", "Build ")  # fmt: skip


def _commands() -> dict[str, Any]:
    import typer.main

    import troth.cli

    if not any(g.name == "policy" for g in troth.cli.app.registered_groups):
        troth.cli._register()
    found: dict[str, Any] = {}

    def walk(group: Any, path: tuple[str, ...]) -> None:
        for name, sub in group.commands.items():
            if hasattr(sub, "commands"):
                walk(sub, (*path, name))
            else:
                found[" ".join((*path, name))] = sub

    walk(typer.main.get_command(troth.cli.app), ())
    return found


def test_every_creating_command_takes_q() -> None:
    commands = _commands()
    assert CREATING | set(NO_NEW_ID) <= set(commands)
    for name in sorted(CREATING):
        opts = {o for p in commands[name].params for o in getattr(p, "opts", ())}
        assert {"-q", "--quiet"} <= opts, f"`troth {name}` has no -q/--quiet"
    # A new command that creates something must be classified (and then given -q).
    for name, command in commands.items():
        if (command.help or "").startswith(CREATION):
            assert name in CREATING or name in NO_NEW_ID, f"does `troth {name}` create an id?"


def test_q_prints_only_the_new_id(t: Troth, capsys: pytest.CaptureFixture[str]) -> None:
    def quiet(*args: str) -> str:
        out = _troth(capsys, t, *args, "-q")
        assert out.endswith("\n") and out.count("\n") == 1 and " " not in out, out
        return out.strip()

    sid = quiet("collect", "newsletter_signup", "--consent", "newsletter",
                "--data", json.dumps(SIGNUP))  # fmt: skip
    receipt = quiet("consent", "grant", sid, "service_updates", "--yes")
    assert f'"consentReceiptID": "{receipt}"' in _troth(capsys, t, "consent", "receipt", receipt)
    demand = quiet("disclosures", "demand", "--authority", "Court", "--instrument",
                   "court_order", "--reference", "R-1", "--scope", "Ann's account",
                   "--category", "identity", "--category", "contact",
                   "--recipient", "law_enforcement")  # fmt: skip
    package = quiet("disclosures", "send", sid, "--recipient", "law_enforcement",
                    "--purpose", "legal_compliance", "--demand", demand,
                    "--actor", "staff:pat@privacy_office")  # fmt: skip
    listed = json.loads(_troth(capsys, t, "disclosures", "list", sid, "--office", "--json"))
    assert [d["id"] for d in listed] == [package]
    breach = quiet("breaches", "record", "--title", "t", "--description", "d",
                   "--from", "2026-01-01T00:00:00+00:00", "--until", "2026-01-02T00:00:00+00:00",
                   "--category", "contact")  # fmt: skip
    assert json.loads(_troth(capsys, t, "breaches", "show", breach))["id"] == breach
    hold = quiet("retention", "hold", "--reason", "case 7", "--subject", sid)
    with t.ctx.engine.connect() as conn:
        assert list(conn.execute(select(legal_holds.c.id)).scalars()) == [hold]
    user = quiet("users", "add", "pat@example.org", "--role", "privacy_office",
                 "--password", "a long test password")  # fmt: skip
    accounts = json.loads(_troth(capsys, t, "users", "list", "--json"))
    assert [a["id"] for a in accounts if a["email"] == "pat@example.org"] == [user]


def test_q_on_a_customer_and_its_people(
    home: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("phone-service")

    def quiet(*args: str) -> str:
        out = _troth(capsys, t, *args, "-q")
        assert out.count("\n") == 1 and " " not in out, out
        return out.strip()

    acme = quiet("tenants", "create", "Acme", "--email", "office@acme.example")
    invited = quiet("tenants", "invite", acme, "ann@acme.example", "--role", "admin")
    link = quiet("tenants", "invite", acme, "bo@acme.example", "--show-link")
    assert "#" in link
    monkeypatch.setenv("TROTH_CODE", link)
    user = quiet("tenants", "accept", "--password", "a long test password")
    people = json.loads(_troth(capsys, t, "tenants", "members", acme, "--json"))
    assert {(p["email"], p["state"]) for p in people if p["id"] in (invited, user)} == {
        ("ann@acme.example", "invited"),
        ("bo@acme.example", "active"),
    }


def test_a_hold_placed_is_lifted_by_its_id_or_a_start_of_it(
    t: Troth, capsys: pytest.CaptureFixture[str]
) -> None:
    """`troth retention lift HOLD` resolved the id through a module that holds no table:
    every lift ended in a traceback. Each kind of id the command line resolves names a
    real table."""
    from troth.store.prefix import KINDS, resolve_id_in

    sid = t.collect("contact_form", {"email": "ann@example.com", "message": "hi"}).subject_id
    hold = _troth(capsys, t, "retention", "hold", "--reason", "case 7", "--subject", sid, "-q")
    hold = hold.strip()
    assert _troth(capsys, t, "retention", "lift", hold[:8]).strip() == f"lifted {hold}"
    code, _, err = run(capsys, "--home", str(t.ctx.home), "retention", "lift", "ffffffff")
    assert code == 1 and "Traceback" not in err
    for kind in KINDS:  # an unknown id of each kind: a NotFound, never an AttributeError
        with pytest.raises(NotFound):
            resolve_id_in(t.ctx.engine, kind, "0000000000000000")
