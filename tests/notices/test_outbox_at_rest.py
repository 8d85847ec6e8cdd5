"""Trial #19, F1: a privacy-centre sign-in code, a request's confirmation code and a
download link lay in plain text in ``outbox.body_text`` for up to 30 days, so anyone who
could read the database signed in as a member; and a queued message re-addressed in the
database (``UPDATE outbox SET to_addr=...``) went out and passed `troth audit verify`.

Now what a message says is stored encrypted under a key from the key file, each row is
sealed, delivery decrypts just before sending and refuses a row changed outside troth
(audited, never sent), `troth audit verify` names it, a one-time code or link is not kept
once sent, a key rotation leaves queued mail deliverable, and another home's key file
sends nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cli_runner import run
from outbox_helpers import outbox_mail
from requests_helpers import code_of
from troth.access import signin
from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.notices.delivery import deliver_due
from troth.notices.outbox import MailStatus, list_outbox, outbox
from troth.notices.purge import scrub_settled_mail
from troth.notices.sealed import SENT_NOTE
from troth.requests.holdings import subject_holdings

ORDER = {
    "name": "Cora Diaz",
    "email": "cora@example.com",
    "address": "1 Mission St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}
BOB = {**ORDER, "name": "Bob Stone", "email": "bob@example.com"}
EVIL = "attacker@evil.example"


def _sql(t: Any, stmt: Any) -> None:
    """What a database writer without the key file does."""
    with t.ctx.engine.begin() as conn:
        conn.execute(stmt)


def _stored(t: Any) -> list[Any]:
    """Every outbox row as the database holds it (what a read-only reader sees)."""
    with t.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.id)))


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


def _files(t: Any) -> dict[int, str]:
    folder = Path(t.ctx.settings.resolved_mail_dir)
    if not folder.is_dir():
        return {}
    return {int(p.stem): p.read_text() for p in folder.glob("*.eml")}


def _secrets(t: Any) -> dict[str, str]:
    """Cora's sign-in code, a request's confirmation code, a download link and an
    invitation link, each mailed (queued) by troth."""
    t.collect("order_form", ORDER)
    signin.start_signin(t.ctx, ORDER["email"])
    (signin_mail,) = outbox_mail(t, key_like="privacy-signin:%")
    found = re.search(r"\b(\d{6})\b", signin_mail.body_text)
    assert found
    req = t.requests.open("access", email=ORDER["email"])
    confirm = code_of(t, req.id)
    t.requests.verify(req.id, confirm)
    done = t.requests.execute(req.id)
    assert done.download_token
    shop = t.access.tenants.create_tenant("Cora's Shop", "office@cora.example")
    invitation, _ = t.access.tenants.invite(shop, "boss@cora.example", role="admin")
    return {
        "signin": found.group(1),
        "confirm": confirm,
        "download": done.download_token,
        "invitation": invitation,
    }


def test_a_database_reader_finds_no_code_nor_link_in_the_outbox(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    secrets = _secrets(t)
    mails = outbox_mail(t)  # troth itself reads them, decrypted: they are all there
    said = "\n".join(m.body_text for m in mails)
    assert all(s in said for s in secrets.values())
    rows = _stored(t)
    assert len(rows) == len(mails) >= 5
    for row in rows:
        text = "\n".join(_as_text(v) for v in row)
        for what, secret in secrets.items():
            assert secret not in text, (what, row.id)
        assert "/privacy/download#" not in text and "/invitations#" not in text
        assert row.subject == "" and row.body_text == "" and row.body_html is None
        assert row.headers == {} and row.content and row.seal
    # The trial's own query finds nothing to sign in with.
    with t.ctx.engine.connect() as conn:
        found = conn.execute(
            sa.select(outbox.c.body_text).where(
                outbox.c.to_addr == ORDER["email"], outbox.c.subject.like("%sign-in code%")
            )
        ).all()
    assert not [b for (b,) in found if re.search(r"\d{6}", b)]
    # Nor does the database file (SQLite): the links are nowhere in it.
    db_file = t.ctx.settings.resolved_database_url.removeprefix("sqlite:///")
    if t.ctx.engine.dialect.name == "sqlite":
        raw = b"".join(p.read_bytes() for p in Path(db_file).parent.glob(Path(db_file).name + "*"))
        for what in ("download", "invitation"):
            assert secrets[what].encode() not in raw, what


def test_a_sent_code_or_link_is_not_kept_once_its_mail_has_gone(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    secrets = _secrets(t)
    report = deliver_due(t.ctx)
    assert report.sent == len(outbox_mail(t)) and not report.failed
    files = "\n".join(_files(t).values())
    assert all(s in files for s in secrets.values())  # each went out, in its mail
    sent = outbox_mail(t)
    said = "\n".join(f"{m.subject}\n{m.body_text}\n{m.body_html}\n{m.headers}" for m in sent)
    for what, secret in secrets.items():
        assert secret not in said, what
    signin_mail = next(m for m in sent if m.idempotency_key.startswith("privacy-signin:"))
    assert signin_mail.body_text == SENT_NOTE and "sign-in code" in signin_mail.subject
    # The letters without a secret keep their words (the person's export shows them).
    ack = next(m for m in sent if m.idempotency_key.endswith(":ack"))
    assert "We received your request" in ack.body_text
    sid = t.find(email=ORDER["email"])
    exported = subject_holdings(t.ctx, sid)["communications"]["messages"]
    assert any("We received your request" in m["body_text"] for m in exported)
    assert not any(s in str(exported) for s in secrets.values())
    assert verify_log(t.ctx).ok  # troth's own writes keep every row sealed


TAMPERING = {
    "re-addressed": lambda row, other: {"to_addr": EVIL},
    "another person's": lambda row, other: {"subject_id": other.subject_id},
    "words swapped": lambda row, other: {"content": other.content},
    "headers added": lambda row, other: {"headers": {"Bcc": EVIL}},
    "kind changed": lambda row, other: {"kind": "notice"},
    "seal cleared": lambda row, other: {"seal": None},
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_a_message_changed_in_the_database_is_not_sent_and_is_named(
    home: Any, db_url: str, capsys: Any, how: str
) -> None:
    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    t.collect("order_form", BOB)
    signin.start_signin(t.ctx, ORDER["email"])
    signin.start_signin(t.ctx, BOB["email"])
    cora_row, bob_row = _stored(t)
    _sql(
        t,
        sa.update(outbox)
        .where(outbox.c.id == cora_row.id)
        .values(TAMPERING[how](cora_row, bob_row)),
    )
    # Troth's listing shows the row, nothing of what it says.
    listed = {r["id"]: r for r in list_outbox(t.ctx)}
    assert listed[cora_row.id]["tampered"] and listed[cora_row.id]["subject"] is None
    report = deliver_due(t.ctx)
    assert (report.sent, report.failed) == (1, 1)
    files = _files(t)
    assert cora_row.id not in files and bob_row.id in files
    assert EVIL not in "".join(files.values())
    with t.ctx.engine.connect() as conn:
        status, error = conn.execute(
            sa.select(outbox.c.status, outbox.c.last_error).where(outbox.c.id == cora_row.id)
        ).one()
    assert status == MailStatus.failed.value and "does not match its seal" in error
    (refusal,) = [e.entry for e in list_entries(t.ctx, action="mail.refused")]
    assert refusal.reason == "record_tampered" and refusal.details["outbox_id"] == cora_row.id
    assert refusal.subject_id is None  # the row's person is not trusted
    assert deliver_due(t.ctx).claimed == 0  # never tried again
    check = verify_log(t.ctx)
    assert not check.ok and check.bad_mail == [f"outbox:{cora_row.id}"]
    assert f"outbox:{cora_row.id}" in str(check.problem)
    code, out, _ = run(capsys, "--home", str(t.ctx.home), "audit", "verify", "--json")
    assert code == 1 and f"outbox:{cora_row.id}" in out


def test_a_message_moved_to_another_person_shows_nothing_in_their_export(
    home: Any, db_url: str
) -> None:
    t = home("itechno", db_url)
    cora = t.collect("order_form", ORDER).subject_id
    bob = t.collect("order_form", BOB).subject_id
    t.requests.open("access", email=BOB["email"])
    bobs = [r for r in _stored(t) if r.subject_id == bob]
    assert bobs
    _sql(t, sa.update(outbox).where(outbox.c.subject_id == bob).values(subject_id=cora))
    messages = subject_holdings(t.ctx, cora)["communications"]["messages"]
    assert messages == [{"id": r.id, "tampered": True} for r in bobs]


def test_an_inserted_message_is_never_sent(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    signin.start_signin(t.ctx, ORDER["email"])
    (row,) = _stored(t)
    forged = {k: v for k, v in row._mapping.items() if k != "id"}
    forged.update(idempotency_key="forged-1", to_addr=EVIL)
    _sql(t, sa.insert(outbox).values(forged))
    assert deliver_due(t.ctx).sent == 1
    assert EVIL not in "".join(_files(t).values())
    assert len(verify_log(t.ctx).bad_mail) == 1


def test_queued_mail_is_delivered_after_a_key_rotation(home: Any, db_url: str, capsys: Any) -> None:
    """`troth keys rotate --reencrypt --retire-old` retires the key-encryption keys; the
    outbox's key derives from the token key, which no rotation changes."""
    import troth

    t = home("itechno", db_url)
    secrets = _secrets(t)
    before = t.ctx.keys.kek_versions
    t.close()
    home_dir = str(t.ctx.home)
    code, _out, err = run(
        capsys, "--home", home_dir, "keys", "rotate", "--reencrypt", "--retire-old"
    )
    assert code == 0, err
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        assert not set(before) & set(again.ctx.keys.kek_versions)  # the old ones are gone
        report = deliver_due(again.ctx)
        assert report.sent == len(outbox_mail(again)) and not report.failed
        files = "\n".join(_files(again).values())
        assert all(s in files for s in secrets.values())
        assert verify_log(again.ctx).ok
    finally:
        again.close()


