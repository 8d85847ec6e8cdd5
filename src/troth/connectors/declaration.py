"""Dataset declarations: the organisation's own databases described as data.

A YAML file lists datasets; each names the environment variable that holds its SQLAlchemy
URL (never the URL itself), its tables, the columns that identify a person, the links
between tables, the category of each column and how each column is erased.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from troth.policy.durations import Duration
from troth.policy.model import ID_PATTERN, LocationCode

Name = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")]
_LINK = re.compile(
    r"^\s*(?P<ct>[A-Za-z_][\w$]*)\.(?P<cc>[A-Za-z_][\w$]*)\s*->\s*"
    r"(?P<pt>[A-Za-z_][\w$]*)\.(?P<pc>[A-Za-z_][\w$]*)\s*$"
)


class IdentityKind(StrEnum):
    """The identities a request can start from."""

    email = "email"
    phone = "phone"
    customer_id = "customer_id"


class Erasure(StrEnum):
    """How a value (or a whole row) is erased."""

    delete_row = "delete_row"
    set_null = "set_null"
    mask = "mask"
    hash = "hash"  # keyed HMAC (Keyring.mac): pseudonymous, equal values stay equal
    keep = "keep"  # kept under a legal obligation, until ``keep_for`` has passed


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Keep(_Strict):
    """Why data is kept despite an erasure request, and until when."""

    reason: str = Field(min_length=1, description="the legal reason, shown in the report")
    keep_for: Duration
    purpose: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    # The column the period runs from (e.g. issued_at); rows past it are erased with `then`.
    from_column: Name | None = Field(default=None, alias="from")
    then: Erasure = Erasure.delete_row


class ExpiryAction(StrEnum):
    """What a time-based sweep does to a table's rows once their period has passed."""

    delete_row = "delete_row"
    anonymise = "anonymise"  # the columns' erasure strategies (set_null, mask, hash)
    keep = "keep"  # documented as kept: the sweep leaves them


class TableRetention(_Strict):
    """``retention: {keep_for: 2y, from: created_at, then: delete_row}`` on a table: rows
    whose ``from`` column is older than ``now - keep_for`` expire (legal keeps still win)."""

    keep_for: Duration
    from_column: Name = Field(alias="from")
    then: ExpiryAction = ExpiryAction.delete_row
    # The policy purpose whose retention period this rule carries out (reported, audited).
    where_purpose: Annotated[str, Field(pattern=ID_PATTERN)] | None = None


