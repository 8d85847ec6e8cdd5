"""The column types troth reads its own values back with (times, days, JSON documents and
states), each failing closed on a value troth never writes.

A database writer without the key file can put anything into a column that SQLite holds
as it is given (every column) or that PostgreSQL keeps as text: an empty string or garbage
in a time, a number in a date, text that is not JSON, a list where a document belongs, a
state no troth knows. troth writes none of these, so such a value means the row was changed
outside troth. Read through these types it never crashes a reader with a ``ValueError``
(a traceback, an HTTP 500):

- by default it raises :class:`~troth.errors.TamperedValue` (``record_tampered``, 409)
  naming the table and column (never the value), so whatever read it is refused, and the
  edges audit the refusal once (:mod:`troth.audit.unreadable`);
- inside :func:`tolerating` it comes back as an :class:`Unreadable` in its place, for the
  readers that decide on the row's seal (it matches none) or on the audit log's record of
  it (a gag, a policy version's dates), and for ``troth audit verify``, which names it
  (:mod:`troth.audit.unreadable`).

Each type's result processor is one closure over the dialect's own, the check inside its
``try``: a time or a document costs what it did (one Python call where the decorator's
chain made two), a date or a state one Python call more than the driver's own (about
0.1 us). Writes are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, date, datetime
from enum import Enum
from importlib import import_module
from typing import Any, TypeVar

from sqlalchemy import JSON, Date, DateTime, Dialect, String, TypeDecorator

from troth.dialects import keeps_timezone, none_as_null
from troth.errors import TamperedValue

E = TypeVar("E", bound=Enum)
_TOLERATING: ContextVar[bool] = ContextVar("troth_tolerating", default=False)
# What a processor catches from a value it cannot read: the dialect's parser (ValueError
# for '' or garbage, TypeError for a number), a missing attribute, a time out of range.
_BAD = (TypeError, ValueError, AttributeError, OverflowError, KeyError)


class Unreadable:
    """A stored value troth cannot read, in its place in a row read inside
    :func:`tolerating`; ``column`` names it (``"legal_demands.gag_until"``). It is not
    a time, a date, a document or a state: code that reads such rows checks for it
    (:func:`unreadable_in`) before using a value."""

    __slots__ = ("column",)

    def __init__(self, column: str) -> None:
        self.column = column

    def __repr__(self) -> str:
        return f"<unreadable {self.column}>"

    # Equal by column: a row read twice compares (and caches, and is audited) as one.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unreadable) and other.column == self.column

    def __hash__(self) -> int:
        return hash(("unreadable", self.column))

    def error(self) -> TamperedValue:
        """The refusal a strict read of it raises."""
        return tampered_value(self.column)


def tampered_value(column: str) -> TamperedValue:
    """The error for a value of ``column`` (``table.column``) troth never writes."""
    table, _, name = column.partition(".")
    return TamperedValue(
        f"{column} holds a value troth never writes (empty, garbled, of another type or"
        " out of range): the row was changed outside troth, so nothing that reads it is"
        " done. Run `troth audit verify` to find the row, then restore it from a backup",
        table=table,
        column=name or None,
    )


class tolerating:
    """Within it, a value troth cannot read comes back as an :class:`Unreadable` instead
    of raising (in this thread or task only): for the readers that decide on a row's seal
    or on the log's record of it, and for ``troth audit verify``. Keep it around the read
    and the check of its rows."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _TOLERATING.set(True)

    def __exit__(self, *exc: object) -> None:
        _TOLERATING.reset(self._token)


def unreadable_in(row: Sequence[Any]) -> list[Unreadable]:
    """The values of ``row`` (a row or any sequence of values) troth could not read."""
    return [v for v in row if v.__class__ is Unreadable]


def is_unreadable(value: Any) -> bool:
    return value.__class__ is Unreadable


def member(of: type[E], value: Any, column: str) -> E:
    """``of(value)``: a state or kind read from ``column`` (``table.column``) that troth
    declares as plain text; a value that is none of ``of``'s raises
    :class:`TamperedValue` (where a model is built from its row)."""
    try:
        return of(value)
    except ValueError:
        raise tampered_value(column) from None


