"""The command line in a shell: fast to start (nothing heavy imported before a command
runs), --version, completion, --json on lists, whole ids and unique prefixes, e-mails for
--actor, readable worker output; and the commands a new user missed: troth import,
troth mail send, troth requests refuse, consent given by phone."""

from __future__ import annotations

import csv
import email
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli_runner import run
from outbox_helpers import outbox_mail
from troth.audit.tables import audit_entries
from troth.errors import NotFound, ValidationError
from troth.gate import Actor, ActorKind
from troth.store.tables import subjects

PW = "a long test password"
ADA = Actor(ActorKind.staff, "ada", role="privacy_office")


@pytest.fixture
def shop(home: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An itechno home with two customers; TROTH_HOME points at it."""
    t = home("itechno")
    for name, mail in (("Ann Lee", "ann@example.com"), ("Bo", "bo@example.com")):
        t.collect(
            "order_form",
            {
                "name": name,
                "email": mail,
                "address": "1 Main St",
                "card_number": "4111111111111111",
                "card_expiry": "12/29",
                "order_items": "1 widget",
            },
        )
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("TROTH_PASSWORD", raising=False)
    return t


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from troth.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# -- starting ------------------------------------------------------------------------------
def test_help_imports_no_command_and_nothing_heavy() -> None:
    probe = (
        "import sys; from troth.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('argon2', 'sqlalchemy', 'fastapi', 'pydantic', 'alembic',"
        " 'troth.cli.core', 'troth.cli.requests', 'troth.gate') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr
    assert "import" in r.stdout and "requests" in r.stdout  # every command is listed
    # Help speaks of TEXT and INTEGER, not Python types, and names no promise ids.
    assert "<" not in r.stdout and "(P0" not in r.stdout and "(P2" not in r.stdout


def test_version_completion_and_plain_metavars(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == "troth 0.1.0"
    code, out, _ = run(capsys, "--help")
    assert "--install-completion" in out and "--show-completion" in out
    code, out, _ = run(capsys, "collect", "--help")
    assert code == 0 and "POINT" in out and "TEXT" in out
    assert "<" not in out and "list[str]" not in out
    code, _, err = run(capsys, "no-such-command")
    assert code == 2 and "No such command" in err


def test_the_command_table_matches_what_the_modules_register() -> None:
    import importlib

    import typer

    from troth.cli import COMMANDS

    for module in {m for m, _ in COMMANDS.values()}:
        scratch = typer.Typer()
        scratch.callback()(lambda: None)
        importlib.import_module(module).register(scratch)
        group = typer.main.get_command(scratch)
        names = set(group.commands)  # type: ignore[attr-defined]
        assert names == {n for n, (m, _) in COMMANDS.items() if m == module}, module


# -- lists, ids ----------------------------------------------------------------------------
def test_lists_print_json_and_whole_ids(shop: Any, capsys: pytest.CaptureFixture[str]) -> None:
    shop.access.accounts.add_user("ann@shop.example", role="accounts", password=PW)
    key, rec = shop.access.keys.create_api_key("backend", ["collect"])
    for args in (
        ("users", "list", "--json"),
        ("keys", "api", "list", "--json"),
        ("tenants", "list", "--json"),
        ("grants", "list", "--json"),
        ("outbox", "list", "--json"),
        ("breaches", "list", "--json"),
        ("requests", "list", "--json"),
    ):
        code, out, err = run(capsys, *args)
        assert code == 0, (args, err)
        assert isinstance(json.loads(out), list), args
    keys = json.loads(run(capsys, "keys", "api", "list", "--json")[1])
    assert keys[0]["id"] == rec.id and keys[0]["prefix"] == key[:12]
    assert key not in json.dumps(keys)  # never the key itself
    # An 80-column table keeps every 32-character id whole.
    code, out, _ = run(capsys, "users", "list")
    user = shop.access.accounts.find_user("ann@shop.example")
    assert user.id in out
    code, out, _ = run(capsys, "users", "disable", user.id[:24])
    assert code == 0 and "disabled ann@shop.example" in out


def test_prefixes_resolve_once_and_refuse_two_or_none(
    shop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, bo = shop.find(email="ann@example.com"), shop.find(email="bo@example.com")
    common = ann[: next(i for i, (a, b) in enumerate(zip(ann, bo, strict=True)) if a != b)]
    assert len(common) >= 4  # time-ordered ids made together share their head
    code, _, err = run(capsys, "consent", "state", common)
    assert code == 1 and "ambiguous_id" in err and "matches 2 subject ids" in err
    code, _, err = run(capsys, "consent", "state", "ffff0000")
    assert code == 1 and "unknown_subject" in err
    code, _, err = run(capsys, "consent", "state", "01")
    assert code == 1 and "at least 4 characters" in err
    code, out, _ = run(capsys, "consent", "state", ann[: len(common) + 6], "--json")
    assert code == 0 and json.loads(out) == {}
    code, out, _ = run(capsys, "use", "\u2026" + bo[-10:], "--purpose", "billing",
                       "--actor", "staff:ada@accounts")  # fmt: skip
    assert code == 0 and "Bo" in out
    code, _, err = run(capsys, "consent", "state", "x' OR '1'='1")
    assert code == 1 and "no subject" in err


def test_a_tenant_by_name_and_keys_by_prefix(
    home: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("phone-service")
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    tid = t.access.tenants.create_tenant("Acme Ltd", "office@acme.example")
    key, rec = t.access.keys.create_api_key("ops", ["collect"], tenant_id=tid)
    code, out, _ = run(capsys, "grants", "list", "Acme Ltd", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, "grants", "list", "Acme")  # a name is taken whole, not a part
    assert code == 1 and "unknown_tenant" in err
    code, out, _ = run(capsys, "keys", "api", "revoke", key[:12])
    assert code == 0 and rec.id in out
    assert t.access.keys.list_api_keys() == []


# -- --actor by e-mail ---------------------------------------------------------------------
def test_actor_by_email(home: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    t = home("phone-service")
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    tid = t.access.tenants.create_tenant("Acme Ltd", "office@acme.example")
    t.access.accounts.add_user("ana@acme.example", kind="tenant_member", tenant_id=tid,
                      tenant_role="admin", password=PW)  # fmt: skip
    t.access.accounts.add_user("max@acme.example", kind="tenant_member", tenant_id=tid,
                      tenant_role="member", password=PW)  # fmt: skip
    out = str(tmp_path / "acme.zip")
    code, _, err = run(capsys, "requests", "export-tenant", "Acme Ltd", "-o", out,
                       "--actor", "tenant_admin:ana@acme.example@Acme Ltd")  # fmt: skip
    assert code == 0, err
    assert Path(out).stat().st_size > 0
    code, _, err = run(capsys, "requests", "export-tenant", "Acme Ltd", "-o", out,
                       "--actor", "tenant_admin:nobody@acme.example@Acme Ltd")  # fmt: skip
    assert code == 1 and "unknown_account" in err and "nobody@acme.example" in err
    code, _, err = run(capsys, "requests", "export-tenant", "Acme Ltd", "-o", out,
                       "--actor", f"tenant_admin:max@acme.example@{tid}")  # fmt: skip
    assert code == 1 and "is a tenant_member, not a tenant_admin" in err
    code, _, err = run(capsys, "requests", "export-tenant", "Acme Ltd", "-o", out,
                       "--actor", "tenant_admin:ana@acme.example")  # fmt: skip
    assert code == 1 and "EMAIL@TENANT" in err
    t.access.accounts.add_user("sue@vendor.example", role="support", password=PW)
    from troth.cli.actors import parse_actor

    with pytest.raises(Exception, match="has the role 'support', not 'accounts'"):
        run_in_cli(t, lambda: parse_actor("staff:sue@vendor.example@accounts"))
    actor = run_in_cli(t, lambda: parse_actor("staff:sue@vendor.example"))
    assert actor.kind is ActorKind.staff and actor.role == "support"
    assert parse_actor("staff:ada@accounts") == Actor(ActorKind.staff, "ada", role="accounts")


def run_in_cli(t: Any, fn: Any) -> Any:
    """Call ``fn`` inside a click context whose home is ``t``'s (as a command would)."""
    from typer._click import Context
    from typer.core import TyperCommand

    with Context(TyperCommand("x"), obj={"home": t.ctx.home}):
        return fn()


# -- troth import --------------------------------------------------------------------------
def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["name", "email"])
        w.writeheader()
        w.writerows(rows)
    return path


