"""P15: sensitive data encrypted at rest with authenticated encryption, keys apart from
the data, rotation without downtime, crypto-shredding."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import sqlalchemy as sa

from troth.errors import CryptoError
from troth.gate import Actor, ActorKind
from troth.store.crypto import decrypt_value
from troth.store.keystore import load_data_keys, rotate_keys
from troth.store.seals import RecordTampered
from troth.store.tables import records, subject_keys
from troth.store.values import read_values

ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
CARD = "4111111111111111"
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": CARD,
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _needles(t) -> list[bytes]:
    out = [CARD.encode(), b"12/29"]
    for secret in t.ctx.keys.secret_values():
        out += [secret, base64.b64encode(secret), secret.hex().encode()]
    return out


def _database_bytes(t, db_url: str) -> bytes:
    """Every byte troth's database holds: the raw SQLite files, or every PostgreSQL row."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    chunks: list[bytes] = []
    with t.ctx.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value))
                    else:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def test_p15_card_number_and_keys_never_in_the_database(home, db_url):
    t = home("itechno", db_url)
    r = t.collect("order_form", ORDER)
    t.ctx.engine.dispose()  # flush SQLite's WAL readers
    raw = _database_bytes(t, db_url)
    assert b"Ann Lee" in raw  # the scan does see plaintext where the policy allows it
    for needle in _needles(t):
        assert needle not in raw
    assert t.use(r.subject_id, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD


def test_p15_ciphertext_is_bound_to_subject_and_field(home, db_url):
    t = home("itechno", db_url)
    a = t.collect("order_form", ORDER)
    b = t.collect(
        "order_form", {**ORDER, "email": "bob@example.com", "card_number": "5500000000000004"}
    )
    with t.ctx.engine.begin() as conn:
        blob = conn.execute(
            sa.select(records.c.ciphertext).where(
                records.c.subject_id == a.subject_id, records.c.field == "card_number"
            )
        ).scalar_one()
        # Move Ann's ciphertext onto Bob's row: it must not decrypt there.
        conn.execute(
            records.update()
            .where(records.c.subject_id == b.subject_id, records.c.field == "card_number")
            .values(ciphertext=blob)
        )
    # The row's seal refuses it before anything is decrypted (troth.store.seals)...
    with pytest.raises(RecordTampered, match="does not match its seal"):
        t.use(b.subject_id, purpose="billing", actor=ACCOUNTS)
    # ...and under it the ciphertext itself does not open as Bob's.
    with t.ctx.engine.connect() as conn:
        ((version, dek),) = load_data_keys(conn, t.ctx, b.subject_id).items()
    tags = {"category": "payment_card", "point": "order_form"}
    with pytest.raises(CryptoError, match="does not authenticate"):
        decrypt_value(dek, b.subject_id, "card_number", version, blob, **tags)
    # Two encryptions of the same value differ (fresh nonces).
    c = t.collect("order_form", {**ORDER, "email": "cy@example.com"})
    with t.ctx.engine.connect() as conn:
        blobs = (
            conn.execute(
                sa.select(records.c.ciphertext).where(
                    records.c.field == "card_number",
                    records.c.subject_id.in_([a.subject_id, c.subject_id]),
                )
            )
            .scalars()
            .all()
        )
    assert len(set(blobs)) == 2


def test_p15_rotation_rewraps_while_serving_and_retires_old_key(home, db_url):
    t = home("itechno", db_url)
    people = [t.collect("order_form", {**ORDER, "email": f"p{i}@example.com"}) for i in range(7)]
    seen: list[tuple[int, int]] = []
    report = rotate_keys(t.ctx, batch=3, progress=lambda d, n: seen.append((d, n)))
    assert report.kek_version == 2 and report.rewrapped == 7
    assert seen[-1] == (7, 7) and len(seen) == 3  # three short batches, not one long lock
    with t.ctx.engine.connect() as conn:
        assert set(conn.execute(sa.select(subject_keys.c.kek_version)).scalars()) == {2}
    # Still readable; retire version 1 and it stays readable (everything was re-wrapped).
    t.ctx.keys.retire_kek_version(1)
    for p in people:
        assert t.use(p.subject_id, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD
    # Re-encryption gives every subject a new data key version.
    report = rotate_keys(t.ctx, reencrypt=True, retire_old=True)
    assert report.reencrypted_values == 14 and report.retired == [2]
    with t.ctx.engine.connect() as conn:
        assert set(
            conn.execute(
                sa.select(records.c.key_version).where(records.c.ciphertext.is_not(None))
            ).scalars()
        ) == {2}
        assert read_values(conn, t.ctx, people[0].subject_id, ["payment_card"])[0].value in (
            CARD,
            "12/29",
        )


def test_p15_crypto_shredding_makes_ciphertexts_unreadable(home, db_url):
    from troth.store.keystore import shred_subject_keys

    t = home("itechno", db_url)
    r = t.collect("order_form", ORDER)
    with t.ctx.engine.begin() as conn:
        blob, version = conn.execute(
            sa.select(records.c.ciphertext, records.c.key_version).where(
                records.c.subject_id == r.subject_id, records.c.field == "card_number"
            )
        ).one()
        assert shred_subject_keys(conn, [r.subject_id]) == 1
        assert read_values(conn, t.ctx, r.subject_id, ["payment_card"]) == []
    # Without the data key, no key in the key file opens the value.
    tags = {"category": "payment_card", "point": "order_form"}
    for secret in t.ctx.keys.secret_values():
        if len(secret) == 32:
            with pytest.raises(CryptoError):
                decrypt_value(secret, r.subject_id, "card_number", version, blob, **tags)


def test_p15_missing_or_exposed_key_file_is_a_clear_error(home, tmp_path):
    from troth.errors import ConfigError
    from troth.home import open_context

    t = home("itechno")
    home_dir = t.ctx.home
    key_file = home_dir / "keys.json"
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        open_context(home_dir)
    key_file.chmod(0o600)
    key_file.rename(home_dir / "elsewhere.json")
    with pytest.raises(ConfigError, match="not found"):
        open_context(home_dir)


def test_p15_a_key_file_from_another_home_cannot_read(home, db_url):
    import shutil

    from troth.home import open_context

    t = home("itechno", db_url)
    other = home("itechno", name="other")
    r = t.collect("order_form", ORDER)
    shutil.copyfile(other.ctx.settings.resolved_key_file, t.ctx.settings.resolved_key_file)
    ctx = open_context(t.ctx.home, clock=t.ctx.clock)
    try:
        from troth.engine import Troth

        with pytest.raises(CryptoError, match="wrong key file"):
            Troth(ctx).use(r.subject_id, purpose="billing", actor=ACCOUNTS)
    finally:
        ctx.engine.dispose()


def test_unknown_subject_is_not_found(home):
    from troth.errors import NotFound

    t = home("itechno")
    with pytest.raises(NotFound, match="look the person up"):
        t.use("0" * 32, purpose="billing", actor=ACCOUNTS)
    from troth.audit.entries import list_entries

    [entry] = [e.entry for e in list_entries(t.ctx) if e.entry.reason == "not_found"]
    assert entry.actor == "staff:ada" and entry.details["unknown_subject"] == "0" * 32
