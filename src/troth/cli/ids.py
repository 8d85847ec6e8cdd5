"""Ids on the command line: a whole id, a unique prefix, or the short ``…TAIL`` form.

One helper for every command: ``full_id(context, "request", text)`` after opening the home,
or ``IdArg("request", help)`` / ``IdOpt`` as a parameter's type, which resolves the id
before the command runs (an unknown or ambiguous one is a clear error).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer


def full_id(context: Any, kind: str, text: str) -> str:
    """The whole id of ``kind`` that ``text`` names in the home of ``context``."""
    from troth.store.prefix import resolve_id_in

    return resolve_id_in(context.engine, kind, text)


def full_id_in(home: Any, kind: str, text: str) -> str:
    """:func:`full_id` in the home at ``home``, opening only its database."""
    from troth.db import make_engine
    from troth.settings import Settings
    from troth.store.prefix import resolve_id_in

    engine = make_engine(Settings.for_home(home).resolved_database_url)
    try:
        return resolve_id_in(engine, kind, text)
    finally:
        engine.dispose()


def resolver(kind: str) -> Any:
    """A typer callback resolving the parameter's value (or values) to whole ids; its
    ``id_kind`` says which kind (a test finds every tenant parameter by it)."""

    def callback(ctx: typer.Context, value: Any) -> Any:
        if value is None or ctx.resilient_parsing:
            return value
        from troth.cli import home_of

        if isinstance(value, list | tuple):
            return [full_id_in(home_of(ctx), kind, v) for v in value]
        return full_id_in(home_of(ctx), kind, value)

    callback.__dict__["id_kind"] = kind
    return callback


# The subject argument of every command about one person: an id or a unique prefix of one.
SubjectArg = Annotated[str, typer.Argument(help="Subject id.", callback=resolver("subject"))]
