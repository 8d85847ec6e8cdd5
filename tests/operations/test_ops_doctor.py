"""`troth doctor` on a healthy home and on broken ones: each check's ok/warn/fail and what
to do, --json, exit 1 when a check fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import text
from typer.testing import CliRunner

from troth.cli import doctor as doctor_cli
from troth.engine import Troth

runner = CliRunner()
SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


def cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root(ctx: typer.Context, home: Path = typer.Option(None, "--home")) -> None:
        ctx.obj = {"home": home}

    doctor_cli.register(root)
    return root


def doctor(home: Path) -> tuple[int, dict[str, Any], dict[str, dict[str, str]]]:
    r = runner.invoke(cli(), ["--home", str(home), "doctor", "--json"], env={"COLUMNS": "200"})
    report = json.loads(r.stdout)
    by_name: dict[str, dict[str, str]] = {}
    for c in report["checks"]:
        # settings may appear more than once; keep the worst
        if c["name"] not in by_name or c["status"] == "fail":
            by_name[c["name"]] = c
    return r.exit_code, report, by_name


def test_a_healthy_home(home: Any) -> None:
    ctx = home("mindlink", clock=None, context=True)  # the system clock
    ctx.engine.dispose()
    code, report, checks = doctor(ctx.home)
    assert code == 0, report
    for name in ("key file", "heads file", "database", "migrations", "outbox", "requests"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["signed head"]["status"] == "ok"
    assert "covers 1 entries" in checks["signed head"]["detail"]
    assert checks["migrations"]["detail"].startswith("at schema ")
    # The text form: one line a check, ok/warn/fail first.
    r = runner.invoke(cli(), ["--home", str(ctx.home), "doctor"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    lines = r.stdout.strip().splitlines()
    assert len(lines) == len(report["checks"])
    assert all(line.split()[0] in ("ok", "warn", "fail") for line in lines)


def test_a_broken_home(tmp_path: Path, home) -> None:
    # Made on the test clock (March 2026): a request opened then is overdue now, and the
    # mail it queued has waited for months.
    t: Troth = home("mindlink")
    t.collect("support_request", SUPPORT)
    t.requests.open("delete", email="ada@example.com")
    home_dir = t.ctx.home
    t.close()
    (home_dir / "audit-heads.jsonl").unlink()
    code, report, checks = doctor(home_dir)
    assert code == 1 and report["status"] == "fail"
    assert checks["key file"]["status"] == "ok"
    assert checks["heads file"]["status"] == "warn"  # not there yet is not in itself broken
    assert checks["signed head"]["status"] == "fail"
    assert "no signed tree head" in checks["signed head"]["detail"]
    assert "troth audit head" in checks["signed head"]["fix"]
    assert checks["requests"]["status"] == "fail"
    assert checks["requests"]["detail"].startswith("1 of 1 open request(s) past their deadline")
    assert checks["outbox"]["status"] == "warn" and "troth worker" in checks["outbox"]["fix"]
    # A key file others may read: troth refuses to open the home, doctor says why and how.
    key_file = home_dir / "keys.json"
    key_file.chmod(0o644)
    code, report, checks = doctor(home_dir)
    assert code == 1
    assert checks["key file"]["status"] == "fail"
    assert checks["key file"]["fix"] == f"chmod 600 {key_file}"
    assert "0644" in checks["key file"]["detail"]
    assert checks["home"]["status"] == "fail" and "chmod 600" in checks["home"]["detail"]
    # The text form says what to do after each finding.
    r = runner.invoke(cli(), ["--home", str(home_dir), "doctor"], env={"COLUMNS": "200"})
    assert r.exit_code == 1
    assert f"fail key file: {key_file} is mode 0644" in r.stdout
    assert f"-> chmod 600 {key_file}" in r.stdout
    # Nothing personal in the report.
    assert "ada@example.com" not in r.stdout + json.dumps(report)


def test_migrations_behind_and_a_missing_key_file(home: Any) -> None:
    ctx = home("mindlink", clock=None, context=True)
    with ctx.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    ctx.engine.dispose()
    code, _report, checks = doctor(ctx.home)
    assert code == 1
    assert checks["migrations"]["status"] == "fail"
    assert checks["migrations"]["fix"] == "run `troth db migrate`"
    (ctx.home / "keys.json").unlink()
    code, _report, checks = doctor(ctx.home)
    assert code == 1
    assert checks["key file"]["status"] == "fail" and "missing" in checks["key file"]["detail"]


def test_not_a_home_and_bad_settings(tmp_path: Path) -> None:
    code, _report, checks = doctor(tmp_path)
    assert code == 1 and checks["key file"]["status"] == "fail"
    assert checks["home"]["status"] == "fail" and "not a troth home" in checks["home"]["detail"]
    (tmp_path / "troth.toml").write_text('metrics_access = "everyone"\n')
    code, _report, checks = doctor(tmp_path)
    assert code == 1 and checks["settings"]["status"] == "fail"
    assert "metrics_access" in checks["settings"]["detail"]


def test_open_metrics_and_a_password_in_the_file_are_warnings(home: Any) -> None:
    ctx = home("mindlink", clock=None, context=True)
    ctx.engine.dispose()
    with (ctx.home / "troth.toml").open("a") as fh:
        fh.write('metrics_access = "open"\nsmtp_password = "hunter2"\n')
    code, report, _checks = doctor(ctx.home)
    assert code == 0 and report["status"] == "warn"
    settings = [c for c in report["checks"] if c["name"] == "settings"]
    details = " ".join(c["detail"] for c in settings)
    assert "metrics_access is open" in details and "smtp_password is written" in details
    assert "hunter2" not in json.dumps(report)


def test_a_password_in_the_database_url_of_the_file_is_a_warning(home: Any, pg_url) -> None:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(pg_url)
    with_password = urlunsplit(
        parts._replace(netloc=f"postgres:s3cret-pw@{parts.hostname}:{parts.port}")
    )
    ctx = home("mindlink", with_password, clock=None, context=True)
    ctx.engine.dispose()
    code, report, _checks = doctor(ctx.home)
    assert code == 0, report
    details = " ".join(c["detail"] + c["fix"] for c in report["checks"])
    assert "database_url in troth.toml holds a password" in details
    assert "TROTH_DATABASE_URL" in details and "s3cret-pw" not in json.dumps(report)
