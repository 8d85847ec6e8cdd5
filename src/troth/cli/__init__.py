"""The ``troth`` command line: a thin edge over the Python API.

Each command group lives in its own module (``cli/policy.py``...) and is registered below.
Errors are translated here, in one place: a red one-line message and exit 1 (exit 3 when
the gate refused).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

from troth.errors import Refused, TrothError


class _Console(Console):
    """A console that reads COLUMNS when it prints, not when it is made: piped output and
    test runners set the width after import."""

    @property
    def size(self) -> ConsoleDimensions:
        columns = os.environ.get("COLUMNS", "")
        base = super().size
        if columns.isdigit() and not self.is_terminal:
            return ConsoleDimensions(int(columns), base.height)
        return base

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


def make_console(**kwargs: Any) -> Console:
    """The console every command prints through (soft-wrapped, width from COLUMNS)."""
    kwargs.setdefault("soft_wrap", True)
    return _Console(**kwargs)


err_console = make_console(stderr=True)
console = make_console()

app = typer.Typer(
    name="troth",
    help="troth makes a privacy policy true in software.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="TROTH_HOME",
            help="The troth home directory (default: the current directory).",
        ),
    ] = None,
) -> None:
    ctx.obj = {"home": home}


def home_of(ctx: typer.Context) -> Path:
    """The home chosen with --home / TROTH_HOME, or the current directory."""
    root = ctx.find_root()
    obj = root.obj or {}
    home = obj.get("home")
    return Path(home) if home else Path.cwd()


def _register() -> None:
    # Each group registers itself: one import line per command module.
    from troth.cli import aggregates as _aggregates
    from troth.cli import audit as _audit
    from troth.cli import breaches as _breaches
    from troth.cli import consent as _consent
    from troth.cli import core as _core
    from troth.cli import datasets as _datasets
    from troth.cli import disclosures as _disclosures
    from troth.cli import discover as _discover
    from troth.cli import doctor as _doctor
    from troth.cli import keys as _keys
    from troth.cli import outbox as _outbox
    from troth.cli import policy as _policy
    from troth.cli import requests as _requests
    from troth.cli import retention as _retention
    from troth.cli import ropa as _ropa
    from troth.cli import serve as _serve
    from troth.cli import tenants as _tenants
    from troth.cli import users as _users

    _core.register(app)
    _core.register_worker(app)
    _core.register_demo(app)
    _policy.register(app)
    _serve.register(app)
    _datasets.register(app)
    _audit.register(app)
    _users.register(app)
    _keys.register(app)
    _tenants.register(app)
    _consent.register(app)
    _outbox.register(app)
    _retention.register(app)
    _disclosures.register(app)
    _breaches.register(app)
    _ropa.register(app)
    _requests.register(app)
    _aggregates.register(app)
    _discover.register(app)
    _doctor.register(app)


def _click_errors() -> tuple[type[Exception], ...]:
    # Typer vendors click (typer._click) in newer releases; accept either.
    import click

    types: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as Vendored
    except ImportError:  # pragma: no cover - older typer
        pass
    else:
        types.append(Vendored)
    return tuple(types)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    _register()
    try:
        rc = app(args=argv, standalone_mode=False)
    except Refused as exc:
        err_console.print(
            f"[red]refused[/red] ({exc.reason}): {escape(exc.message)}", highlight=False
        )
        sys.exit(3)
    except TrothError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {escape(exc.message)}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("[red]aborted[/red]")
        sys.exit(1)
    except Exception as exc:  # click usage errors, an unreachable database
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, _click_errors()):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if isinstance(exc, OperationalError):
            err_console.print(
                "[red]error[/red] (database_unreachable): troth's database cannot be reached"
                f" ({str(exc.orig).splitlines()[0] if exc.orig else exc}); check database_url"
                " and that the server runs",
                highlight=False,
            )
            sys.exit(1)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
