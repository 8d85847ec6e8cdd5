"""The fixtures every test may ask for.

- ``home``: the one way a test gets a troth home. A factory: ``home("itechno", db_url)``
  returns a ``Troth``; ``context=True`` returns its ``Context``; ``edit=`` changes the
  example policy first, ``policy=`` uses a policy file, ``name=`` picks the folder under
  ``tmp_path`` (two homes in one test), ``clock=`` another clock (``None``: the system's).
  Every home made is closed at the end of the test. A module that needs one kind of home
  in every test names it in a small fixture of its own that calls ``home``. A home on a
  manual clock, on SQLite or a fresh PostgreSQL schema, is a copy of a template made once
  per test process (``home_templates``: what a copy holds, and when ``init_home`` makes the
  home itself).
- ``mindlink`` / ``lite``: the HTTP and web tests' default home (mindlink, as a
  ``Context``, on the default manual clock) on SQLite and PostgreSQL / on SQLite only;
  ``phone``: the multi-tenant phone-service home the same way. Shortcuts of ``home``.
- ``clock``: the time a test starts at; tests move it, never sleep.
- Passwords are hashed with argon2id at its lowest cost in the tests' own process (see
  ``_cheap_password_hashing``); troth's processes that tests start, and troth itself, keep
  the RFC 9106 profile (``tests/access/test_access_accounts.py`` checks that default).
- The helper modules are plugins (``pytest_plugins`` below): ``dbs`` gives the database
  fixtures (``pg_url``, ``mysql_url``, ``db_url``), ``connected_schema`` the connected
  shop's (``shop_url``), ``served`` a real `troth serve` (``serve_troth``) and the helpers that
  start, wait for and stop troth's processes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from hypothesis import HealthCheck, settings

from troth.clock import Clock, ManualClock

if TYPE_CHECKING:
    from home_templates import Templates

pytest_plugins = ["dbs", "connected_schema", "served"]

# Hypothesis: no per-example deadline and no "input generation is slow" health check in any
# test. Both time the machine (a loaded CI runner, a second test process beside this one),
# not troth: a 3-second pause while drawing one example failed a seal test once. What each
# property asserts is unchanged, and so are the other health checks.
settings.register_profile("troth", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("troth")

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

HomeFactory = Callable[..., Any]


class _TheClockFixture:
    """The default of ``home(clock=...)``: the test's ``clock`` fixture."""


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """argon2id with one pass over 8 KiB instead of three over 64 MiB in four lanes, for
    every test in this process: the same algorithm, salt and hash lengths and code path,
    at a cost of well under a millisecond instead of about a third of a second per hash
    or check (hundreds of accounts are made and logged in). A test that needs argon2 slow
    or counted patches ``_HASHER`` itself, as before."""
    from argon2 import PasswordHasher
    from argon2.profiles import RFC_9106_LOW_MEMORY

    from troth.access import passwords

    cheap = dataclasses.replace(RFC_9106_LOW_MEMORY, time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_HASHER", PasswordHasher.from_parameters(cheap))
        patch.setattr(passwords, "_DUMMY_HASH", None)  # made again, with the cheap hasher
        yield


@pytest.fixture
def clock() -> ManualClock:
    """The time every test starts at; tests move it, never sleep."""
    return ManualClock(START)


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """The template homes of this test process (``home_templates``)."""
    from home_templates import Templates  # after the dbs plugin it imports

    templates = Templates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.close()


@pytest.fixture
def home(tmp_path: Path, clock: ManualClock, _templates: Templates) -> Iterator[HomeFactory]:
    """Build a troth home from an example policy (optionally edited) or a policy file, on
    a database URL (default: a SQLite file in the home); return ``Troth`` (or its
    ``Context`` with ``context=True``). Every home made is closed at the end."""
    from troth.engine import Troth
    from troth.examples import example_path
    from troth.home import init_home, open_context

    troths: list[Any] = []
    contexts: list[Any] = []
    kinds: set[Any] = set()  # of the homes copied in this test: a second one is made anew

    def make(
        example: str | None = "mindlink",
        db: str | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
        name: str = "home",
        *,
        policy: Path | None = None,
        clock: Clock | type[_TheClockFixture] | None = _TheClockFixture,
        context: bool = False,
        fresh: bool = False,
    ) -> Any:
        if edit is not None:
            data = yaml.safe_load(example_path(example or "").read_text())
            edit(data)
            policy = tmp_path / f"{name}-policy.yaml"
            policy.write_text(yaml.safe_dump(data, sort_keys=False))
        chosen = the_clock if clock is _TheClockFixture else clock
        target = (tmp_path / name).resolve()
        source = {"example": None if policy else example, "policy_file": policy}
        # fresh: made by init_home as this test has patched troth, never a template's copy
        kind = None if fresh else _templates.kind(target, source["example"], policy, db, chosen)
        if (
            kind is not None
            and kind not in kinds
            and _templates.copy(kind, target, db, init_home, **source)
        ):
            kinds.add(kind)
            ctx = open_context(target, clock=chosen)  # type: ignore[arg-type]
        else:
            ctx = init_home(target, database_url=db, clock=chosen, **source)  # type: ignore[arg-type]
        if context:
            contexts.append(ctx)
            return ctx
        t = Troth(ctx)
        troths.append(t)
        return t

    the_clock = clock
    yield make
    for t in troths:
        t.close()
    for ctx in contexts:
        ctx.engine.dispose()


def _own_file(db_url: str) -> str | None:
    """The ``db_url`` fixture's database, SQLite meaning the home's own file."""
    return None if db_url.startswith("sqlite") else db_url


@pytest.fixture
def mindlink(home: HomeFactory, db_url: str) -> Any:
    """A mindlink home's ``Context`` (the HTTP and web tests' default) on SQLite and
    PostgreSQL, on the default manual clock."""
    return home("mindlink", _own_file(db_url), clock=ManualClock(), context=True)


@pytest.fixture
def lite(home: HomeFactory) -> Any:
    """The same home on SQLite only (for tests that need no second database)."""
    return home("mindlink", clock=ManualClock(), context=True)


@pytest.fixture
def phone(home: HomeFactory, db_url: str) -> Any:
    """A phone-service home's ``Context`` (multi-tenant) on SQLite and PostgreSQL, on the
    default manual clock."""
    return home("phone-service", _own_file(db_url), clock=ManualClock(), context=True)
