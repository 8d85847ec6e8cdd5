"""A heads file deleted (or swapped for an empty one) is started again by troth's next
audited commit, whose head covers the whole log as it then is: `troth audit verify` must
still fail, saying the heads before it are missing and what to do. A new home, and a
home whose heads file is whole, verify. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from cli_runner import run
from troth.audit import verify_log

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}


def test_a_heads_file_started_again_fails_verify(home, db_url, clock, capsys):
    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    assert verify_log(t.ctx).ok
    clock.advance(timedelta(minutes=5))
    t.collect("order_form", {**ORDER, "email": "bo@example.com"})
    assert verify_log(t.ctx).ok  # a whole heads file, days or minutes later
    t.ctx.settings.resolved_heads_file.unlink()
    clock.advance(timedelta(minutes=5))
    t.collect("order_form", {**ORDER, "email": "cy@example.com"})  # a fresh heads file
    report = verify_log(t.ctx)
    assert not report.ok
    assert "begins with a head" in str(report.problem) and "Restore the heads file" in str(
        report.problem
    )
    code, _, err = run(capsys, "--home", str(t.ctx.home), "audit", "verify")
    assert code == 1 and "heads file" in err


def test_a_new_home_verifies(home, db_url, clock):
    t = home("itechno", db_url)
    clock.advance(timedelta(days=3))
    t.collect("order_form", ORDER)
    assert verify_log(t.ctx).ok
