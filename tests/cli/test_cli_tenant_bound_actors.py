"""What an actor bound to a customer learns on the operator's command line (trial #14, F8):
nothing of the vendor's marketing lists (`mail send` is refused up front, audited, the
same whether or not the list has members), and nothing of which other customers exist (a
command naming another tenant answers as for a tenant that does not exist)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from cli_runner import run
from troth.audit.entries import list_entries
from troth.cli import _register
from troth.cli import app as cli_app
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.notices.lists import send_to_list
from troth.notices.outbox import list_outbox

PW = "a long test password"
ORDER = {
    "name": "Ann Lee",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


@pytest.fixture
def sellers(home: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """An itechno home with two customers (Anouk, Bert), each with an admin; TROTH_HOME
    points at it; a mail template."""
    t = home("itechno")
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("TROTH_PASSWORD", raising=False)
    ids = {}
    for name, mail in (("Atelier Anouk", "anouk@anouk.example"), ("Berliner B", "b@b.example")):
        tid = ids[name] = t.access.tenants.create_tenant(name, mail)
        t.access.accounts.add_user(
            mail, kind="tenant_member", tenant_id=tid, tenant_role="admin", password=PW
        )
    template = tmp_path / "offer.txt"
    template.write_text("Subject: Offers\n\nNew widgets.\n")
    return t, ids["Atelier Anouk"], ids["Berliner B"], template


ANOUK = "tenant_admin:anouk@anouk.example@Atelier Anouk"


def _join(t: Any, email: str) -> None:
    t.collect(
        "newsletter_signup", {"name": "N", "email": email}, consents=["product_news"]
    ).subject_id


def test_a_seller_is_refused_the_vendors_list_up_front(
    sellers: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before the fix: "list newsletter, campaign ...: 3 member(s), 0 queued, not sent to 3:
    # not_a_member" (the size of the vendor's list), exit 0.
    t, anouk, _bert, template = sellers
    args = ("mail", "send", "--list", "newsletter", "--template", str(template))
    answers = []
    for n in (0, 3):
        for i in range(n):
            _join(t, f"p{i}@example.com")
        code, out, err = run(capsys, *args, "--actor", ANOUK)
        assert code == 3 and "tenant_bound" in err, (out, err)
        assert "member" not in out + err.replace("tenant_bound", "")
        answers.append((code, out, err))
    assert answers[0] == answers[1]  # the same whether the list is empty or not
    refused = [e.entry for e in list_entries(t.ctx, action="mail.send", limit=100)]
    assert [(e.outcome, e.reason) for e in refused] == [("deny", "tenant_bound")] * 2
    # A key bound to the seller, whatever its scopes, through the Python API too.
    key = Actor(ActorKind.application, "k", tenant_id=anouk, scopes=frozenset({"admin"}))
    with pytest.raises(Refused) as exc:
        send_to_list(t, "newsletter", template.read_text(), actor=key)
    assert exc.value.reason == "tenant_bound"
    assert list_outbox(t.ctx) == []  # nothing queued
    # The vendor's own sender is unchanged.
    code, out, err = run(capsys, *args, "--actor", "app:newsletter", "--json")
    assert code == 0 and '"queued": 3' in out, (out, err)


def tenant_actor_commands() -> set[str]:
    """Every CLI command that takes a tenant and an ``--actor``."""
    _register()

    def walk(group: Any, prefix: str = "") -> Any:
        for name, cmd in group.commands.items():
            path = f"{prefix} {name}".strip()
            if hasattr(cmd, "commands"):
                yield from walk(cmd, path)
            else:
                yield path, cmd

    found = set()
    for path, cmd in walk(typer.main.get_command(cli_app)):
        names = {p.name for p in cmd.params}
        if "actor" in names and any(
            getattr(p.callback, "id_kind", None) == "tenant" for p in cmd.params
        ):
            found.add(path)
            (actor,) = [p for p in cmd.params if p.name == "actor"]
            # Read before the tenant: the tenant is resolved for it.
            assert actor.is_eager, f"`troth {path}` --actor is not eager"
    return found


# Each command with a tenant and an --actor, up to the tenant (TENANT) and the actor.
COMMANDS = {
    "requests export-tenant": ["requests", "export-tenant", "TENANT", "-o", "x.zip"],
    "tenants offboard": ["tenants", "offboard", "TENANT", "-o", "x.zip"],
    "collect": ["collect", "order_form", "--tenant", "TENANT", "--data", "{}"],
    "import": ["import", "people.csv", "--point", "order_form", "--tenant", "TENANT"],
    "breaches record": ["breaches", "record", "--title", "x", "--tenant", "TENANT"],
    "requests open": ["requests", "open", "delete", "--email", "a@x.example", "--tenant", "TENANT"],
    "retention hold": ["retention", "hold", "--tenant", "TENANT", "--reason", "x"],
}


def _answer(out: str, err: str, typed: str) -> str:
    return re.sub(r"\s+", " ", (out + err).replace(typed, "{tenant}"))


def test_a_seller_gets_the_same_answer_for_another_seller_as_for_none(
    sellers: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: Any
) -> None:
    # Before the fix: `requests export-tenant "Berliner B" --actor ANOUK` answered
    # not_tenant_admin, and a name of no tenant unknown_tenant.
    _t, anouk, bert, _template = sellers
    monkeypatch.chdir(tmp_path)
    assert tenant_actor_commands() == set(COMMANDS)
    # A start of Bert's id that is not one of Anouk's (theirs would name Anouk's own).
    n = max(8, next(i for i, (x, y) in enumerate(zip(anouk, bert, strict=True)) if x != y) + 1)
    other = ("Berliner B", bert, bert[:n], f"…{bert[-6:]}")
    nobody = ("Nobody GmbH", "f" * 32, "f" * n, "…ffffff")
    for name, argv in COMMANDS.items():
        for theirs, none in zip(other, nobody, strict=True):
            answers = []
            for typed in (theirs, none):
                args = [typed if a == "TENANT" else a for a in argv]
                code, out, err = run(capsys, *args, "--actor", ANOUK)
                answers.append((code, _answer(out, err, typed)))
            assert answers[0] == answers[1], (name, theirs, answers)
            assert answers[0][0] != 0 and "unknown_tenant" in answers[0][1], (name, answers)
    assert not (tmp_path / "x.zip").exists()
    # Without a bound actor the operator names any tenant as before.
    code, out, err = run(capsys, "requests", "export-tenant", "Berliner B", "-o", "b.zip")
    assert code == 0, (out, err)