def test_import_stores_good_rows_and_reports_bad_ones(
    shop: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = [{"name": f"P{i}", "email": f"p{i}@example.com"} for i in range(7)]
    rows[3]["email"] = "not-an-email"
    path = _csv(tmp_path / "people.csv", rows)
    with path.open("a") as fh:
        fh.write("Zed,z@example.com,extra\n")
    code, out, _ = run(capsys, "import", str(path), "--point", "newsletter_signup",
                       "--consent", "product_news", "--batch", "3", "--json")  # fmt: skip
    assert code == 1
    report = json.loads(out)
    assert report["stored"] == 6 and report["done"] is True
    assert [r["row"] for r in report["refused"]] == [4, 8]
    assert (
        "e-mail" in report["refused"][0]["reason"]
        and "more cells" in report["refused"][1]["reason"]
    )
    assert shop.find(email="p6@example.com") and shop.find(email="p0@example.com")
    with pytest.raises((NotFound, ValidationError)):  # the bad row stored nothing
        shop.find(email="not-an-email")
    # Again: already done, nothing stored twice.
    code, out, _ = run(capsys, "import", str(path), "--point", "newsletter_signup",
                       "--consent", "product_news", "--json")  # fmt: skip
    assert json.loads(out)["stored"] == 6
    with shop.ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar() == 2 + 6


def test_import_bad_input(shop: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "rows.txt"
    path.write_text("{}\n")
    code, _, err = run(capsys, "import", str(path), "--point", "newsletter_signup")
    assert code == 1 and ".jsonl or .csv" in err
    jl = tmp_path / "rows.jsonl"
    jl.write_text('{"name": "A", "email": "a@example.com"}\n[1]\n{"name": NaN}\n\n')
    code, out, err = run(capsys, "import", str(jl), "--point", "nope")
    assert code == 1 and "no collection point 'nope'" in err
    code, out, err = run(capsys, "import", str(jl), "--point", "newsletter_signup",
                         "--consent", "product_news")  # fmt: skip
    assert code == 1 and "stored 1 row(s), refused 2" in out
    assert "row 2: invalid_row: a row must be a JSON object" in err and "row 3:" in err


def test_import_resumes_after_a_kill_and_stores_nothing_twice(shop: Any, tmp_path: Path) -> None:
    rows = [{"name": f"K{i}", "email": f"k{i}@example.com"} for i in range(5)]
    path = _csv(tmp_path / "k.csv", rows)
    args = ("--home", str(shop.ctx.home), "import", str(path), "--point", "newsletter_signup",
            "--consent", "product_news", "--batch", "2", "--json")  # fmt: skip
    # Killed right after the first batch committed, before the state file says so.
    killed = _cli(*args, env={"TROTH_TEST_FAULT": "idempotency-after-commit"})
    assert killed.returncode == -9
    with shop.ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar() == 2 + 2
    again = _cli(*args[:-3], "--batch", "3", "--json")  # another --batch: the first one holds
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["stored"] == 5
    with shop.ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar() == 2 + 5


# -- mail to a list ------------------------------------------------------------------------
def test_mail_send_to_a_list(shop: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    yes = shop.collect("newsletter_signup", {"name": "Yo", "email": "yo@example.com"},
                       consents=["product_news"]).subject_id  # fmt: skip
    gone = shop.collect("newsletter_signup", {"name": "Ga", "email": "ga@example.com"},
                        consents=["product_news"]).subject_id  # fmt: skip
    shop.consent.withdraw(gone, "product_news")
    template = tmp_path / "news.txt"
    template.write_text("Subject: Spring\n\nNew widgets.\n")
    args = ("mail", "send", "--list", "newsletter", "--template", str(template),
            "--actor", "app:newsletter", "--json")  # fmt: skip
    code, out, err = run(capsys, *args)
    assert code == 0, err
    report = json.loads(out)
    assert report["members"] == 1 and report["queued"] == 1, report
    code, out, _ = run(capsys, *args)  # the same text again: nothing twice
    code, out, _ = run(capsys, "outbox", "list", "--json")
    mails = json.loads(out)
    assert [m["to_addr"] for m in mails] == ["yo@example.com"]
    assert mails[0]["subject_id"] == yes and mails[0]["list_id"] == "newsletter"
    assert run(capsys, "outbox", "deliver")[0] == 0
    eml = next((shop.ctx.home / "mail").glob("*.eml"))
    msg = email.message_from_bytes(eml.read_bytes())
    assert msg["List-Unsubscribe"].startswith("<http") and "/u/" in msg["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A role the policy does not let act for product news is refused outright (exit 3,
    # audited), not answered with a report of refused members and exit 0.
    code, out, err = run(capsys, "mail", "send", "--list", "newsletter", "--template",
                         str(template), "--actor", "staff:sue@shipping_desk", "--json",
                         "--campaign", "two")  # fmt: skip
    assert code == 3 and "role_not_allowed" in err and "shipping_desk" in err, (out, err)
    code, out, _ = run(capsys, "outbox", "list", "--json")
    assert len(json.loads(out)) == 1  # nothing more queued


def test_mail_send_bad_input(shop: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    template = tmp_path / "t.txt"
    template.write_text("no subject line\n\nbody\n")
    base = ("mail", "send", "--template", str(template), "--actor", "staff:ada@privacy_office")
    code, _, err = run(capsys, *base, "--list", "newsletter")
    assert code == 1 and "Subject:" in err
    template.write_text("Subject: x\n\nbody\n")
    code, _, err = run(capsys, *base, "--list", "nope")
    assert code == 1 and "unknown list 'nope'" in err and "newsletter" in err


# -- requests refuse, consent by phone -----------------------------------------------------
def test_requests_refuse(shop: Any, capsys: pytest.CaptureFixture[str]) -> None:
    req = shop.requests.open("delete", email="ann@example.com", channel="staff")
    code, _, err = run(capsys, "requests", "refuse", req.id, "--reason", " ")
    assert code == 1 and "say why" in err
    code, out, _ = run(capsys, "requests", "refuse", req.id[:26], "--reason", "unfounded",
                       "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["state"] == "refused"
    code, _, err = run(capsys, "requests", "refuse", req.id, "--reason", "again")
    assert code == 1 and "refused" in err  # a closed request cannot move
    # The letters, read from the outbox itself: `outbox list` never shows a body.
    told = outbox_mail(shop, to="ann@example.com", newest_first=True)
    assert told and any("unfounded" in m["body_text"] for m in told)  # the person is told why


def test_consent_by_phone_shows_the_notice_and_records_how(
    shop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    bo = shop.find(email="bo@example.com")
    code, out, err = run(capsys, "consent", "grant", bo, "product_news", "--by", "phone",
                         "--actor", "staff:ada@privacy_office", "--yes")  # fmt: skip
    assert code == 0, err
    notice = shop.consent.notice_for("product_news")
    assert notice.split()[0] in out and "by phone" in out
    code, _, err = run(capsys, "consent", "withdraw", bo, "product_news", "--by", "pigeon")
    assert code == 1 and "unknown channel 'pigeon'" in err
    code, _, _ = run(capsys, "consent", "withdraw", bo, "product_news", "--by", "letter")
    assert code == 0
    with shop.ctx.engine.connect() as conn:
        rows = conn.execute(
            select(audit_entries.c.action, audit_entries.c.actor, audit_entries.c.details)
            .where(audit_entries.c.subject_id == bo, audit_entries.c.action.like("consent.%"))
            .order_by(audit_entries.c.seq)
        ).all()
    details = [json.loads(r.details) if isinstance(r.details, str) else r.details for r in rows]
    assert [d.get("channel") for d in details] == ["phone", "letter"]
    assert rows[0].actor == "staff:ada" and details[0]["method"] == "staff"


def test_worker_once_prints_plain_lines(shop: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "worker", "--once")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert any(line.startswith("retention: ") for line in lines)
    assert not any("Report(" in line or "SignedHead(" in line or "datetime." in line
                   for line in lines)  # fmt: skip
    assert "INFO" not in err


def test_execute_writes_the_export_or_prints_its_code(
    shop: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    req = shop.requests.open("access", email="ann@example.com", channel="staff")
    code, _, err = run(capsys, "requests", "verify", req.id, "--staff", "ada", "--reason", "seen")
    assert code == 0, err
    out_zip = tmp_path / "ann.zip"
    code, out, err = run(capsys, "requests", "execute", req.id[:28], "-o", str(out_zip))
    assert code == 0, err
    assert out_zip.read_bytes()[:2] == b"PK" and oct(out_zip.stat().st_mode)[-3:] == "600"
    other = shop.requests.open("portability", email="bo@example.com", channel="staff")
    run(capsys, "requests", "verify", other.id, "--staff", "ada", "--reason", "seen")
    code, out, _ = run(capsys, "requests", "execute", other.id, "--json")
    body = json.loads(out)
    assert code == 0 and body["state"] == "completed" and len(body["download_code"]) > 20
    # The code comes from TROTH_CODE or a hidden prompt, never an argument.
    monkeypatch.setenv("TROTH_CODE", body["download_code"])
    code, _, err = run(capsys, "requests", "download", "-o", str(tmp_path / "bo.zip"))
    assert code == 0, err
    assert (tmp_path / "bo.zip").stat().st_size > 0
    delete = shop.requests.open("delete", email="bo@example.com", channel="staff")
    run(capsys, "requests", "verify", delete.id, "--staff", "ada", "--reason", "seen")
    code, _, err = run(capsys, "requests", "execute", delete.id, "-o", str(tmp_path / "x.zip"))
    assert code == 1 and "no export to write" in err


def test_a_key_is_revoked_by_any_unique_start_of_its_prefix(
    shop: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    key, rec = shop.access.keys.create_api_key("a", ["collect"])
    code, out, _ = run(capsys, "keys", "api", "list")
    assert key[:12] in out  # the whole shown prefix, uncut
    code, out, err = run(capsys, "keys", "api", "revoke", key[:8])
    assert code == 0, err
    assert rec.id in out and shop.access.keys.list_api_keys() == []


def test_shell_completion_knows_lazily_loaded_commands(tmp_path: Path) -> None:
    env = {"_TROTH_COMPLETE": "complete_bash", "COMP_WORDS": "troth req", "COMP_CWORD": "1"}
    r = subprocess.run(
        [str(Path(sys.executable).parent / "troth")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert r.stdout.split() == ["requests"]
    env = {**env, "COMP_WORDS": "troth requests ref", "COMP_CWORD": "2"}
    r = subprocess.run(
        [str(Path(sys.executable).parent / "troth")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert r.stdout.split() == ["refuse"]
