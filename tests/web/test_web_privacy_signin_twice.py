"""Signing in to the privacy centre twice (trial 10, item 13: "only one code mail, and a
code typed on the second page was refused"). Investigated: the second sign-in within
``signin_code_interval_seconds`` is refused on the sign-in form itself (429, how long to
wait), which shows no code form that could never succeed; the code already sent still
works on the page that asked for it. Past the wait a second code is sent and works on its
own page (the newest code on the newest page). The trial's script typed a code on the 429
page, which has no challenge."""

from __future__ import annotations

import re
from typing import Any

from _http import challenge_from, client_for, csrf_from
from outbox_helpers import bodies
from troth.engine import Troth

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


def _ask(c: Any) -> Any:
    page = c.get("/privacy/signin").text
    return c.post("/privacy/signin", data={"email": ADA["email"], "csrf_token": csrf_from(page)})


def _codes(ctx: Any) -> list[str]:
    texts = bodies(ctx, to=ADA["email"])
    return [re.search(r"\b(\d{6})\b", b).group(1) for b in texts]  # type: ignore[union-attr]


def _type(c: Any, page: str, code: str) -> Any:
    form = {"challenge": challenge_from(page), "code": code, "csrf_token": csrf_from(page)}
    return c.post("/privacy/code", data=form, follow_redirects=False)


def test_a_second_sign_in_too_soon_shows_the_wait_and_no_code_form(lite: Any) -> None:
    Troth(lite).collect("support_request", ADA)
    with client_for(lite) as c:
        first = _ask(c)
        again = _ask(c)
        assert again.status_code == 429 and "wait" in again.text and again.headers["retry-after"]
        assert 'name="challenge"' not in again.text and 'name="code"' not in again.text
        assert len(_codes(lite)) == 1  # one mail: the code already sent
        assert _type(c, first.text, _codes(lite)[0]).headers["location"] == "/privacy/me"


def test_past_the_wait_the_newest_code_works_on_the_newest_page(lite: Any) -> None:
    Troth(lite).collect("support_request", ADA)
    with client_for(lite) as c:
        _ask(c)
        lite.clock.advance(seconds=lite.settings.signin_code_interval_seconds)
        second = _ask(c)
        assert second.status_code == 200 and 'name="challenge"' in second.text
        old, new = _codes(lite)
        assert _type(c, second.text, old).status_code == 401  # the first page's code
        assert _type(c, second.text, new).headers["location"] == "/privacy/me"