def test_another_homes_key_file_sends_nothing(home: Any, db_url: str) -> None:
    import shutil

    from troth.errors import IntegrityError
    from troth.home import open_context

    t = home("itechno", db_url)
    other = home("itechno", name="other")
    secrets = _secrets(t)
    ours = t.ctx.settings.resolved_key_file
    shutil.copyfile(ours, ours.with_name("ours.json"))
    shutil.copyfile(other.ctx.settings.resolved_key_file, ours)
    ctx = open_context(t.ctx.home, clock=t.ctx.clock)
    try:
        listed = list_outbox(ctx)
        assert listed and all(r["tampered"] and r["subject"] is None for r in listed)
        # Every row fails its seal; recording that is refused too (the log's state is
        # not sealed with this key): nothing is sent, nothing is written.
        with pytest.raises(IntegrityError, match="not sealed with this home's key"):
            deliver_due(ctx)
    finally:
        ctx.engine.dispose()
    assert _files(t) == {}
    with t.ctx.engine.connect() as conn:
        states = set(conn.execute(sa.select(outbox.c.status)).scalars())
    assert MailStatus.sent.value not in states
    # The home's own key file back: the mail goes once its claim's lease has ended.
    shutil.copyfile(ours.with_name("ours.json"), ours)
    t.ctx.clock.advance(minutes=11)
    assert deliver_due(t.ctx).sent == len(outbox_mail(t))
    assert all(s in "".join(_files(t).values()) for s in secrets.values())


