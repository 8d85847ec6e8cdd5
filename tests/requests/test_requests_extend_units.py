"""``extend_by`` is counted in the regime's unit (months under the GDPR, days under the
CCPA and PIPEDA, working days under NZ law); too much is refused with an error that says
the unit and the most allowed (trial 19, F12: the README's ``"extend_by": 60`` was refused
under every regime with "gdpr extends by at most 2 calendar_months, not 60"). The README
example, ``"extend_by": 2`` for a GDPR request, works over HTTP; the API's schema says the
unit."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from _http import api_key, client_for, is_problem
from cli_runner import run
from troth.engine import Troth
from troth.errors import ValidationError
from troth.policy.model import Regime
from troth.requests.deadlines import extended_due

D = date
SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


@pytest.mark.parametrize(
    ("regime", "asked", "says"),
    [
        (Regime.gdpr, 60, "counted in calendar months under gdpr: gdpr extends by at most 2"
                          " calendar months (GDPR Art. 12(3)), not 60; give 1 to 2"),
        (Regime.uk_gdpr, 3, "counted in calendar months under uk_gdpr"),
        (Regime.ccpa, 60, "counted in calendar days under ccpa: ccpa extends by at most 45"
                          " calendar days"),
        (Regime.pipeda, 60, "counted in calendar days under pipeda: pipeda extends by at most"
                            " 30 calendar days"),
    ],
)  # fmt: skip
def test_too_long_an_extension_says_the_unit_and_the_most(
    regime: Regime, asked: int, says: str
) -> None:
    with pytest.raises(ValidationError) as err:
        extended_due(regime, D(2026, 1, 5), D(2026, 1, 6), extend_by=asked)
    assert err.value.code == "extension_too_long"
    assert says in err.value.message
    assert "calendar_months" not in err.value.message  # words, not an enum value


def test_the_other_refusals_say_the_unit_too() -> None:
    with pytest.raises(ValidationError) as err:
        extended_due(Regime.nz, D(2026, 4, 1), D(2026, 4, 2))
    assert err.value.code == "extension_length_required"
    assert "counted in working days under nz" in err.value.message
    with pytest.raises(ValidationError, match="counted in calendar months under gdpr"):
        extended_due(Regime.gdpr, D(2026, 1, 5), D(2026, 1, 6), extend_by=0)
    # Within the unit's bounds it works, as before.
    assert extended_due(Regime.gdpr, D(2026, 1, 5), D(2026, 1, 6), extend_by=2) == D(2026, 4, 5)
    assert extended_due(Regime.ccpa, D(2026, 1, 5), D(2026, 1, 6), extend_by=45) == D(2026, 4, 5)


def _gdpr_request(t: Troth) -> str:
    t.collect("support_request", SUPPORT, jurisdiction="gdpr")
    return str(t.requests.open("restrict", email=SUPPORT["email"]).id)


def test_the_readme_example_works_over_http_and_sixty_is_refused_with_words(
    mindlink: Any,
) -> None:
    t = Troth(mindlink)
    rid = _gdpr_request(t)
    with client_for(mindlink) as c:
        admin = api_key(c, ["requests:admin"])
        url = f"/api/v1/requests/{rid}"
        assert c.post(f"{url}/verify-by-staff", json={"reason": "seen"}, headers=admin).is_success
        r = c.post(f"{url}/extend", json={"reason": "many systems", "extend_by": 60}, headers=admin)
        is_problem(r, 422, "extension_too_long")
        assert "calendar months" in r.json()["detail"] and "at most 2" in r.json()["detail"]
        r = c.post(f"{url}/extend", json={"reason": "many systems", "extend_by": 2}, headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        due, ext = (D.fromisoformat(body[k][:10]) for k in ("due_at", "extended_due_at"))
        assert (ext.year * 12 + ext.month) - (due.year * 12 + due.month) == 2  # two months
        schema = c.get("/openapi.json").json()["components"]["schemas"]["ExtendIn"]
        said = schema["properties"]["extend_by"]["description"]
        assert "gdpr: calendar months, at most 2" in said and "ccpa: calendar days" in said


def test_the_cli_says_the_unit(
    home: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink", clock=None)  # the real clock, as the command line's
    rid = _gdpr_request(t)
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.setenv("COLUMNS", "300")
    run(capsys, "requests", "verify", rid, "--staff", "ada", "--reason", "seen")
    code, _, err = run(capsys, "requests", "extend", rid, "--reason", "archives", "--by", "60")
    assert code == 1 and "Traceback" not in err
    assert "counted in calendar months under gdpr" in " ".join(err.split())
    code, _, err = run(capsys, "requests", "extend", rid, "--reason", "archives", "--by", "1")
    assert code == 0, err
