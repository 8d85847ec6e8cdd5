"""The jurisdiction a collection records, and that the caller is told which (trial #15
F4: a Texas member collected without one silently got the GDPR, the first listed, in
Lisbon time). A new person gets the one given, else the policy's
``default_jurisdiction``, else the first of its ``jurisdictions``; a person already known
keeps theirs. The answer says the one recorded: Python's ``CollectResult``, the CLI's
JSON and the HTTP API's. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from _http import api_key, client_for
from cli_runner import run
from troth.engine import Troth
from troth.store.tables import subjects

ANN = {"name": "Ann", "email": "ann@example.com", "message": "help"}
BO = {"name": "Bo", "email": "bo@example.com", "message": "hello"}


def _own(db_url: str) -> str | None:
    return None if db_url.startswith("sqlite") else db_url


def _gdpr_first(policy: dict[str, Any]) -> None:
    """mindlink listing gdpr first and choosing no default."""
    org = policy["organisation"]
    org["jurisdictions"] = ["gdpr", "uk_gdpr"]
    del org["default_jurisdiction"]


def stored(t: Troth, sid: str) -> str:
    with t.ctx.engine.connect() as conn:
        q = select(subjects.c.jurisdiction).where(subjects.c.id == sid)
        return str(conn.execute(q).scalar_one())


def test_a_new_person_gets_the_default_jurisdiction_and_is_told(home: Any, db_url: str) -> None:
    t = home("mindlink", _own(db_url))  # jurisdictions [uk_gdpr, gdpr], default uk_gdpr
    r = t.collect("support_request", ANN)
    assert r.jurisdiction == "uk_gdpr" == stored(t, r.subject_id)
    given = t.collect("support_request", BO, jurisdiction="gdpr")
    assert given.jurisdiction == "gdpr" == stored(t, given.subject_id)


def test_without_a_default_the_first_listed_is_recorded_and_said(home: Any, db_url: str) -> None:
    t = home("mindlink", _own(db_url), edit=_gdpr_first)
    r = t.collect("support_request", ANN)
    assert r.jurisdiction == "gdpr" == stored(t, r.subject_id)


def test_a_person_already_known_keeps_theirs_and_the_answer_says_so(home: Any, db_url: str) -> None:
    t = home("mindlink", _own(db_url))
    ann = t.collect("support_request", ANN, jurisdiction="gdpr").subject_id
    # Found again by e-mail, another jurisdiction given: theirs stays, and is what is said.
    again = t.collect("support_request", ANN, jurisdiction="uk_gdpr")
    assert (again.subject_id, again.jurisdiction) == (ann, "gdpr")
    # Named by id, none given: theirs, not the default.
    named = t.collect("support_request", {**ANN, "message": "more"}, subject_id=ann)
    assert named.jurisdiction == "gdpr"
    assert stored(t, ann) == "gdpr"
    # A batch of someone known and someone new: each their own.
    both = t.collect_many("support_request", [ANN, BO])
    assert [(r.subject_id == ann, r.jurisdiction) for r in both] == [
        (True, "gdpr"),
        (False, "uk_gdpr"),
    ]


def test_a_single_jurisdiction_is_recorded_as_before(home: Any) -> None:
    t = home("ilign")  # jurisdictions [nz], no default
    r = t.collect("support_ticket", {"email": "ann@example.nz", "message": "help"})
    assert r.jurisdiction == "nz" == stored(t, r.subject_id)


def test_cli_collect_prints_the_jurisdiction_recorded(
    home: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    t = home("mindlink", edit=_gdpr_first)
    base = ("--home", str(t.ctx.home), "collect", "support_request")
    code, out, err = run(capsys, *base, "--data", json.dumps(ANN))
    assert code == 0, err
    said = json.loads(out)
    assert said["jurisdiction"] == "gdpr" == stored(t, said["subject_id"])
    code, out, err = run(capsys, *base, "--data", json.dumps(BO), "--jurisdiction", "uk_gdpr")
    assert code == 0, err
    assert json.loads(out)["jurisdiction"] == "uk_gdpr"


def test_http_collect_answers_the_jurisdiction_recorded(home: Any, db_url: str) -> None:
    ctx = home("mindlink", _own(db_url), edit=_gdpr_first, context=True)
    with client_for(ctx) as client:
        headers = api_key(client, ["collect"])
        url = "/api/v1/collect/support_request"
        r = client.post(url, json={"data": ANN}, headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["jurisdiction"] == "gdpr"
        r = client.post(url, json={"data": BO, "jurisdiction": "uk_gdpr"}, headers=headers)
        assert r.status_code == 201 and r.json()["jurisdiction"] == "uk_gdpr", r.text
        # Known already: theirs, whatever is sent.
        r = client.post(url, json={"data": ANN, "jurisdiction": "uk_gdpr"}, headers=headers)
        assert r.status_code == 201 and r.json()["jurisdiction"] == "gdpr", r.text
        schema = client.get("/openapi.json").json()["components"]["schemas"]["CollectOut"]
        assert "jurisdiction" in schema["required"]