def test_a_missing_key_file_sends_nothing(home: Any, db_url: str, capsys: Any) -> None:
    t = home("itechno", db_url)
    _secrets(t)
    key_file = t.ctx.settings.resolved_key_file
    key_file.rename(key_file.with_name("elsewhere.json"))
    code, _out, err = run(capsys, "--home", str(t.ctx.home), "outbox", "deliver")
    assert code == 1 and "not found" in err
    assert _files(t) == {}


def test_scrubbed_mail_stays_sealed(home: Any, db_url: str, clock: Any) -> None:
    t = home("itechno", db_url)
    _secrets(t)
    deliver_due(t.ctx)
    clock.advance(days=t.ctx.settings.outbox_keep_days + 1)
    assert scrub_settled_mail(t.ctx) == len(outbox_mail(t))
    assert all(r.content is None for r in _stored(t))
    assert verify_log(t.ctx).ok


def test_a_home_from_before_is_encrypted_and_sealed_once_by_db_migrate(
    home: Any, db_url: str, capsys: Any, monkeypatch: Any
) -> None:
    """Mail a troth before schema 0021 queued (plain text, unsealed) is encrypted and
    sealed by `troth db migrate`, once, and still delivered; a seal cleared afterwards is
    never sealed over."""
    from alembic import command

    import troth
    import troth.policy.versions as versions
    from troth.migrations import alembic_config

    monkeypatch.setattr(versions, "OUTBOX_SEALED_FLAG", "not_a_flag")  # before outbox seals
    t = home("itechno", db_url, fresh=True)
    now = t.ctx.clock.now()
    t.close()
    url = t.ctx.settings.resolved_database_url
    command.downgrade(alembic_config(url), "0019_export_makers")
    old = {
        "to_addr": ORDER["email"],
        "kind": "transactional",
        "headers": {},
        "subject": "Your privacy centre sign-in code",
        "body_text": "Your code is 731904.",
        "message_id": "<old@example.com>",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # what that troth wrote: no content, no seal
        conn.execute(
            sa.insert(outbox),
            [
                {**old, "idempotency_key": "old-queued", "status": "queued"},
                {**old, "idempotency_key": "old-sent", "status": "sent", "body_text": "At 402113."},
                {
                    **old,
                    "idempotency_key": "old-scrubbed",
                    "status": "sent",
                    "to_addr": "[scrubbed]",
                    "subject": "[scrubbed]",
                    "body_text": "",
                },
            ],
        )
    engine.dispose()
    code, _out, err = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0, err
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        (sealed,) = [e.entry.details for e in list_entries(again.ctx, action="outbox.sealed")]
        assert sealed == {"encrypted": 2, "sealed": 3}
        raw = "\n".join(_as_text(v) for r in _stored(again) for v in r)
        assert "731904" not in raw and "402113" not in raw
        assert verify_log(again.ctx).ok
        assert deliver_due(again.ctx).sent == 1
        assert "731904" in "".join(_files(again).values())
        queued = next(r for r in _stored(again) if r.idempotency_key == "old-queued")
        _sql(again, sa.update(outbox).where(outbox.c.id == queued.id).values(seal=None))
    finally:
        again.close()
    code, _out, err = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0, err
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        assert verify_log(again.ctx).bad_mail == [f"outbox:{queued.id}"]
        assert len(list_entries(again.ctx, action="outbox.sealed")) == 1
    finally:
        again.close()
