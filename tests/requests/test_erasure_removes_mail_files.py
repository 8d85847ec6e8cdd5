"""Trial #14, F1: without an SMTP server troth delivers each message as ``HOME/mail/<id>.eml``
(the README's default). An erasure scrubbed the person's sent mail in the outbox but left
those files, world-readable (0644), with their address, their request letters and codes
and their unsubscribe link. Now the files are 0600 in a 0700 folder, an erasure (one by
one, or in bulk) removes the person's files once it commits (nothing when it rolls back),
and scrubbing old mail removes the files of what it scrubs, and those an older troth left.
SQLite and PostgreSQL."""

from __future__ import annotations

import stat
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from outbox_helpers import outbox_mail
from requests_helpers import mails_for, verified
from troth.audit.log import transaction
from troth.gate import Actor, ActorKind
from troth.notices.delivery import deliver_due
from troth.notices.lists import send_to_list
from troth.notices.outbox import MailStatus, outbox
from troth.notices.purge import SCRUBBED, scrub_for_subjects, scrub_settled_mail

APP = Actor(ActorKind.application, "newsletter", scopes=frozenset({"use"}))
TEMPLATE = "Subject: Winter offers\n\nWinter widgets are in.\n"
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _person(t: Any, name: str, email: str) -> str:
    sid = t.collect("order_form", {**ORDER, "name": name, "email": email}).subject_id
    t.collect("newsletter_signup", {"name": name, "email": email}, consents=["product_news"])
    return str(sid)


def _sent(t: Any, sid: str) -> list[Any]:
    """The person's delivered messages: id, address, words and headers."""
    return outbox_mail(t, subject_id=sid, where=outbox.c.status == MailStatus.sent.value)


def _secrets(t: Any, sid: str, email: str) -> list[str]:
    """What of the person the files held: the address, each unsubscribe link, each code
    (read from the files themselves: the outbox keeps no one-time code once its message
    has gone, troth.notices.sealed)."""
    found = [email]
    for m in _sent(t, sid):
        path = _folder(t) / f"{m.id}.eml"
        sent = message_from_bytes(path.read_bytes(), policy=default)
        text = sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        found += [v for k, v in sent.items() if k == "List-Unsubscribe"]
        found += [w for w in text.split() if w.isdigit() and len(w) >= 6]
    assert len(found) >= 3, found  # the address, an unsubscribe link, a one-time code
    return found


def _folder(t: Any) -> Path:
    return Path(t.ctx.settings.resolved_mail_dir)


def _grep(t: Any, needles: list[str]) -> list[str]:
    """Each file of the whole mail folder (any name) that holds one of ``needles``."""
    hits = []
    for path in sorted(_folder(t).rglob("*")):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            hits += [f"{path.name}: {n}" for n in needles if n in text]
    return hits


def _mailed(t: Any) -> tuple[str, str]:
    """Ann and Bo, each with a newsletter (an unsubscribe link) and an access request's
    letters (a one-time code), all delivered as files."""
    ann = _person(t, "Ann Lee", "ann@example.com")
    bo = _person(t, "Bo Berg", "bo@example.com")
    assert send_to_list(t, "newsletter", TEMPLATE, actor=APP).queued == 2
    t.requests.execute(verified(t, "access", "ann@example.com"))
    t.requests.execute(verified(t, "access", "bo@example.com"))
    deliver_due(t.ctx, limit=100)
    return ann, bo


def _files(t: Any) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in _folder(t).glob("*.eml")}


def test_mail_files_are_the_recipients_alone(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    _mailed(t)
    files = list(_folder(t).glob("*.eml"))
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(_folder(t).stat().st_mode) == 0o700


def test_an_erasure_removes_the_persons_mail_files(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    ann, bo = _mailed(t)
    secrets = _secrets(t, ann, "ann@example.com")
    assert _grep(t, secrets)  # the files hold them before
    bos = {f"{m.id}.eml" for m in _sent(t, bo)}
    before = _files(t)
    assert bos <= set(before)
    rid = verified(t, "delete", "ann@example.com")
    report = t.requests.execute(rid).result
    troth_part = next(p for p in report["systems"] if p["system"] == "troth")
    assert troth_part["mail_scrubbed"] >= 3
    assert _grep(t, secrets) == []
    after = _files(t)
    assert {m: after[m] for m in bos} == {m: before[m] for m in bos}  # Bo's untouched
    # The erasure request's own letters, still to go, go to her (README): only they.
    deliver_due(t.ctx, limit=100)
    own = {f"{m['id']}.eml" for m in mails_for(t, rid)}
    assert own and {h.split(":")[0] for h in _grep(t, secrets)} <= own
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in _folder(t).glob("*.eml"))


def test_a_bulk_erasure_removes_each_persons_mail_files(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    ann, bo = _mailed(t)
    cy = _person(t, "Cy Dunn", "cy@example.com")
    assert send_to_list(t, "newsletter", "Subject: Spring\n\nSpring.\n", actor=APP).queued == 3
    deliver_due(t.ctx, limit=100)
    secrets = _secrets(t, ann, "ann@example.com") + _secrets(t, bo, "bo@example.com")
    cys = {f"{m.id}.eml" for m in _sent(t, cy)}
    before = _files(t)
    rids = [verified(t, "delete", e) for e in ("ann@example.com", "bo@example.com")]
    report = t.requests.execute_many(rids)
    assert sorted(report.completed) == sorted(rids)
    assert _grep(t, secrets) == []
    after = _files(t)
    assert cys and {m: after[m] for m in cys} == {m: before[m] for m in cys}


def test_an_erasure_that_rolls_back_keeps_the_files(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    ann, _bo = _mailed(t)
    before = _files(t)
    with pytest.raises(RuntimeError), transaction(t.ctx) as conn:
        assert scrub_for_subjects(conn, t.ctx, [ann])[ann] >= 3
        raise RuntimeError("a later step of the erasure failed")
    assert _files(t) == before  # rolled back: the rows keep the words, the files too
    assert all(m.to_addr == "ann@example.com" for m in _sent(t, ann))
    with transaction(t.ctx) as conn:
        scrub_for_subjects(conn, t.ctx, [ann])
    assert _grep(t, ["ann@example.com"]) == []


def test_scrubbing_old_mail_removes_its_files_and_those_left_before(
    home: Any, db_url: str, clock: Any
) -> None:
    t = home("itechno", db_url)
    ann, _bo = _mailed(t)
    # What a troth before this fix left: Ann's rows scrubbed by her erasure, her files
    # kept, and every file readable by anyone on the machine.
    ids = [m.id for m in _sent(t, ann)]
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.update(outbox).where(outbox.c.id.in_(ids)).values(to_addr=SCRUBBED, body_text="")
        )
    for path in _folder(t).glob("*.eml"):
        path.chmod(0o644)
    assert scrub_settled_mail(t.ctx) == 0  # nothing is old yet
    assert _grep(t, ["ann@example.com"]) == []  # but her files go
    assert _grep(t, ["bo@example.com"])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in _folder(t).glob("*.eml"))
    clock.advance(days=t.ctx.settings.outbox_keep_days + 1)
    assert scrub_settled_mail(t.ctx) >= 3
    assert list(_folder(t).glob("*.eml")) == []
    assert _grep(t, ["bo@example.com"]) == []
