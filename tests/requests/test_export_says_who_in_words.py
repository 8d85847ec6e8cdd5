"""The person's copy of who used their data names no member of staff (trial #19 F6): the
moderation contractor's employee who read a reported member's data was in the member's
access export as ``staff:rui@safemod``, while the privacy centre said "A member of our
staff". Every copy the person gets (the export's ``data.json``, its CSVs and
``summary.html``, the events of their requests) says who acted in the privacy centre's
words (:func:`troth.access.who.who_acted`), never by the actor's label. The customer's own
view of the vendor's looks is another matter (its admins may see who of theirs looked)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from _http import api_key, client_for, privacy_sign_in, section
from dating_samples import Dating, dating_home
from troth.gate import SYSTEM, Actor, ActorKind

# The trial's moderator, asserted as an API caller asserts its user (no account here).
RUI = Actor(ActorKind.staff, "rui@safemod", role="moderator")


@pytest.fixture
def d(home: Any, tmp_path: Path) -> Dating:
    return dating_home(home, tmp_path)


def _looked_at(d: Dating) -> list[str]:
    """Max (a member of the Pride community) read by the trial's moderator, the vendor's
    moderator and privacy office (accounts), the community's host, and a key bound to the
    community; his access request verified by a member of staff. Returns the labels and
    ids that must not reach him."""
    t = d.t
    t.use(d.max, purpose="safety", actor=RUI)
    t.use(d.max, purpose="safety", actor=d.staff["moderator"])
    t.use(d.max, purpose="matchmaking", actor=d.staff["privacy_office"])
    t.use(d.max, purpose="matchmaking", actor=d.host)
    with client_for(t.ctx) as c:
        key = api_key(c, ["use"], tenant_id=d.pride)
        r = c.get(f"/api/v1/subjects/{d.max}?purpose=matchmaking", headers=key)
        assert r.status_code == 200, r.text
    return [
        "rui@safemod",
        RUI.label,
        d.staff["moderator"].label,
        d.staff["moderator"].id,
        d.staff["privacy_office"].id,
        d.host.id,
        "host@pride.example",
        "moderator@hearthly.example",
        "pat@hearthly.example",
    ]


def _export(d: Dating) -> zipfile.ZipFile:
    t = d.t
    rid = t.requests.open("access", email="max@example.de", tenant_id=d.pride).id
    t.requests.verify_by_staff(
        rid, staff="pat@hearthly.example", reason="called back", actor=d.staff["privacy_office"]
    )
    done = t.requests.execute(rid)
    assert done.download_token
    return zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM)))


def test_the_export_names_no_member_of_staff(d: Dating) -> None:
    hidden = _looked_at(d)
    zf = _export(d)
    for name in zf.namelist():
        text = zf.read(name).decode()
        for label in hidden:
            assert label not in text, (name, label)
    doc = json.loads(zf.read("data.json"))
    uses = [a for a in doc["access_log"] if a["action"] == "use"]
    assert not any("actor" in a for a in doc["access_log"])
    assert sorted(a["who"] for a in uses) == [
        "A member of our staff",  # an actor troth has no account of: no role to name
        "Our moderator team",
        "Our privacy office team",
        "Pride Circle Berlin's staff",
        "Pride Circle Berlin's systems",
    ]
    # The events of his request say who moved it on, in the same words.
    (request,) = doc["account_history"]["requests"]
    events = request["events"]
    assert events and not any("actor" in e for e in events)
    assert {e["who"] for e in events} <= {"We", "You", "A member of our staff"}
    csv = zf.read("access_log.csv").decode()
    assert csv.splitlines()[0].split(",")[:3] == ["seq", "at", "who"]
    assert "Our moderator team" in zf.read("summary.html").decode()


def test_the_privacy_centre_and_the_export_say_the_same(d: Dating) -> None:
    _looked_at(d)
    with client_for(d.t.ctx) as c:
        privacy_sign_in(c, d.t.ctx, "max@example.de")
        page = section(c.get("/privacy/me").text, "acc-h")
    assert "Our moderator team read" in page and "rui@safemod" not in page
    assert "Pride Circle Berlin&#39;s staff read" in page
    said = {a["who"] for a in json.loads(_export(d).read("data.json"))["access_log"]}
    for words in ("Our moderator team", "Pride Circle Berlin's staff", "A member of our staff"):
        assert words in said
        assert words.replace("'", "&#39;") in page


def test_the_customers_log_of_the_vendors_looks_is_unchanged(d: Dating) -> None:
    """The community's own log of the vendor's looks at its people (a customer auditing
    its processor, under its grants) keeps the vendor's actor as before: the change is
    to what the person reads."""
    _looked_at(d)
    looks = d.t.access.grants.vendor_accesses(d.pride)
    assert d.staff["privacy_office"].label in {a.actor for a in looks}
