"""P27 and lookups by phone: every spelling of one number finds the person (indexed in
E.164, read in the jurisdiction's region); a number that is none is refused with a clear
error, nothing stored; `troth reindex` rebuilds the indexes a database written by the old
code (digits as typed) holds, after which every spelling finds the person."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import Any

import pytest
import sqlalchemy as sa

from troth.cli import main
from troth.collection.phones import to_e164, written_forms
from troth.errors import NotFound, ValidationError
from troth.store.reindex import rebuild_identity_indexes
from troth.store.tables import identities, records, subjects

SPELLINGS = ("020 7946 0958", "+44 20 7946 0958", "(020) 7946-0958", "0044 20 7946 0958")
ORDER = {
    "name": "Ann Buyer",
    "email": "ann@example.com",
    "address": "1 High Street, Leeds",
    "product": "Mindlink Pro",
}


def _with_phone(data: dict[str, Any]) -> None:
    point = next(p for p in data["collection_points"] if p["id"] == "purchase")
    point["fields"]["phone"] = {"category": "contact", "type": "phone", "identifies": "phone"}


def _count(t: Any, table: Any) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_p27_every_spelling_finds_the_person(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url, edit=_with_phone)
    sid = t.collect("purchase", {**ORDER, "phone": SPELLINGS[0]}).subject_id
    for spelling in SPELLINGS:
        assert t.find(phone=spelling) == sid, spelling
    # The same number collected again in another spelling is the same person.
    again = t.collect("purchase", {**ORDER, "email": "ann2@example.com", "phone": SPELLINGS[2]})
    assert again.subject_id == sid and _count(t, subjects) == 1
    # A request by phone is matched to the person whatever the spelling.
    req = t.requests.open("access", phone="+44 (0)20 7946 0958", email="ann@example.com")
    assert req.subject_id == sid
    # Another number is another person, never a near match.
    with pytest.raises(NotFound):
        t.find(phone="020 7946 0959")


def test_p27_a_number_that_is_none_is_refused(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url, edit=_with_phone)
    for bad in ("+44 1234", "+999 123 456 789", "00000", "020 7946 095"):
        with pytest.raises(ValidationError) as err:
            t.collect("purchase", {**ORDER, "phone": bad})
        assert err.value.code == "invalid_phone" and "not a telephone number" in str(err.value)
        assert "country code" in str(err.value)
    with pytest.raises(ValidationError, match="not a telephone number"):  # the field's type
        t.collect("purchase", {**ORDER, "phone": "phone me"})
    with pytest.raises(ValidationError) as err:
        t.collect_many("purchase", [{**ORDER, "phone": SPELLINGS[0]}, {**ORDER, "phone": "12"}])
    assert "row 1" in str(err.value)
    assert _count(t, records) == 0 and _count(t, subjects) == 0
    for bad in ("12", "phone me", "+44 1234"):
        with pytest.raises(ValidationError) as err:
            t.find(phone=bad)
        assert err.value.code == "invalid_phone"
        with pytest.raises(ValidationError):
            t.requests.open("access", phone=bad)


def test_p27_cli_find_by_phone(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    t = home("mindlink", edit=_with_phone)
    sid = t.collect("purchase", {**ORDER, "phone": "+44 20 7946 0958"}).subject_id
    home_dir = str(t.ctx.home)
    for spelling, code_wanted in (("020 7946 0958", 0), ("02079460958", 0), ("12", 1)):
        try:
            main(["--home", home_dir, "find", "--phone", spelling])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert code == code_wanted, (spelling, out, err)
        assert (sid in out) if code == 0 else ("not a telephone number" in err)


def _old_index(t: Any, value: str) -> str:
    """The phone key the code before E.164 wrote: digits as typed (leading + kept)."""
    value = unicodedata.normalize("NFKC", value).strip()
    norm = ("+" if value.startswith("+") else "") + "".join(c for c in value if c.isdigit())
    key = t.ctx.keys._bidx["phone"]
    return hmac.new(key, norm.encode(), hashlib.sha256).hexdigest()


def test_p27_reindex_rebuilds_indexes_of_the_old_code(
    home: Any, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    t = home("mindlink", db_url, edit=_with_phone)
    sid = t.collect("purchase", {**ORDER, "phone": "(020) 7946-0958"}).subject_id
    other = t.collect(
        "purchase", {**ORDER, "email": "bo@example.com", "phone": "+1 415 555 0100"}
    ).subject_id
    # The database as the old code left it: keys of the digits as typed.
    with t.ctx.engine.begin() as conn:
        for s, typed in ((sid, "(020) 7946-0958"), (other, "+1 415 555 0100")):
            conn.execute(
                sa.update(subjects)
                .where(subjects.c.id == s)
                .values(phone_bidx=_old_index(t, typed))
            )
            conn.execute(  # as the identities' migration copied them
                sa.update(identities)
                .where(identities.c.subject_id == s, identities.c.kind == "phone")
                .values(bidx=_old_index(t, typed))
            )
    with pytest.raises(NotFound):
        t.find(phone="+44 20 7946 0958")
    report = rebuild_identity_indexes(t.ctx)
    # Typed with + and no punctuation inside the digits, the old key already was E.164.
    assert report.subjects == 2 and report.updated == 1 and report.unreadable == []
    for spelling in SPELLINGS:
        assert t.find(phone=spelling) == sid
    assert t.find(phone="+1 (415) 555-0100") == other
    assert t.find(email="bo@example.com") == other  # the other indexes are untouched
    assert rebuild_identity_indexes(t.ctx).updated == 0  # idempotent
    # The command, on the same home.
    if db_url.startswith("sqlite"):
        with pytest.raises(SystemExit) as exit_:
            main(["--home", str(t.ctx.home), "reindex", "--json"])
        assert exit_.value.code in (0, None)
        assert '"updated": 0' in capsys.readouterr().out


def test_phone_forms() -> None:
    assert to_e164("020 7946 0958", "GB") == "+442079460958"
    assert to_e164("+64 9 307 1234", "GB") == "+6493071234"
    assert to_e164("09 307 1234", "NZ") == "+6493071234"
    with pytest.raises(ValidationError, match="country code"):
        to_e164("020 7946 0958", None)
    forms = written_forms("+44 20 7946 0958", "GB")
    assert {"+442079460958", "+44 20 7946 0958", "020 7946 0958", "02079460958"} <= set(forms)
    assert written_forms("not a number", "GB") == ["not a number"]


@pytest.mark.parametrize(
    ("region", "national"), [("GB", "07700 900123"), ("IE", "01 234 567")], ids=["GB", "IE"]
)
def test_p27_collection_and_search_read_a_number_alike(
    home: Any, region: str, national: str
) -> None:
    """A number that identifies the person is read at collection as a look-up reads it:
    one phonenumbers calls possible but not valid is refused at collection as the search
    refuses it, with or without its country code, in either default region; a number with
    its country code is never told to add one. (A phone field that identifies no one, as
    a call record's destination, is kept as written: no search by phone reaches it.)"""

    def edit(data: dict[str, Any]) -> None:
        point = next(p for p in data["collection_points"] if p["id"] == "purchase")
        point["fields"]["phone"] = {"category": "contact", "type": "phone", "identifies": "phone"}
        if region == "IE":
            data["organisation"]["default_jurisdiction"] = "gdpr"
            data["locations"] = {
                **data["locations"],
                "allowed": ["IE", "GB", "EU"],
                "default": "IE",
            }

    t = home("mindlink", edit=edit)
    ok = t.collect("purchase", {**ORDER, "phone": "+44 20 7946 0958"})
    assert ok.subject_id
    for bad in ("+447700900123", "+1 555 010 0123", national):
        with pytest.raises(ValidationError) as collected:
            t.collect("purchase", {**ORDER, "email": "bo@example.com", "phone": bad})
        with pytest.raises(ValidationError) as searched:
            t.find(phone=bad)
        for err in (collected.value, searched.value):
            assert err.code == "invalid_phone" and "not a telephone number" in str(err), bad
            if bad.startswith("+"):
                assert "write it with its country code" not in str(err), str(err)
                assert f"in {region}" not in str(err)
            else:
                assert f"in {region}" in str(err)
    assert _count(t, subjects) == 1
