"""Column factories for the conventions every concept's tables share, so a table states
only what is particular to it:

- :func:`key`: a string primary key (troth's ids are 32 hex characters, token hashes 64);
- :func:`ref`: the 32-character id of a row elsewhere (``subject_id``, ``tenant_id``...),
  with its foreign key, index, nullability or place in the primary key where it has them;
- :func:`stamp` / :func:`stamps`: UTC times (:class:`troth.stored.UtcDateTime`), required by
  default: ``created_at``, ``updated_at``, ``at``...; :func:`open_stamps` for those
  unset until something happens (``revoked_at``, ``finished_at``...);
- :func:`actor`: who did it, as the audit log names them (255 characters);
- :func:`flag` and :func:`counter`: a boolean that starts false, an integer from 0;
- :func:`document`: a JSON value (a list or a document where troth always writes one);
- :func:`day`: a calendar date (:class:`troth.stored.Day`);

and :func:`row_of`, the row of a table that a dataclass record makes.

Each returns new :class:`~sqlalchemy.Column` objects (a column belongs to one table). Only
the options a column has are passed on, so the schema is exactly what the plain
``Column(...)`` spelled out. The times, dates, documents and :func:`choice` states are
read back by :mod:`troth.stored`'s types, which fail closed on a value troth never
writes (a row changed outside troth).
"""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any, Literal

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table

from troth.stored import Choice, Day, Document, UtcDateTime

ID_LENGTH = 32  # troth's ids: 32 hex characters (uuid4().hex)
ACTOR_LENGTH = 255  # an actor as the audit log names it ("user:...", "system"...)


def _options(*, required: bool = False, index: bool = False) -> dict[str, Any]:
    """The keyword options of a column: only those it has, as ``Column`` would default them."""
    options: dict[str, Any] = {}
    if required:
        options["nullable"] = False
    if index:
        options["index"] = True
    return options


def key(name: str = "id", length: int = ID_LENGTH) -> Column[Any]:
    """A string primary key: ``id`` of 32 characters unless told otherwise."""
    return Column(name, String(length), primary_key=True)


def ref(
    name: str,
    target: str | None = None,
    *,
    cascade: bool = False,
    required: bool = False,
    index: bool = False,
    primary_key: bool = False,
    length: int = ID_LENGTH,
) -> Column[Any]:
    """The id of a row elsewhere: a foreign key to ``target`` (``"subjects.id"``) where
    given, deleted with it when ``cascade``; NULL allowed unless ``required`` or part of
    the ``primary_key``."""
    fks = [ForeignKey(target, ondelete="CASCADE" if cascade else None)] if target else []
    if primary_key:
        return Column(name, String(length), *fks, primary_key=True)
    return Column(name, String(length), *fks, **_options(required=required, index=index))


def stamp(name: str, *, required: bool = True, index: bool = False) -> Column[Any]:
    """A UTC time, NOT NULL unless ``required`` is false."""
    return Column(name, UtcDateTime, **_options(required=required, index=index))


def stamps(*names: str) -> list[Column[Any]]:
    """Required UTC times, one column per name, in that order."""
    return [stamp(name) for name in names]


def open_stamps(*names: str) -> list[Column[Any]]:
    """UTC times that stay NULL until what they record happens, in that order."""
    return [stamp(name, required=False) for name in names]


def actor(name: str = "actor", *, required: bool = True) -> Column[Any]:
    """Who did it (``actor``, ``recorded_by``, ``placed_by``...), NOT NULL unless told."""
    return Column(name, String(ACTOR_LENGTH), **_options(required=required))


def flag(name: str) -> Column[Any]:
    """A NOT NULL boolean that is false unless set."""
    return Column(name, Boolean, nullable=False, default=False)


def counter(name: str) -> Column[Any]:
    """A NOT NULL integer that counts from 0."""
    return Column(name, Integer, nullable=False, default=0)


def document(
    name: str, *, required: bool = True, shape: Literal["list", "dict"] | None = None
) -> Column[Any]:
    """A JSON value, NOT NULL unless ``required`` is false; ``shape`` where troth only
    ever writes a list or a JSON object there (any other value reads as tampered)."""
    return Column(name, Document(shape), **_options(required=required))


def day(name: str, *, required: bool = True) -> Column[Any]:
    """A calendar date, NOT NULL unless ``required`` is false."""
    return Column(name, Day, **_options(required=required))


def choice(name: str, of: type[Enum] | str, length: int, **options: Any) -> Column[Any]:
    """A state or kind: text that is one of ``of``'s values (a ``StrEnum``, or its
    ``"module:Name"`` where that module imports this table); any other reads as tampered.
    ``options`` as for ``Column`` (``nullable``, ``default``, ``index``)."""
    return Column(name, Choice(of, length), **options)


def row_of(table: Table, record: Any, **extra: Any) -> dict[str, Any]:
    """The row of ``table`` a dataclass ``record`` makes: each of its fields that is a
    column (an enum by its value, a tuple as a list), then ``extra``."""
    row: dict[str, Any] = {}
    for f in fields(record):
        if f.name in table.c:
            v = getattr(record, f.name)
            row[f.name] = v.value if isinstance(v, Enum) else list(v) if isinstance(v, tuple) else v
    return {**row, **extra}
