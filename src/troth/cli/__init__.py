"""The ``troth`` command line: a thin edge over the Python API.

Each command group lives in its own module (``cli/policy.py``...) and is registered below.
Errors are translated here, in one place: a red one-line message and exit 1 (exit 3 when
the gate refused).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, _TyperParameter

from troth.errors import Refused, TrothError

if TYPE_CHECKING:
    from troth.context import Context
    from troth.engine import Troth


class _Console(Console):
    """A console that reads COLUMNS when it prints, not when it is made: piped output and
    test runners set the width after import."""

    @property
    def size(self) -> ConsoleDimensions:
        columns = os.environ.get("COLUMNS", "")
        base = super().size
        forced = getattr(self, "_forced_width", None)
        if forced:
            return ConsoleDimensions(forced, base.height)
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


def show_table(table: Any, out: Console | None = None) -> None:
    """Print a rich Table without ever cutting an id: a column holding ids (an id alone
    or with a label, ``staff:<id>``, ``person <id>``) does not wrap, and a table too wide
    for the terminal is printed at the width it needs."""
    import re

    from rich.measure import Measurement

    out = out or console
    # An id alone, or with a label: `staff:<id>`, `tenant_admin:a@b.example@<id>`,
    # `person <id>`, `tenant <id>` (trial 17, F7: such cells were cut to `01a251…`).
    long_id = re.compile(r"[0-9a-f]{16,}|[0-9a-f-]{36}|\btrk_")

    def holds_id(cell: Any) -> bool:
        text = str(cell)
        return len(text.split()) <= 2 and long_id.search(text) is not None

    for column in table.columns:
        if any(holds_id(cell) for cell in column._cells):
            column.no_wrap = True
            column.overflow = "ignore"
    size = Measurement.get(out, out.options.update_width(10_000), table)
    if size.minimum <= out.width:
        out.print(table)
        return
    out._forced_width = min(size.maximum, size.minimum + 40)  # type: ignore[attr-defined]
    try:
        out.print(table)
    finally:
        out._forced_width = None  # type: ignore[attr-defined]


def _cell(value: Any) -> str:
    from datetime import datetime

    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def emit(
    rows: list[dict[str, Any]],
    as_json: bool,
    *,
    columns: dict[str, str] | None = None,
    empty: str = "nothing to show",
    out: Console | None = None,
) -> None:
    """A list as JSON (every key of every row, ids whole, but those starting with ``_``:
    cells made for the table alone) or as a table (``columns``: key to heading, default
    every key); ``empty`` when there is nothing. Printed on ``out``, by default
    :data:`plain_console`."""
    import json

    out = out or plain_console
    if as_json:
        plain = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
        out.print_json(json.dumps(plain, default=str))
        return
    if not rows:
        out.print(empty, highlight=False)
        return
    from rich.table import Table

    cols = columns or {k: k for k in rows[0]}
    table = Table(*cols.values())
    for r in rows:
        table.add_row(*(_cell(r.get(k)) for k in cols), style=r.get("_style"))
    show_table(table, out)


def print_created(
    quiet: bool, new_id: str | None, message: str, out: Console | None = None
) -> None:
    """What a command that creates something prints: with ``--quiet`` the new id alone on
    stdout (``X=$(troth ...)``), else ``message`` on ``out`` (default
    :data:`plain_console`)."""
    if quiet:
        print(new_id)
        return
    (out or plain_console).print(message)


def rows_of(items: Any) -> list[dict[str, Any]]:
    """Dataclass records as dicts (every field: what --json prints)."""
    import dataclasses

    return [dataclasses.asdict(i) for i in items]


def command_group(
    name: str, help: str, *, no_args_is_help: bool = True
) -> tuple[typer.Typer, Callable[[typer.Typer], None]]:
    """A command group, ``troth NAME ...``, and the ``register`` its module offers the
    command table: it adds the group to the root under ``name``."""
    group = typer.Typer(help=help, no_args_is_help=no_args_is_help)

    def register(root: typer.Typer) -> None:
        root.add_typer(group, name=name)

    return group, register


err_console = make_console(stderr=True)
console = make_console()
# The same without highlighting (numbers, paths and ids printed as plain text): the
# console of the listings and of the commands whose every line is text they chose.
plain_console = make_console(highlight=False)
plain_err_console = make_console(stderr=True, highlight=False)

# -- the command table ---------------------------------------------------------------------
# One line per top-level command: its name, the module that registers it (a function
# ``register(app: typer.Typer)`` adding it, as ``@app.command(NAME)`` or
# ``app.add_typer(group, name=NAME)``) and the one-line help shown by ``troth --help``.
# Nothing is imported until the command runs (or its own --help is asked for), so
# ``troth --help`` and every command start fast. Adding a command module is one line here
# (and a COMMANDS entry in troth.access.routes).
COMMANDS: dict[str, tuple[str, str]] = {
    "aggregate": ("troth.cli.aggregates", "Statistics for an aggregate-only purpose."),
    "audit": ("troth.cli.audit", "The tamper-evident audit log: verify, show, proofs."),
    "breaches": ("troth.cli.breaches", "The breach register, its clocks and notices."),
    "collect": ("troth.cli.core", "Store data arriving through a collection point."),
    "consent": ("troth.cli.consent", "Consent: give, withdraw, state, receipts, checks."),
    "datasets": ("troth.cli.datasets", "The organisation's connected databases."),
    "db": ("troth.cli.core", "troth's own database."),
    "demo": ("troth.cli.core", "Build a home with synthetic data, then serve it."),
    "disclosures": ("troth.cli.disclosures", "Disclosures to third parties, legal demands."),
    "discover": ("troth.cli.discover", "Find personal data the policy does not declare."),
    "doctor": ("troth.cli.doctor", "Check a home and say what to fix."),
    "find": ("troth.cli.core", "Look a person up by e-mail or phone; prints the id."),
    "grants": ("troth.cli.tenants", "Support access to a customer's data."),
    "import": ("troth.cli.bulk", "Store many records from a JSON Lines or CSV file."),
    "init": ("troth.cli.core", "Create a troth home: settings, policy, keys, database."),
    "keys": ("troth.cli.keys", "API keys and the key-encryption key."),
    "mail": ("troth.cli.mail", "Mail to a list, with consent and unsubscribe."),
    "minors": ("troth.cli.core", "Data from people under the policy's minimum age."),
    "outbox": ("troth.cli.outbox", "Outgoing mail: deliver, list."),
    "policy": ("troth.cli.policy", "The policy as code: validate, show, diff, publish."),
    "reindex": ("troth.cli.core", "Rebuild the e-mail, phone and customer-id indexes."),
    "requests": ("troth.cli.requests", "Requests from the people the data is about."),
    "retention": ("troth.cli.retention", "Retention runs and legal holds."),
    "ropa": ("troth.cli.ropa", "The record of processing activities (GDPR Art. 30)."),
    "serve": ("troth.cli.serve", "Serve the API, the console and the privacy centre."),
    "subjects": ("troth.cli.subjects", "A person's life cycle: end or resume a relationship."),
    "tenants": ("troth.cli.tenants", "Customers (tenants), their members, invitations."),
    "use": ("troth.cli.core", "Read a person's data for a purpose (exit 3 if refused)."),
    "users": ("troth.cli.users", "Staff and vendor-admin accounts."),
    "worker": ("troth.cli.core", "Run scheduled work: mail, retention, requests..."),
}

_LOADED: dict[str, Any] = {}


def _plain_metavar(self: Any, ctx: Any) -> str:
    """Help shows TEXT, INTEGER, PATH or the choices, never Python types (``<list[str]>``);
    a flag shows nothing."""
    if getattr(self, "is_flag", False):
        return ""
    desc = self.type_descriptor
    if desc.is_choice:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices or ())
    if desc.is_path:
        return "PATH"
    if desc.is_datetime:
        return "DATETIME"
    annotation = desc.annotation
    if desc.is_list:
        annotation = (getattr(annotation, "__args__", None) or (str,))[0]
    return {int: "INTEGER", float: "NUMBER", bool: "BOOLEAN"}.get(annotation, "TEXT")


def _usage_name(self: Any) -> str:
    name = str(self.display_name_raw).upper()
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


_TyperParameter.display_type = _plain_metavar  # type: ignore[method-assign]
TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]


def _load(name: str) -> Any:
    """The click command ``name``, registered by its module into a scratch Typer app."""
    if name not in _LOADED:
        import importlib

        module = importlib.import_module(COMMANDS[name][0])
        scratch = typer.Typer()
        scratch.callback()(lambda: None)  # always a group, even for one command
        module.register(scratch)
        group = typer.main.get_command(scratch)
        for n, cmd in group.commands.items():  # type: ignore[attr-defined]
            _LOADED.setdefault(n, cmd)
    return _LOADED.get(name)


def home_first(args: list[str]) -> list[str]:
    """``args`` with each ``--home DIR`` (or ``--home=DIR``) found after the command's name
    moved before it, where the root reads it: every command takes ``--home`` before or
    after its name (``troth outbox deliver --home shop``), read before anything else of the
    command (an ``--actor`` naming a tenant is looked up in that home). Nothing after a
    ``--`` moves; the last ``--home`` given wins."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--home":
            front += args[i : i + 2]
            i += 2
            continue
        (front if arg.startswith("--home=") else rest).append(arg)
        i += 1
    return front + rest


