"""A parent keeps acting for a child who has turned 18 (trial 10): a request made on
someone's behalf for a person whose stored date of birth says they are an adult now,
counted on the date where the person is, is flagged (never refused: an agent may be an
attorney) on the record before verification, in the CLI, and in the staff verification's
audit entry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from troth.audit.entries import list_entries
from troth.requests.states import RequestState

MUM = "mum@example.ie"
OLIVER = {
    "name": "Oliver Smith",
    "email": "oliver@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
    "date_of_birth": "2008-12-08",
}
SAYS = "the person came of age on 2026-12-08: an authority a parent held has ended"


def _school(p: dict[str, Any]) -> None:
    p["minors"]["minimum_age"] = 16  # teenagers may be customers here
    p["organisation"]["time_zone"] = "America/Los_Angeles"  # where the people are
    # The date of birth is kept (an age-restricted product), not only checked.
    orders = next(x for x in p["purposes"] if x["id"] == "order_fulfilment")
    orders["categories"].append("demographic")


@pytest.fixture
def t(home: Any, db_url: str, clock: Any) -> Any:
    t = home("itechno", db_url, edit=_school)
    t.collect("order_form", OLIVER)
    return t


def _for_mum(t: Any, email: str = OLIVER["email"]) -> Any:
    return t.requests.open("delete", email=email, on_behalf_of="Jo Smith, mother", agent_email=MUM)


def _verified_entry(t: Any, rid: str) -> Any:
    found = [
        e.entry for e in list_entries(t.ctx, limit=500) if e.entry.action == "request.verified"
    ]
    return next(e for e in found if e.details["request_id"] == rid)


def test_a_parent_acting_for_an_adult_is_flagged_before_verification_and_audited(
    t: Any, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli_runner import run

    # 8 December, 09:00 UTC: 01:00 in Los Angeles, Oliver's 18th birthday there.
    clock.set(datetime(2026, 12, 8, 9, 0, tzinfo=UTC))
    req = _for_mum(t)
    assert req.state is RequestState.awaiting_approval
    assert str(req.adult_since) == "2026-12-08" and SAYS in (req.agent_warning or "")
    assert "check the person's own authorisation" in (req.agent_warning or "")
    assert req.to_dict()["adult_since"] == "2026-12-08"
    # Not refused: staff verify (an attorney may act for an adult); the entry records it.
    done = t.requests.verify_by_staff(req.id, staff="olive", reason="lasting power of attorney")
    assert done.state is RequestState.verified
    entry = _verified_entry(t, req.id)
    assert (entry.details["checked"], entry.details["adult_since"]) == (
        "agent_authority",
        "2026-12-08",
    )
    # The CLI (on the real clock) shows it before verification: a grown-up long since.
    t.collect("order_form", {**OLIVER, "email": "amy@example.com", "date_of_birth": "1990-01-15"})
    amy = _for_mum(t, "amy@example.com")
    code, out, _err = run(capsys, "--home", str(t.ctx.home), "requests", "show", amy.id)
    assert code == 0 and "check: the person came of age on 2008-01-15" in " ".join(out.split())


def test_the_day_is_the_persons_own_and_a_minor_or_their_own_request_is_not_flagged(
    t: Any, clock: Any
) -> None:
    # 8 December, 05:00 UTC: still 7 December in Los Angeles; Oliver is 17 there.
    clock.set(datetime(2026, 12, 8, 5, 0, tzinfo=UTC))
    req = _for_mum(t)
    assert req.adult_since is None and req.agent_warning is None
    t.requests.verify_by_staff(req.id, staff="olive", reason="birth certificate seen")
    assert "adult_since" not in _verified_entry(t, req.id).details
    # His own request, once an adult: nobody acts for him, nothing to flag.
    clock.set(datetime(2026, 12, 9, 9, 0, tzinfo=UTC))
    own = t.requests.open("access", email=OLIVER["email"])
    assert own.adult_since is None and own.agent_warning is None
    assert t.requests.get(req.id).adult_since is not None  # shown again now he is 18
