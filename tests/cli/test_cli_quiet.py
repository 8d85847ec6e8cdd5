"""`-q`/`--quiet` (README, "Commands"): a command that creates something prints, with it,
only the new id, so that `X=$(troth ...)` captures the id and nothing else; without it,
what it prints says the same id among the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli_runner import run
from troth.engine import Troth

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