class Column(_Strict):
    category: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    erase: Erasure | None = None
    mask: str = Field(default="***", description="the value written by the mask strategy")
    # The person's attribute this column holds, for corrections (email, name, address...).
    field: Name | None = None
    keep: Keep | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `email: contact` is short for `email: {category: contact}`; `id:` for `id: {}`.
        if value is None:
            return {}
        return {"category": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _keep_has_reason(self) -> Column:
        _check_keep(self.erase, self.keep)
        return self


class Table(_Strict):
    primary_key: list[Name] = Field(min_length=1)
    identity: dict[IdentityKind, Name] = Field(default_factory=dict)
    # Row level: delete_row (the row goes), keep (legal hold), or a column default
    # (set_null / mask / hash) for categorised columns without their own strategy.
    erase: Erasure | None = None
    keep: Keep | None = None
    retention: TableRetention | None = None
    columns: dict[Name, Column] = Field(default_factory=dict)

    @field_validator("primary_key", mode="before")
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _keep_has_reason(self) -> Table:
        _check_keep(self.erase, self.keep)
        return self


def _check_keep(erase: Erasure | None, keep: Keep | None) -> None:
    """``erase: keep`` (a column's or a table's) needs the ``keep:`` block saying why."""
    if erase is Erasure.keep and keep is None:
        raise ValueError("erase: keep needs a `keep:` block with reason and keep_for")


class Link(_Strict):
    """``child.column -> parent.column``: rows of child belong to the parent's person."""

    child: str
    child_column: str
    parent: str
    parent_column: str

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = _LINK.match(value)
            if not m:
                raise ValueError(
                    f"{value!r} is not a link: write `child_table.column -> parent_table.column`"
                )
            return {
                "child": m["ct"],
                "child_column": m["cc"],
                "parent": m["pt"],
                "parent_column": m["pc"],
            }
        return value

    def __str__(self) -> str:
        return f"{self.child}.{self.child_column} -> {self.parent}.{self.parent_column}"


class Dataset(_Strict):
    """One connected database."""

    name: Annotated[str, Field(pattern=ID_PATTERN)]
    url_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    location: LocationCode | None = None
    description: str | None = None
    tables: dict[Name, Table] = Field(min_length=1)
    links: list[Link] = Field(default_factory=list)

    def declared_columns(self, table: str) -> set[str]:
        """Columns of ``table`` named anywhere: columns map, primary key, identities."""
        t = self.tables[table]
        return set(t.columns) | set(t.primary_key) | set(t.identity.values())


class DatasetFile(_Strict):
    datasets: list[Dataset] = Field(min_length=1)


@dataclass(frozen=True)
class Issue:
    """One problem in a declaration, with where it is."""

    path: tuple[str | int, ...]
    message: str

    def dotted(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "(top)"


def cross_check(
    file: DatasetFile, categories: set[str] | None = None, purposes: set[str] | None = None
) -> list[Issue]:
    """Problems pydantic cannot see: links to missing tables or columns, unknown categories
    (and purposes, when ``purposes`` is given), contradictory strategies, retention rules
    that cannot run, tables no identity reaches."""
    issues: list[Issue] = []
    names: set[str] = set()
    for di, ds in enumerate(file.datasets):
        at: tuple[str | int, ...] = ("datasets", di)
        if ds.name in names:
            issues.append(Issue((*at, "name"), f"dataset {ds.name!r} is declared twice"))
        names.add(ds.name)
        for tname, table in ds.tables.items():
            issues += _check_table(ds, tname, table, (*at, "tables", tname), categories)
            if table.retention is not None:
                where = (*at, "tables", tname, "retention")
                issues += _check_retention(ds, tname, table.retention, where, purposes)
        for li, link in enumerate(ds.links):
            issues += _check_link(ds, link, (*at, "links", li))
        if not any(i.path[:3] == (*at, "links") for i in issues):
            issues += _check_reachable(ds, at)
    return issues


def _check_table(
    ds: Dataset, tname: str, table: Table, at: tuple[str | int, ...], categories: set[str] | None
) -> list[Issue]:
    issues: list[Issue] = []
    declared = ds.declared_columns(tname)
    for kind, idcol in table.identity.items():
        if idcol not in table.columns and idcol not in table.primary_key:
            issues.append(
                Issue(
                    (*at, "identity", kind.value),
                    f"identity column {idcol!r} is not among the columns of {tname!r}; add it"
                    " under columns with its category",
                )
            )
    keeps = [(table.keep, (*at, "keep"))]
    for cname, col in table.columns.items():
        cat = (*at, "columns", cname)
        if categories is not None and col.category and col.category not in categories:
            issues.append(
                Issue(
                    (*cat, "category"),
                    f"unknown category {col.category!r}: declare it in the policy's categories"
                    " or use a built-in one (troth policy show lists them)",
                )
            )
        if col.erase is Erasure.keep and table.erase is Erasure.delete_row:
            issues.append(
                Issue(
                    (*cat, "erase"),
                    f"column {cname!r} says keep but table {tname!r} deletes its rows;"
                    " keep the whole table (erase: keep) or choose a column strategy",
                )
            )
        if col.erase is None and col.category and table.erase is None:
            issues.append(
                Issue(
                    (*cat, "erase"),
                    f"column {cname!r} holds {col.category!r} data but says nothing about"
                    " erasure: give it `erase:` (set_null, mask, hash, keep, delete_row) or give"
                    f" table {tname!r} an `erase:` default",
                )
            )
        if col.erase is Erasure.delete_row and table.erase not in (None, Erasure.delete_row):
            issues.append(
                Issue(
                    (*cat, "erase"),
                    f"column {cname!r} deletes the row but table {tname!r} says"
                    f" erase: {table.erase}; put erase: delete_row on the table",
                )
            )
        if col.erase in (Erasure.hash, Erasure.mask, Erasure.set_null) and cname in (
            table.primary_key
        ):
            issues.append(
                Issue((*cat, "erase"), f"{cname!r} is the primary key: it cannot be {col.erase}")
            )
        keeps.append((col.keep, (*cat, "keep")))
    for keep, where in keeps:
        if keep and keep.from_column and keep.from_column not in declared:
            issues.append(
                Issue(
                    (*where, "from"),
                    f"keep period runs from {keep.from_column!r}, which is not a column of"
                    f" {tname!r}; add it under columns",
                )
            )
    return issues


def _check_retention(
    ds: Dataset,
    tname: str,
    rule: TableRetention,
    at: tuple[str | int, ...],
    purposes: set[str] | None,
) -> list[Issue]:
    issues: list[Issue] = []
    if rule.from_column not in ds.declared_columns(tname):
        issues.append(
            Issue(
                (*at, "from"),
                f"retention runs from {rule.from_column!r}, which is not a column of {tname!r};"
                " add it under columns (a date or datetime column)",
            )
        )
    if rule.keep_for.approx_days() <= 0:
        issues.append(
            Issue((*at, "keep_for"), "keep_for must be longer than zero (e.g. 2y, 18m, 90d)")
        )
    if rule.then is ExpiryAction.anonymise and not _erases_columns(ds.tables[tname]):
        issues.append(
            Issue(
                (*at, "then"),
                f"then: anonymise, but no column of {tname!r} has an erasure strategy; give"
                " columns `erase:` (set_null, mask, hash) or use then: delete_row",
            )
        )
    if purposes is not None and rule.where_purpose and rule.where_purpose not in purposes:
        issues.append(
            Issue(
                (*at, "where_purpose"),
                f"unknown purpose {rule.where_purpose!r}: name a purpose of the policy"
                f" ({', '.join(sorted(purposes)) or 'none declared'})",
            )
        )
    return issues


def _erases_columns(table: Table) -> bool:
    ways = (Erasure.set_null, Erasure.mask, Erasure.hash)
    if table.erase in ways or (table.keep is not None and table.keep.then in ways):
        return any(c.category for c in table.columns.values())
    return any(c.erase in (*ways, Erasure.keep) for c in table.columns.values())


def _check_link(ds: Dataset, link: Link, at: tuple[str | int, ...]) -> list[Issue]:
    issues: list[Issue] = []
    for table, column in ((link.child, link.child_column), (link.parent, link.parent_column)):
        if table not in ds.tables:
            issues.append(
                Issue(
                    at,
                    f"link {link} names table {table!r}, which dataset {ds.name!r} does not"
                    f" declare (tables: {', '.join(sorted(ds.tables))})",
                )
            )
        elif column not in ds.declared_columns(table):
            issues.append(
                Issue(
                    at,
                    f"link {link} names column {table}.{column}, which is not declared; add it"
                    f" under tables.{table}.columns",
                )
            )
    return issues


def _check_reachable(ds: Dataset, at: tuple[str | int, ...]) -> list[Issue]:
    """Every table must be reachable from a table with an identity column."""
    children: dict[str, list[str]] = {t: [] for t in ds.tables}
    for link in ds.links:
        children[link.parent].append(link.child)
    seen = {t for t, spec in ds.tables.items() if spec.identity}
    queue = deque(seen)
    while queue:
        for child in children[queue.popleft()]:
            if child not in seen:
                seen.add(child)
                queue.append(child)
    issues = []
    for tname in ds.tables:
        if tname in seen:
            continue
        cycle = _cycle_through(tname, children)
        hint = f" (the links form a cycle {' -> '.join(cycle)} with no identity)" if cycle else ""
        issues.append(
            Issue(
                (*at, "tables", tname),
                f"table {tname!r} cannot be reached from any identity column{hint}: give it"
                " `identity:` columns or link it to a table that has them",
            )
        )
    return issues


def _cycle_through(start: str, children: dict[str, list[str]]) -> list[str]:
    """A cycle of links that comes back to ``start`` (parent -> child names), if any."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    visited: set[str] = set()
    while stack:
        node, path = stack.pop()
        for child in children[node]:
            if child == start:
                return [*path, start]
            if child not in visited:
                visited.add(child)
                stack.append((child, [*path, child]))
    return []
