"""Tables never cut an id (README, "Command line"), however narrow the terminal: an id
alone, or with a label (`staff:<id>`, `person <id>`, `tenant <id>`). `retention holds`
printed `01a251b25528…` and `staff:01a251…`, which `retention lift` could not take back
(trial 17, F7)."""

from __future__ import annotations

from typing import Any

import pytest
from rich.table import Table

from cli_runner import run
from troth.cli import make_console, show_table
from troth.engine import Troth
from troth.store.ids import new_id


def test_show_table_keeps_ids_with_labels_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    ids = [new_id() for _ in range(4)]
    table = Table("id", "on", "by", "what")
    table.add_row(ids[0], f"person {ids[1]}", f"staff:{ids[2]}", "a note " * 6)
    table.add_row(ids[3], f"tenant {ids[1]}", f"tenant_admin:a@b.example@{ids[2]}", "-")
    show_table(table, make_console())
    out = capsys.readouterr().out
    for shown in (*ids, f"staff:{ids[2]}", f"tenant_admin:a@b.example@{ids[2]}"):
        assert shown in out, out
    assert "\u2026" not in out


def test_retention_holds_prints_whole_ids_on_a_narrow_terminal(
    home: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    t: Troth = home("itechno")
    sid = t.collect(
        "account_signup", {"name": "Ann", "email": "ann@example.com", "username": "ann"}
    ).subject_id
    h = ("--home", str(t.ctx.home))
    staff = f"staff:{new_id()}@privacy_office"
    code, out, err = run(capsys, *h, "retention", "hold", "--reason", "case 7", "--subject",
                         sid, "-q", "--actor", staff)  # fmt: skip
    assert code == 0, err
    hold = out.strip()
    monkeypatch.setenv("COLUMNS", "60")
    code, out, err = run(capsys, *h, "retention", "holds")
    assert code == 0, err
    assert hold in out and sid in out and staff.split("@")[0] in out, out
    assert "\u2026" not in out
    assert run(capsys, *h, "retention", "lift", hold, "--actor", staff)[0] == 0
