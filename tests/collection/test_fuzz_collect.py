"""Hypothesis over collect payloads, from Python and over HTTP (issue 20): whatever arrives,
the answer is a stored result or a troth error (a 4xx problem over HTTP), never another
exception or a 500, and a refused payload stores nothing. Deterministic (derandomised) and
bounded: a few seconds."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from _http import api_key, client_for
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import TrothError
from troth.home import init_home
from troth.store.tables import records

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
FIELDS = [
    "name",
    "email",
    "phone",
    "address",
    "zip_code",
    "card_number",
    "card_expiry",
    "order_items",
    "date_of_birth",
]
GOOD = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "address": "1 Analytical Way",
    "card_number": "4111111111111111",
    "card_expiry": "12/30",
    "order_items": "one engine",
}

# Text with the characters that broke things: lone surrogates, NUL, controls, emoji.
hostile_text = st.text(
    st.characters(categories=["Cs", "Cc", "Lu", "Nd", "So", "Zs"]) | st.sampled_from("@.-+/"),
    max_size=40,
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text
    | st.sampled_from(["1980-01-01", "9999-12-31", "2010-02-30", "19800101", "", "0000-00-00"])
    | st.dates().map(str)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)
rows = st.fixed_dictionaries({}, optional={f: values for f in FIELDS} | {"stranger": values}).map(
    lambda extra: {**GOOD, **extra}
)
payloads = rows | values | st.dictionaries(hostile_text, values, max_size=4)


def nested(depth: int) -> Any:
    out: Any = "x"
    for _ in range(depth):
        out = {"a": out}
    return out


@pytest.fixture(scope="module")
def shop() -> Any:
    ctx = init_home(
        Path(tempfile.mkdtemp(prefix="troth-fuzz-")) / "home",
        example="itechno",
        clock=ManualClock(),
    )
    yield ctx
    ctx.engine.dispose()


@pytest.fixture(scope="module")
def http(shop: Any) -> Any:
    with client_for(shop) as c:
        yield c, {**api_key(c, ["collect"]), "Content-Type": "application/json"}


def stored(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(records)).scalar_one())


@FUZZ
@given(data=payloads | st.integers(0, 60).map(lambda d: {**GOOD, "name": nested(d)}))
def test_python_collect_answers_or_refuses(shop: Any, data: Any) -> None:
    t = Troth(shop)
    before = stored(shop)
    try:
        result = t.collect("order_form", data)
    except TrothError as exc:
        assert exc.message and "Traceback" not in exc.message
        assert stored(shop) == before
    else:
        assert result.stored >= 1 and stored(shop) > before


@FUZZ
@given(data=payloads, depth=st.integers(0, 40), extra=st.sampled_from([{}, {"jurisdiction": "xx"}]))
def test_http_collect_answers_4xx_never_5xx(
    shop: Any, http: Any, data: Any, depth: int, extra: Any
) -> None:
    c, headers = http
    body = {"data": data, **extra}
    for _ in range(depth):
        body = {"data": body}
    raw = json.dumps(body, allow_nan=True)  # NaN, Infinity and \ud800 escapes as sent by a peer
    before = stored(shop)
    r = c.post("/api/v1/collect/order_form", content=raw, headers=headers)
    assert r.status_code in (201, 400, 403, 422), (r.status_code, r.text[:300])
    if r.status_code != 201:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"]
        assert stored(shop) == before
