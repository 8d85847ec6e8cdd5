"""Where the test databases are, and the rule for when a test that needs one may skip:
only when it is unreachable AND CI is not set."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("TROTH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("TROTH_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = bool(os.environ.get("CI"))

_reachable: dict[str, bool] = {}


def _check(url: str) -> bool:
    if url not in _reachable:
        try:
            eng = sa.create_engine(url)
            with eng.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            eng.dispose()
            _reachable[url] = True
        except Exception:
            _reachable[url] = False
    return _reachable[url]


def need(url: str, name: str) -> None:
    if not _check(url):
        if IN_CI:
            pytest.fail(f"{name} is not reachable at {url} and CI is set: it must run in CI")
        pytest.skip(f"{name} not reachable at {url} (set CI=true to make this a failure)")
