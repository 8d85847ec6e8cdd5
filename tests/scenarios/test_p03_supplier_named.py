"""P03: third-party data records who supplied it, by name. Without a named supplier it is
refused (Python, bulk, CLI, HTTP alike), audited, and nothing is stored; the policy's
description of its sources ("named per import") is never recorded as the source."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from troth.audit.entries import list_entries
from troth.cli import main
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import ValidationError
from troth.gate import Actor, ActorKind
from troth.store.tables import records, subjects

MARKETING = Actor(ActorKind.staff, "mo", role="marketing")
PROSPECT = {"name": "Bo", "email": "bo@example.com", "organisation": "Acme"}


def _count(ctx: Any, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _suppliers(ctx: Any) -> set[str | None]:
    with ctx.engine.connect() as conn:
        return set(conn.execute(sa.select(records.c.supplier).distinct()).scalars())


def test_p03_third_party_data_needs_a_named_supplier(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    for missing in (None, "", "   \t"):
        with pytest.raises(ValidationError) as err:
            t.collect("third_party_supply", PROSPECT, supplier=missing)
        assert err.value.code == "supplier_required"
        assert "name the third party" in str(err.value) and "named per import" in str(err.value)
    # Bulk: the whole batch is refused, not stored up to the problem.
    with pytest.raises(ValidationError) as err:
        t.collect_many("third_party_supply", [PROSPECT, {**PROSPECT, "email": "cy@example.com"}])
    assert err.value.code == "supplier_required"
    with pytest.raises(ValidationError) as err:
        t.collect("third_party_supply", PROSPECT, supplier="x" * 201)
    assert err.value.code == "supplier_too_long"
    assert _count(t.ctx, records) == 0 and _count(t.ctx, subjects) == 0
    denied = [e for e in list_entries(t.ctx, limit=100) if e.entry.reason == "supplier_required"]
    assert len(denied) == 4 and all(e.entry.outcome == "deny" for e in denied)
    # Named: stored with that name, spaces tidied; never the policy's placeholder.
    r = t.collect("third_party_supply", PROSPECT, supplier="  Acme   Lists Ltd ")
    view = t.use(r.subject_id, purpose="prospecting", actor=MARKETING)
    assert {v.supplier for v in view.values} == {"Acme Lists Ltd"}
    t.collect_many(
        "third_party_supply", [{**PROSPECT, "email": "dee@example.com"}], supplier="Data Co"
    )
    assert _suppliers(t.ctx) == {"Acme Lists Ltd", "Data Co"}


def test_p03_supplier_for_data_the_person_gave_is_refused(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    with pytest.raises(ValidationError) as err:
        t.collect(
            "contact_form",
            {"email": "ann@example.com", "message": "hi"},
            supplier="Acme Lists Ltd",
        )
    assert err.value.code == "supplier_not_third_party"
    assert _count(t.ctx, records) == 0
    t.collect("contact_form", {"email": "ann@example.com", "message": "hi"})
    assert _suppliers(t.ctx) == {None}


def test_p03_cli_import_without_supplier(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    t = home("mindlink")
    home_dir = str(t.ctx.home)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(["--home", home_dir, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    data = '{"name": "Bo", "email": "bo@example.com"}'
    code, _, err = run("collect", "third_party_supply", "--data", data)
    assert code == 1 and "supplier_required" in err and "--supplier" in err
    assert _count(t.ctx, records) == 0
    code, out, _ = run("collect", "third_party_supply", "--data", data, "--supplier", "Acme")
    assert code == 0 and "subject_id" in out
    assert _suppliers(t.ctx) == {"Acme"}


def test_p03_http_collect_without_supplier(home: Any, db_url: str) -> None:
    ctx = home("mindlink", db_url, clock=ManualClock(), context=True)
    with client_for(ctx) as c:
        key = api_key(c, ["collect"])
        for body in ({"data": PROSPECT}, {"data": PROSPECT, "supplier": "  "}):
            problem = is_problem(
                c.post("/api/v1/collect/third_party_supply", json=body, headers=key),
                422,
                "supplier_required",
            )
            assert "supplier" in problem["detail"]
        assert _count(ctx, records) == 0 and _count(ctx, subjects) == 0
        ok = c.post(
            "/api/v1/collect/third_party_supply",
            json={"data": PROSPECT, "supplier": "Acme Lists Ltd"},
            headers=key,
        )
        assert ok.status_code == 201, ok.text
    assert _suppliers(ctx) == {"Acme Lists Ltd"}
    sid = ok.json()["subject_id"]
    view = Troth(ctx).use(sid, purpose="prospecting", actor=MARKETING)
    assert {v.supplier for v in view.values} == {"Acme Lists Ltd"}
    ctx.engine.dispose()
