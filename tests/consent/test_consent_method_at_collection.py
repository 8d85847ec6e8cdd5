"""How consent given with collected data reached troth, as the ledger records it: `api`
over HTTP (and from Python by default), `staff` from `troth collect` (someone typed it in;
`--consent-method` says otherwise, e.g. web_form for a script feeding a form's data),
`import` from `troth import`. An unknown method is refused, audited, and stores nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from _http import api_key, client_for
from troth.audit.entries import list_entries
from troth.cli import main
from troth.consent.tables import consent_events
from troth.store.tables import records

SIGNUP = {"name": "Ann", "email": "ann@example.org"}


def _methods(t: Any) -> list[tuple[str, str]]:
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(
            select(consent_events.c.purpose, consent_events.c.method).order_by(consent_events.c.id)
        )
        return [(r.purpose, r.method) for r in rows]


def _count(t: Any, table: Any) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_collect_records_its_own_consent_method(
    home: Any, db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    t = home("mindlink", db_url)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(["--home", str(t.ctx.home), *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    signup = ("collect", "newsletter_signup", "--consent", "newsletter")
    code, _, err = run(*signup, "--data", json.dumps(SIGNUP))
    assert code == 0, err
    assert _methods(t) == [("newsletter", "staff")]
    bo = {**SIGNUP, "email": "bo@example.org"}
    code, _, err = run(*signup, "--data", json.dumps(bo), "--consent-method", "web_form")
    assert code == 0, err
    assert _methods(t)[-1] == ("newsletter", "web_form")

    # An unknown method: refused before anything is stored, and audited.
    stored = _count(t, records)
    cy = {**SIGNUP, "email": "cy@example.org"}
    code, _, err = run(*signup, "--data", json.dumps(cy), "--consent-method", "telepathy")
    assert code == 1 and "unknown consent method 'telepathy'" in err and "staff" in err
    assert _count(t, records) == stored and len(_methods(t)) == 2
    last = list_entries(t.ctx)[-1].entry
    assert (last.action, last.outcome.value, last.reason) == ("collect", "deny", "unknown_method")

    # `troth import --consent`: consent given elsewhere, imported.
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({**SIGNUP, "email": "di@example.org"}) + "\n")
    code, _, err = run(
        "import", str(rows), "--point", "newsletter_signup", "--consent", "newsletter"
    )
    assert code == 0, err
    assert _methods(t)[-1] == ("newsletter", "import")

    # Over HTTP, and from Python by default: api.
    with client_for(t.ctx) as c:
        r = c.post(
            "/api/v1/collect/newsletter_signup",
            json={"data": {**SIGNUP, "email": "ed@example.org"}, "consents": ["newsletter"]},
            headers=api_key(c, ["collect"]),
        )
        assert r.status_code == 201, r.text
    assert _methods(t)[-1] == ("newsletter", "api")
    t.collect("newsletter_signup", {**SIGNUP, "email": "fay@example.org"}, consents=["newsletter"])
    assert _methods(t)[-1] == ("newsletter", "api")