class LazyGroup(TyperGroup):
    """The root group: commands come from COMMANDS and are imported when first used."""

    _listing = False

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, home_first(list(args)))

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None or cmd_name not in COMMANDS:
            return cmd
        if self._listing:  # the help listing needs only the name and the help line
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name][1])
        return _load(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        from typer._click.shell_completion import CompletionItem

        if incomplete.startswith("-"):  # the root's options (--home, --version...)
            return list(super().shell_complete(ctx, incomplete))
        names = [n for n in self.list_commands(ctx) if n.startswith(incomplete)]
        return [CompletionItem(n, help=COMMANDS.get(n, ("", ""))[1]) for n in names]


def _version(value: bool) -> None:
    if value:
        from troth import __version__

        print(f"troth {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="troth",
    cls=LazyGroup,
    help="troth makes a privacy policy true in software.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="TROTH_HOME",
            metavar="DIR",
            help="The troth home directory (default: the current directory); before or"
            " after the command (troth outbox deliver --home DIR).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print troth's version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = {"home": home}
    _quiet_libraries()


def _quiet_libraries() -> None:
    """No library INFO lines on a terminal (alembic announces every migration step)."""
    import logging

    for name in ("alembic", "alembic.runtime.migration", "sqlalchemy", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def home_of(ctx: typer.Context) -> Path:
    """The home chosen with --home / TROTH_HOME, or the current directory."""
    root = ctx.find_root()
    obj = root.obj or {}
    home = obj.get("home")
    return Path(home) if home else Path.cwd()


@contextmanager
def opened(ctx: typer.Context) -> Iterator[Troth]:
    """The home's troth (``--home``) for one command, closed when the command is done."""
    from troth.audit.unreadable import auditing_refusals
    from troth.engine import Troth

    t = Troth.open(home_of(ctx))
    try:
        with auditing_refusals(t.ctx, _command(ctx)):
            yield t
    finally:
        t.close()


@contextmanager
def opened_context(ctx: typer.Context) -> Iterator[Context]:
    """The home's context alone (settings, policy, keys, database) for one command,
    its database engine disposed when the command is done."""
    from troth.audit.unreadable import auditing_refusals
    from troth.home import open_context

    context = open_context(home_of(ctx))
    try:
        with auditing_refusals(context, _command(ctx)):
            yield context
    finally:
        context.engine.dispose()


def _command(ctx: typer.Context) -> str:
    """The command as typed after ``troth`` (``troth disclosures list``), for the log."""
    names: list[str] = []
    at: Any = ctx
    while at.parent is not None:
        names.append(at.info_name or "")
        at = at.parent
    return " ".join(["troth", *reversed(names)])


def _register() -> None:
    """Register every command eagerly (tests walk the whole tree); idempotent."""
    known = {g.name for g in app.registered_groups} | {c.name for c in app.registered_commands}
    done: set[str] = set()
    for name, (module_name, _help) in COMMANDS.items():
        if name in known or module_name in done:
            continue
        import importlib

        importlib.import_module(module_name).register(app)
        done.add(module_name)


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
    try:
        try:
            rc = app(args=argv, standalone_mode=False)
        except TrothError as exc:
            # A refusal of a person the actor is bound away from (another tenant's) is shown
            # as the error an id naming nobody gets: the same words, the same exit code.
            shown = exc.shown()
            if shown is exc:
                raise
            raise shown from None
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
        from troth.db import unreachable

        if isinstance(exc, _click_errors()):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        why = unreachable(exc)
        if why is not None:
            err_console.print(
                "[red]error[/red] (database_unreachable): troth's database cannot be reached"
                f" ({why}); check database_url and that the server runs",
                highlight=False,
            )
            sys.exit(1)
        if isinstance(exc, OSError) and exc.filename:  # a file a command could not write
            err_console.print(
                f"[red]error[/red] (os_error): {escape(str(exc.strerror))}:"
                f" {escape(str(exc.filename))}",
                highlight=False,
            )
            sys.exit(1)
        raise
    sys.exit(rc if isinstance(rc, int) else 0)