def parsed(text: Any, column: str, shape: type = object) -> Any:
    """JSON text read from ``column`` (``table.column``) that troth declares as text (an
    audit entry's details): parsed, of ``shape``; anything else raises
    :class:`TamperedValue`."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise tampered_value(column) from None
    if not isinstance(value, shape):
        raise tampered_value(column)
    return value


def readable(*values: Any) -> None:
    """Raise :class:`TamperedValue` for the first of ``values`` troth could not read: the
    columns of a row read inside :func:`tolerating` that must read back all the same."""
    for v in values:
        if v.__class__ is Unreadable:
            raise v.error()


class _Checked:
    """What the types below share: the column they read (set when the column is made, for
    the error's name) and the one place a value that fails their check goes."""

    _column: Any = None

    def _set_parent(self, parent: Any, outer: bool = False, **kw: Any) -> None:
        super()._set_parent(parent, outer=outer, **kw)  # type: ignore[misc]
        self._column = parent

    @property
    def column_name(self) -> str:
        """``table.column`` this type reads, as far as it is known."""
        col = self._column
        if col is None:
            return "a column"
        table = getattr(col, "table", None)
        return f"{getattr(table, 'name', '?')}.{col.name}"

    def unreadable(self) -> Unreadable:
        """The value in place of one that failed the check: an :class:`Unreadable`
        inside :func:`tolerating`, else :class:`TamperedValue` raised."""
        found = Unreadable(self.column_name)
        if _TOLERATING.get():
            return found
        raise found.error() from None


# Each processor below is one closure (one Python call a value, where a TypeDecorator's
# own chain makes two), the dialect's processor (``impl``: SQLite's text to a time; None
# where the driver returns the value made) called inside its ``try``.
def _same_or(impl: Any, on_bad: Callable[[], Any]) -> Callable[[Any], Any]:
    """The dialect's processor ``impl``, a value it cannot read going to ``on_bad()``."""

    def process(value: Any) -> Any:
        if value is None:
            return None
        try:
            return impl(value)
        except _BAD:
            return on_bad()

    return process


class UtcDateTime(_Checked, TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, whatever the backend keeps; a value
    that is no time (``''``, garbage, a number, out of range) fails closed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("troth stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        # SQLite and MariaDB keep naive values: store UTC wall time.
        return value if keeps_timezone(dialect) else value.replace(tzinfo=None)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        impl = self.impl_instance.result_processor(dialect, coltype) or _same
        on_bad, utc, dt = self.unreadable, UTC, datetime

        def process(value: Any) -> Any:
            if value is None:
                return None
            try:
                value = impl(value)
                if value.__class__ is not dt:
                    raise TypeError("not a time")
                return value.replace(tzinfo=utc) if value.tzinfo is None else value.astimezone(utc)
            except _BAD:
                return on_bad()

        return process


class Day(_Checked, TypeDecorator[date]):
    """A calendar date (a deadline, an effective date); a value that is no date fails
    closed."""

    impl = Date
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        impl = self.impl_instance.result_processor(dialect, coltype) or _same
        on_bad, day = self.unreadable, date

        def process(value: Any) -> Any:
            if value is None:
                return None
            try:
                value = impl(value)
                if value.__class__ is not day:
                    raise TypeError("not a date")
                return value
            except _BAD:
                return on_bad()

        return process


_SHAPES: dict[str, type] = {"list": list, "dict": dict}


class Document(_Checked, TypeDecorator[Any]):
    """A JSON value; ``shape`` ``"list"`` or ``"dict"`` where troth always writes one (a
    value that does not parse, or parses to another shape, fails closed). PostgreSQL
    keeps a Python None as SQL NULL (not the JSON 'null'), as SQLite and MariaDB do."""

    impl = JSON
    cache_ok = True

    def __init__(self, shape: str | None = None) -> None:
        super().__init__()
        self.shape = shape

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(JSON(none_as_null=none_as_null(dialect)))

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        impl = self.impl_instance.result_processor(dialect, coltype)
        want = _SHAPES.get(self.shape or "")
        if want is None:
            # Any JSON will do: what the driver parsed itself (psycopg) is one.
            return None if impl is None else _same_or(impl, self.unreadable)
        # None: the driver parsed it (psycopg); else json.loads straight, where it can be
        impl = _same if impl is None else _json_loads(self.impl_instance, dialect, coltype) or impl
        on_bad = self.unreadable

        def process(value: Any) -> Any:
            if value is None:
                return None
            try:
                value = impl(value)
                if value.__class__ is not want:
                    raise TypeError("not of the shape troth writes")
                return value
            except _BAD:
                return on_bad()

        return process


def _same(value: Any) -> Any:
    return value


def _json_loads(impl: Any, dialect: Dialect, coltype: Any) -> Any:
    """What SQLAlchemy's JSON processor calls on each text (``json.loads``, or the
    engine's own), called straight: one Python call less a value. None where the text is
    processed first (then the JSON type's processor is used as it is)."""
    string = getattr(impl, "_str_impl", None)
    if string is None or string.result_processor(dialect, coltype) is not None:
        return None
    return getattr(dialect, "_json_deserializer", None) or json.loads


class Choice(_Checked, TypeDecorator[str]):
    """Text that is one of ``choices``' values (a ``StrEnum``: a state, a kind; or its
    ``"module:Name"``, for a table its module's own enum would import in a circle), read
    as the plain string; any other value fails closed."""

    impl = String
    cache_ok = True

    def __init__(self, choices: type[Enum] | str, length: int) -> None:
        super().__init__(length)
        self.choices = choices
        self.length = length

    @property
    def allowed(self) -> frozenset[str]:
        """The values troth writes here."""
        of = self.choices
        if isinstance(of, str):
            module, _, name = of.partition(":")
            of = getattr(import_module(module), name)
        return frozenset(str(m.value) for m in of)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        allowed, on_bad = self.allowed, self.unreadable

        def process(value: Any) -> Any:
            if value is None or value in allowed:
                return value
            return on_bad()

        return process


CHECKED_TYPES = (UtcDateTime, Day, Document, Choice)


def driver_processor(type_: Any, dialect: Dialect, coltype: Any) -> Any:
    """The processor SQLAlchemy reads a column of ``type_`` with before a decorator's own
    step (SQLite's times from their text), for :func:`troth.db.driver_rows`: a value it
    cannot read comes back as an :class:`Unreadable`, never an exception."""
    impl = type_.impl_instance if isinstance(type_, TypeDecorator) else type_
    proc = impl.dialect_impl(dialect).result_processor(dialect, coltype)
    if proc is None:
        return None
    column = type_.column_name if isinstance(type_, _Checked) else "a column"
    return _same_or(proc, lambda: Unreadable(column))
