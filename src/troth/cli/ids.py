"""Ids on the command line: a whole id, a unique prefix, or the short ``…TAIL`` form.

One helper for every command: ``full_id(context, "request", text)`` after opening the home,
or ``IdArg("request", help)`` / ``IdOpt`` as a parameter's type, which resolves the id
before the command runs (an unknown or ambiguous one is a clear error).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer


def full_id(context: Any, kind: str, text: str) -> str:
    """The whole id of ``kind`` that ``text`` names in the home of ``context``."""
    from troth.store.prefix import resolve_id_in

    return resolve_id_in(context.engine, kind, text)


@contextmanager
def _database_of(home: Any) -> Iterator[Any]:
    """The database engine of the home at ``home`` (only it: no troth is opened), disposed
    of afterwards."""
    from troth.db import make_engine
    from troth.settings import Settings

    engine = make_engine(Settings.for_home(home).resolved_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def full_id_in(home: Any, kind: str, text: str, *, tenant_id: str | None = None) -> str:
    """:func:`full_id` in the home at ``home``, opening only its database; with
    ``tenant_id`` (a caller bound to it) a tenant is only that one, a person only one of
    its people (:func:`troth.store.prefix.resolve_id`)."""
    from troth.store.prefix import resolve_id_in

    with _database_of(home) as engine:
        return resolve_id_in(engine, kind, text, tenant_id=tenant_id)


def person_id(engine: Any, text: str, actor: str | None) -> str:
    """The person ``text`` names, for the command's ``--actor``. For an actor bound to a
    tenant, only that tenant's people are weighed, and a text that names none of them is
    passed on as typed: the service then answers it, and audits it, exactly as an id that
    names nobody, whether it is another tenant's person or no one's (no oracle; the start of
    another tenant's id is never completed nor listed)."""
    from troth.errors import NotFound
    from troth.store.prefix import resolve_id_in

    bound = _bound_tenant(actor)
    if bound is None:
        return resolve_id_in(engine, "subject", text)
    try:
        return resolve_id_in(engine, "subject", text, tenant_id=bound)
    except NotFound:
        return text.strip()


def person_id_in(home: Any, text: str, actor: str | None) -> str:
    """:func:`person_id` in the home at ``home``, opening only its database."""
    with _database_of(home) as engine:
        return person_id(engine, text, actor)


def _bound_tenant(actor: str | None) -> str | None:
    """The tenant the ``--actor`` typed is bound to (None: none typed, or not bound)."""
    if not actor or ":" not in actor:
        return None
    from troth.cli.actors import parse_actor

    return parse_actor(actor).tenant_id


def resolver(kind: str) -> Any:
    """A typer callback resolving the parameter's value (or values) to whole ids; its
    ``id_kind`` says which kind (a test finds every tenant parameter by it). A person is
    resolved for the command's ``--actor`` (:func:`person_id_in`), which is then eager:
    parsed before the ids; so is a tenant: for an actor bound to a tenant only that tenant
    is weighed, and another is answered word for word as a tenant that does not exist."""

    def callback(ctx: typer.Context, value: Any) -> Any:
        if value is None or ctx.resilient_parsing:
            return value
        from troth.cli import home_of

        def one(text: str) -> str:
            if kind == "subject":
                return person_id_in(home_of(ctx), text, ctx.params.get("actor"))
            if kind == "tenant":
                bound = _bound_tenant(ctx.params.get("actor"))
                return full_id_in(home_of(ctx), kind, text, tenant_id=bound)
            return full_id_in(home_of(ctx), kind, text)

        if isinstance(value, list | tuple):
            return [one(v) for v in value]
        return one(value)

    callback.__dict__["id_kind"] = kind
    return callback


# The subject argument of every command about one person: an id or a unique prefix of one.
SubjectArg = Annotated[str, typer.Argument(help="Subject id.", callback=resolver("subject"))]
