"""Shared helpers for the request tests and the P23-P32 scenarios (no tests here): codes
read back from the outbox, a connected shop database declared in the home."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from outbox_helpers import outbox_mail
from troth.db import make_engine
from troth.engine import Troth

SHOP_ENV = "SHOP_DATABASE_URL"


def mails_for(t: Troth, request_id: str) -> list[dict[str, Any]]:
    """Mail queued about one request, oldest first."""
    return list(outbox_mail(t, key_like=f"request:{request_id}:%"))


def code_of(t: Troth, request_id: str) -> str:
    """The latest one-time code mailed for a request."""
    codes = [m for m in mails_for(t, request_id) if ":code:" in m["idempotency_key"]]
    assert codes, "no code was mailed"
    found = re.search(r"\b(\d{6})\b", codes[-1]["body_text"])
    assert found
    return found.group(1)


def verified(t: Troth, kind: str, email: str, **kw: Any) -> str:
    """Open a request and verify it with the mailed code; returns its id."""
    req = t.requests.open(kind, email=email, **kw)
    t.requests.verify(req.id, code_of(t, req.id))
    return str(req.id)


def buy(t: Troth, email: str, name: str = "Ann Buyer") -> str:
    """A mindlink customer who bought, wrote to support and used the contact form."""
    sid = t.collect(
        "purchase",
        {
            "name": name,
            "email": email,
            "address": "1 High Street, Leeds",
            "product": "Mindlink Pro",
            "renewal_date": "2027-01-01",
        },
    ).subject_id
    t.collect(
        "support_request",
        {"name": name, "email": email, "message": "My licence key fails", "channel": "phone"},
    )
    t.collect("contact_form", {"email": email, "message": "Do you sell to schools?"})
    return str(sid)


def connect_shop(
    t: Troth,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    people: range | list[int] = range(1, 7),
    *,
    name: str = "shop",
    env: str = SHOP_ENV,
) -> sa.Engine:
    """Create and fill the shop schema at ``url`` and declare it in the home."""
    engine = make_engine(url)
    cs.md.drop_all(engine)
    cs.create_schema(engine)
    cs.populate(engine, people)
    folder = t.ctx.settings.resolved_datasets_dir
    folder.mkdir(exist_ok=True)
    text = cs.declaration(env).replace("name: shop", f"name: {name}", 1)
    (folder / f"{name}.yaml").write_text(text)
    monkeypatch.setenv(env, url)
    return engine


def rows(engine: sa.Engine, table: str, where: str = "1=1", **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT * FROM {table} WHERE {where}"), params))


def shop_db(tmp_path: Path, name: str = "shop") -> str:
    return f"sqlite:///{tmp_path}/{name}.db"
