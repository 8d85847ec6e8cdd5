"""Compare a dataset declaration with the live schema of its database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from troth.connectors.declaration import Dataset, Erasure
from troth.errors import ConnectorError

# Column names that usually hold personal data (whole words inside snake/camel case).
_PERSONAL = re.compile(
    r"(^|_)(e?mail|email_address|phone|mobile|msisdn|tel|fax|name|first_?name|last_?name|"
    r"surname|address|addr|street|city|zip|postcode|postal_code|ip|ip_address|dob|birth|"
    r"birthday|birthdate|ssn|sin|nin|passport|card|card_number|pan|iban|account_number|"
    r"gender|lat|lon|latitude|longitude|geo|password|username|login|caller|destination|"
    r"callee|msg|message|body|notes?)($|_)",
    re.IGNORECASE,
)


class Severity(StrEnum):
    error = "error"
    warning = "warning"


@dataclass(frozen=True)
class Finding:
    """One difference between declaration and database."""

    severity: Severity
    code: str
    table: str
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{self.severity}: {where}: {self.message} [{self.code}]"


def looks_personal(column: str) -> bool:
    """Whether a column name suggests personal data (email, phone, name, address, ip...)."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", column).lower()
    return bool(_PERSONAL.search(snake))


def check_dataset_at(ds: Dataset, url: str) -> list[Finding]:
    """:func:`check_dataset` on the database at ``url`` (named by ``ds.url_env`` in errors;
    a SQLite file that is not there is an error, never a new empty database)."""
    from troth.db import make_engine

    engine = make_engine(url, setting=ds.url_env, create=False)
    try:
        return check_dataset(ds, engine)
    finally:
        engine.dispose()


def check_dataset(ds: Dataset, engine: Engine) -> list[Finding]:
    """Differences between ``ds`` and the database behind ``engine``: missing tables or
    columns (errors), strategies the column types cannot take, undeclared columns whose
    names look personal, foreign keys not declared as links (warnings)."""
    try:
        insp = sa.inspect(engine)
        live = set(insp.get_table_names())
        out: list[Finding] = []
        for name in ds.tables:
            if name not in live:
                out.append(
                    Finding(
                        Severity.error,
                        "missing_table",
                        name,
                        None,
                        "table does not exist in the database",
                    )
                )
                continue
            cols = {c["name"]: c for c in insp.get_columns(name)}
            out += _check_columns(ds, name, cols)
            out += _check_keys(ds, name, insp.get_foreign_keys(name))
        for other in sorted(live - set(ds.tables)):
            for fk in insp.get_foreign_keys(other):
                parent = fk.get("referred_table")
                strategy = ds.tables[parent].erase if parent in ds.tables else None
                if strategy is Erasure.delete_row:
                    out.append(
                        Finding(
                            Severity.warning,
                            "undeclared_child",
                            other,
                            None,
                            f"references {parent} (a foreign key) but is not declared;"
                            f" deleting rows of {parent} will fail or cascade into it",
                        )
                    )
        return out
    except sa.exc.DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConnectorError(
            f"dataset {ds.name}: the database cannot be inspected ({first})", dataset=ds.name
        ) from exc


def _check_columns(ds: Dataset, name: str, cols: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    table = ds.tables[name]
    for col in sorted(ds.declared_columns(name)):
        if col not in cols:
            out.append(
                Finding(
                    Severity.error, "missing_column", name, col, "declared but not in the database"
                )
            )
    for cname, spec in table.columns.items():
        live = cols.get(cname)
        if live is not None:
            how = spec.erase or (table.erase if spec.category else None)
            out += _check_strategy(name, cname, how, spec.mask, live)
    for kind, col in table.identity.items():
        live = cols.get(col)
        if live is not None and kind.value in ("email", "phone") and not _is_text(live["type"]):
            out.append(
                Finding(
                    Severity.warning,
                    "identity_type",
                    name,
                    col,
                    f"{kind.value} identity in a {live['type']} column",
                )
            )
    declared = ds.declared_columns(name)
    for cname in sorted(set(cols) - declared):
        if looks_personal(cname):
            out.append(
                Finding(
                    Severity.warning,
                    "undeclared_personal",
                    name,
                    cname,
                    "not declared, and its name looks personal: declare it with its"
                    " category and erasure strategy",
                )
            )
    return out


def _check_strategy(
    name: str, cname: str, how: Erasure | None, mask: str, live: dict[str, Any]
) -> list[Finding]:
    """What stops column ``cname`` (as it is in the database: ``live``) from being erased
    ``how`` (with ``mask``, for the mask strategy)."""
    out: list[Finding] = []
    textual = _is_text(live["type"])
    if how in (Erasure.mask, Erasure.hash) and not textual:
        out.append(
            Finding(
                Severity.error,
                "strategy_type",
                name,
                cname,
                f"{how} needs a text column, this one is {live['type']}; use set_null",
            )
        )
    if how is Erasure.set_null and not live.get("nullable", True):
        out.append(
            Finding(
                Severity.error,
                "not_nullable",
                name,
                cname,
                "set_null on a NOT NULL column; use mask, hash or delete_row",
            )
        )
    if how is Erasure.mask and textual and _length(live["type"]) < len(mask):
        out.append(
            Finding(
                Severity.error,
                "mask_too_long",
                name,
                cname,
                f"the mask {mask!r} does not fit the column's length",
            )
        )
    if how is Erasure.hash and textual and _length(live["type"]) < 18:
        out.append(
            Finding(
                Severity.warning,
                "hash_short",
                name,
                cname,
                "the column is too short for a useful keyed hash (< 18 characters)",
            )
        )
    return out


def _check_keys(ds: Dataset, name: str, fks: list[Any]) -> list[Finding]:
    out = []
    links = {(lk.child, lk.child_column, lk.parent, lk.parent_column) for lk in ds.links}
    for fk in fks:
        parent = fk.get("referred_table")
        for child_col, parent_col in zip(
            fk.get("constrained_columns", []), fk.get("referred_columns", []), strict=False
        ):
            if parent in ds.tables and (name, child_col, parent, parent_col) not in links:
                out.append(
                    Finding(
                        Severity.warning,
                        "undeclared_link",
                        name,
                        child_col,
                        f"foreign key to {parent}.{parent_col} is not declared as a link;"
                        f" add `{name}.{child_col} -> {parent}.{parent_col}`",
                    )
                )
    return out


def _is_text(type_: Any) -> bool:
    return isinstance(type_, sa.String | sa.Text | sa.Unicode | sa.UnicodeText | sa.Enum)


def _length(type_: Any) -> int:
    return getattr(type_, "length", None) or 1_000_000
