"""Corrections that cannot be made never leave a request stuck ``in_progress`` (trial 6): the
changes are checked when the request is opened or the office gives them (an unknown field
is 422 ``unknown_field`` at once, nothing opened); ``--change`` reads a value as its
field's declared type (a number typed into a text field stays text); a correction whose
run fails goes back to ``verified`` with the reason kept for the office; a correction in
the person's own words (the privacy centre's form) waits for the office to give the
changes. Then the office gives them, and it completes."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from cli_runner import run
from requests_helpers import buy, code_of, verified
from troth.engine import Troth
from troth.errors import ValidationError
from troth.requests.states import RequestState
from troth.requests.tables import requests
from troth.store.values import read_values

EMAIL = "ann@example.com"


def _card(data: dict[str, Any]) -> None:
    point = next(p for p in data["collection_points"] if p["id"] == "purchase")
    point["fields"]["card_number"] = {"category": "billing", "max_length": 19}
    point["fields"]["seats"] = {"category": "purchases", "type": "integer"}


@pytest.fixture
def shop(home: Any) -> tuple[Troth, str]:
    t = home("mindlink", edit=_card)
    sid = buy(t, EMAIL)
    t.collect(
        "purchase",
        {
            "name": "Ann Buyer",
            "email": EMAIL,
            "address": "1 High Street, Leeds",
            "product": "Mindlink Pro",
            "card_number": "4111111111111111",
            "seats": 3,
        },
    )
    return t, sid


def _count(t: Troth) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one())


def _held(t: Troth, sid: str, field: str) -> set[Any]:
    with t.ctx.engine.connect() as conn:
        return {v.value for v in read_values(conn, t.ctx, sid) if v.field == field}


def test_an_unknown_field_is_refused_when_the_request_is_opened(shop: tuple[Troth, str]) -> None:
    t, _ = shop
    before = _count(t)
    for changes in ({"nosuchfield": 1}, {"name": "Ann", "nosuchfield": "x"}):
        with pytest.raises(ValidationError) as info:
            t.requests.open("correct", email=EMAIL, details={"changes": changes})
        assert (info.value.code, info.value.status) == ("unknown_field", 422)
        assert info.value.details["field"] == "nosuchfield"
    with pytest.raises(ValidationError) as info:
        t.requests.open("correct", email=EMAIL, details={"changes": {"seats": "many"}})
    assert info.value.details["field"] == "seats"
    with pytest.raises(ValidationError) as info:
        t.requests.open("correct", email=EMAIL, details={"changes": ["name"]})
    assert info.value.code == "invalid_changes"
    assert _count(t) == before
    # The office giving the changes later is checked the same way.
    rid = verified(t, "correct", EMAIL, details={"text": "my name is wrong"})
    with pytest.raises(ValidationError) as info:
        t.requests.set_details(rid, changes={"nosuchfield": 1})
    assert info.value.code == "unknown_field"


def test_the_cli_refuses_an_unknown_field_at_open(
    shop: tuple[Troth, str], capsys: pytest.CaptureFixture[str]
) -> None:
    t, _ = shop
    before = _count(t)
    home = str(t.ctx.home)
    code, out, err = run(
        capsys, "--home", home, "requests", "open", "correct", "--email", EMAIL,
        "--change", "nosuchfield=1",
    )  # fmt: skip
    assert code == 1 and "unknown_field" in err + out
    assert _count(t) == before


def test_change_reads_the_declared_type(
    shop: tuple[Troth, str], capsys: pytest.CaptureFixture[str]
) -> None:
    t, sid = shop
    home = str(t.ctx.home)
    code, out, err = run(
        capsys, "--home", home, "requests", "open", "correct", "--email", EMAIL, "-q",
        "--change", "card_number=5500000000000004", "--change", "seats=5",
    )  # fmt: skip
    assert code == 0, err
    rid = out.strip()
    req = t.requests.get(rid)
    assert req.details["changes"] == {"card_number": "5500000000000004", "seats": 5}
    t.requests.verify(rid, code_of(t, rid))
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed
    assert _held(t, sid, "card_number") == {"5500000000000004"}
    assert _held(t, sid, "seats") == {5}


def test_a_failed_correction_waits_for_the_office_not_in_progress(
    shop: tuple[Troth, str],
) -> None:
    t, sid = shop
    # contact_person is declared, but Ann has none anywhere: found only when carried out.
    rid = verified(t, "correct", EMAIL, details={"changes": {"contact_person": "Bob"}})
    with pytest.raises(ValidationError) as info:
        t.requests.execute(rid)
    assert info.value.code == "unknown_field"
    req = t.requests.get(rid)
    assert req.state is RequestState.verified
    assert req.error and "contact_person" in req.error
    # The office gives the right change and runs it again: done.
    t.requests.set_details(rid, changes={"address": "2 Low Road, York"})
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed and done.error is None
    assert _held(t, sid, "address") == {"2 Low Road, York"}


def test_a_correction_in_the_persons_words_waits_for_the_changes(
    shop: tuple[Troth, str],
) -> None:
    t, sid = shop
    rid = verified(t, "correct", EMAIL, details={"text": "My address is now 2 Low Road"})
    for _ in range(2):  # asked again, it says the same, and never starts
        with pytest.raises(ValidationError) as info:
            t.requests.execute(rid)
        req = t.requests.get(rid)
        assert req.state is RequestState.verified and req.error
        assert info.value.code == "no_changes" and "--change" in info.value.message
    t.requests.set_details(rid, changes={"address": "2 Low Road, York"})
    assert t.requests.execute(rid).state is RequestState.completed
    assert _held(t, sid, "address") == {"2 Low Road, York"}


def test_a_correction_to_another_persons_email_is_refused_and_waits(
    shop: tuple[Troth, str],
) -> None:
    """Correcting Ann's e-mail to Bo's would merge two people (the H3 defect of trial 6, by
    a correction instead of a collection): refused ``identifier_in_use``, nothing changed,
    the request waits for the office; Bo's own look-up still finds Bo."""
    from troth.collection.identities import IdentifierInUse

    t, sid = shop
    bo = buy(t, "bo@example.com", name="Bo Buyer")
    rid = verified(t, "correct", EMAIL, details={"changes": {"email": "bo@example.com"}})
    with pytest.raises(IdentifierInUse) as info:
        t.requests.execute(rid)
    assert info.value.status == 409 and info.value.details["field"] == "email"
    assert bo not in info.value.message and "bo@example.com" not in info.value.message
    req = t.requests.get(rid)
    assert req.state is RequestState.verified and req.error
    assert _held(t, sid, "email") == {EMAIL}
    assert t.find(email="bo@example.com") == bo and t.find(email=EMAIL) == sid
    # Her own address again (a no-op) or a free one is corrected.
    t.requests.set_details(rid, changes={"email": "ann@new.example"})
    assert t.requests.execute(rid).state is RequestState.completed
    assert _held(t, sid, "email") == {"ann@new.example"}
