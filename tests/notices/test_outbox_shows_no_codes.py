"""One-time codes (a privacy-centre sign-in code, a request's confirmation code) are the
recipient's alone: never in a mail's subject line (shown in the outbox listing, previews,
notification banners), and `troth outbox list` (table or --json) shows no body nor
headers. Before, the sign-in mail's subject carried the code, and `outbox list --json`
printed every body (trial 10, item 12)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from _http import client_for, privacy_sign_in
from cli_runner import run
from outbox_helpers import outbox_mail
from troth.engine import Troth
from troth.notices.outbox import list_outbox

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


def _codes(t: Troth) -> list[str]:
    """The one-time codes in the mail troth queued for Ada (read from the outbox itself)."""
    bodies = [m["body_text"] for m in outbox_mail(t, to=ADA["email"], newest_first=True)]
    return [c for b in bodies for c in re.findall(r"\b(\d{6})\b", b)]


@pytest.fixture
def coded(lite: Any) -> Troth:
    """A home whose outbox holds a sign-in code and a request's confirmation code."""
    t = Troth(lite)
    t.collect("support_request", ADA)
    with client_for(lite) as c:
        privacy_sign_in(c, lite, ADA["email"])
    t.requests.open("access", email=ADA["email"], channel="staff")
    assert len(_codes(t)) == 2
    return t


def test_no_subject_line_carries_a_one_time_code(coded: Troth) -> None:
    mails = [m for m in list_outbox(coded.ctx) if m["to_addr"] == ADA["email"]]
    assert {"privacy centre", "confirmation code"} <= {
        w for m in mails for w in ("privacy centre", "confirmation code") if w in m["subject"]
    }
    for m in mails:
        assert not re.search(r"\d{4,}", m["subject"]), m["subject"]
        for code in _codes(coded):
            assert code not in m["subject"]


@pytest.mark.parametrize("as_json", [False, True])
def test_the_outbox_listing_shows_no_code_nor_body(
    coded: Troth, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    args = ["--home", str(coded.ctx.home), "outbox", "list", *(["--json"] if as_json else [])]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "queued" in out  # the listing is there
    for secret in _codes(coded):
        assert secret not in out + err
    assert "body" not in out and "headers" not in out
    assert "It works once" not in out and "enter this code" not in out


def test_the_readme_names_the_listings_keys(
    coded: Troth, capsys: pytest.CaptureFixture[str]
) -> None:
    """README's outbox paragraph names each key `outbox list --json` prints, and no other
    (trial #16 D2: it said `to` where the JSON says `to_addr`)."""
    import json

    from repo_paths import README

    code, out, err = run(capsys, "--home", str(coded.ctx.home), "outbox", "list", "--json")
    assert code == 0, err
    keys = {k for row in json.loads(out) for k in row}
    text = README.read_text()
    said = text[text.index("The listing shows each message's envelope") :]
    said = said[: said.index("never its body")]
    named = set(re.findall(r"`(\w+)`", said))
    assert keys == named, (sorted(keys - named), sorted(named - keys))
