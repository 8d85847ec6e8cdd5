"""The drift report: what the databases hold against what the datasets file and the
policy say. Each finding has evidence (counts and a masked example), a severity and the
YAML to add (to the datasets file, or the policy)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from troth.connectors.declaration import Dataset
from troth.discovery.classify import ColumnResult
from troth.discovery.detectors import CATEGORY_OF, Kind

# troth's own free-text values, as a dataset no declaration can name (names are snake_case)
TROTH = "@troth"


class Severity(StrEnum):
    critical = "critical"  # a sensitive category in clear
    high = "high"  # personal data nobody declared
    medium = "medium"  # a declared column whose values are another category
    low = "low"  # the policy declares a category that no system holds


RANK = {Severity.critical: 0, Severity.high: 1, Severity.medium: 2, Severity.low: 3}
DRIFT = (Severity.critical, Severity.high, Severity.medium)  # exit 2 when any is found

# Categories whose values the detectors can recognise: a declared column of one of these
# whose values are clearly another is mislabelled.
_CHECKABLE = frozenset(CATEGORY_OF.values()) | {"business_contact"}
_SAME = {"business_contact": "contact"}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    dataset: str
    table: str | None
    column: str | None
    category: str | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    yaml: str = ""
    target: str = "datasets"  # where the YAML goes: datasets or policy

    @property
    def where(self) -> str:
        return ".".join(p for p in (self.dataset, self.table, self.column) if p)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        return d


@dataclass(frozen=True)
class TableScan:
    """One scanned table: its shape and each column's classification."""

    dataset: str
    table: str
    primary_key: tuple[str, ...]
    foreign_keys: tuple[tuple[str, str, str], ...]
    columns: tuple[ColumnResult, ...]


def drift(
    scans: Iterable[TableScan],
    datasets: Mapping[str, Dataset],
    *,
    sensitive: set[str],
    policy_categories: set[str],
    held_by_troth: set[str],
    text_fields: Mapping[str, str] | None = None,
    complete: bool = True,
) -> list[Finding]:
    """Every finding, most severe first. ``sensitive``: the policy's sensitive categories;
    ``policy_categories``: those the policy declares; ``held_by_troth``: the categories
    troth's own collection points hold; ``text_fields``: troth's free-text fields (point.field
    -> category). Categories no system holds are reported only for a ``complete`` scan."""
    out: list[Finding] = []
    held: set[str] = set(held_by_troth)
    for each in datasets.values():
        for t in each.tables.values():
            held |= {c.category for c in t.columns.values() if c.category}
    for scan in scans:
        if scan.dataset == TROTH:
            out += _troth_text(scan, sensitive, text_fields or {})
            continue
        ds: Dataset | None = datasets.get(scan.dataset)
        declared_table = ds.tables.get(scan.table) if ds else None
        undeclared_cols: list[ColumnResult] = []
        for col in scan.columns:
            cat = _category(col)
            if cat:
                held.add(cat)
            spec = declared_table.columns.get(col.column) if declared_table else None
            declared_cat = spec.category if spec else None
            known = (
                declared_table is not None
                and ds is not None
                and (col.column in ds.declared_columns(scan.table))
            )
            out += _in_clear(scan, col, sensitive, declared_cat)
            if cat is None:
                continue
            if not known:
                undeclared_cols.append(col)
            elif declared_cat and _mislabelled(declared_cat, col):
                out.append(_mislabel(scan, col, declared_cat))
            elif declared_cat is None and col.by in ("values", "values+name"):
                # Listed without a category (a key, "not personal"), yet its values are.
                out.append(_mislabel(scan, col, None))
        if undeclared_cols:
            if declared_table is None:
                out.append(_undeclared_table(scan, undeclared_cols))
            else:
                out += [_undeclared_column(scan, c) for c in undeclared_cols]
    if complete:
        for cat in sorted(policy_categories - held):
            out.append(_unheld(cat))
    out.sort(key=lambda f: (RANK[f.severity], f.dataset, f.table or "", f.column or "", f.code))
    return out


def _category(col: ColumnResult) -> str | None:
    if col.category:
        return col.category
    if col.pasted:  # free text, or a short note with a card or an id pasted in
        return "communications"
    return None


def _evidence(col: ColumnResult) -> dict[str, Any]:
    ev: dict[str, Any] = {"sampled": col.sampled, "by": col.by}
    if col.kind is not None:
        ev["kind"] = col.kind.value
        ev["matching"] = round(col.share * col.sampled)
    if col.pasted:
        ev["values_with"] = dict(col.pasted)
    if col.example:
        ev["example"] = col.example
    return ev


def _erase_for(category: str, sensitive: bool) -> str:
    return "set_null" if sensitive or category in ("payment_card", "government_id") else "mask"


def _column_yaml(dataset: str, table: str, column: str, category: str, erase: str) -> str:
    return (
        f"# datasets file, dataset {dataset}\n"
        f"tables:\n  {table}:\n    columns:\n"
        f"      {column}: {{category: {category}, erase: {erase}}}\n"
    )


def _on_column(
    scan: TableScan,
    col: ColumnResult,
    what: tuple[str, Severity, str | None],
    message: str,
    *,
    erase: str | None = None,
    declare_as: str | None = None,
    then: str = "",
) -> Finding:
    """A finding on one scanned column: ``what`` is its code, severity and category; its
    evidence is the column's, its fix the datasets-file lines declaring the column as
    ``declare_as`` (default: the category) with ``erase`` (default: the category's),
    followed by ``then``."""
    code, severity, cat = what
    declare = cat or "" if declare_as is None else declare_as
    yaml = _column_yaml(
        scan.dataset, scan.table, col.column, declare, erase or _erase_for(declare, False)
    )
    return Finding(
        code=code,
        severity=severity,
        dataset=scan.dataset,
        table=scan.table,
        column=col.column,
        category=cat,
        message=message,
        evidence=_evidence(col),
        yaml=yaml + then,
    )


def _undeclared_column(scan: TableScan, col: ColumnResult) -> Finding:
    cat = _category(col) or "identity"
    return _on_column(
        scan,
        col,
        ("undeclared_column", Severity.high, cat),
        f"column holds {cat} data ({_what(col)}) but the datasets file does not declare"
        " it: requests miss it and retention never deletes it",
    )


def _undeclared_table(scan: TableScan, cols: list[ColumnResult]) -> Finding:
    lines = [
        f"# datasets file, dataset {scan.dataset}",
        "tables:",
        f"  {scan.table}:",
        f"    primary_key: {scan.primary_key[0] if len(scan.primary_key) == 1 else list(scan.primary_key)}"  # noqa: E501
        if scan.primary_key
        else "    primary_key: id  # the table has no primary key: give it one",
        "    columns:",
    ]
    for c in cols:
        cat = _category(c) or "identity"
        lines.append(f"      {c.column}: {{category: {cat}, erase: {_erase_for(cat, False)}}}")
    links = [f"{scan.table}.{c} -> {pt}.{pc}" for c, pt, pc in scan.foreign_keys]
    if links:
        lines.append("# and under links:")
        lines += [f"#   - {lk}" for lk in links]
    cats = sorted({_category(c) or "identity" for c in cols})
    return Finding(
        code="undeclared_table",
        severity=Severity.high,
        dataset=scan.dataset,
        table=scan.table,
        column=None,
        category=cats[0] if len(cats) == 1 else None,
        message=f"table holds personal data ({', '.join(cats)} in"
        f" {', '.join(c.column for c in cols)}) but the datasets file does not declare it",
        evidence={"columns": {c.column: _evidence(c) for c in cols}},
        yaml="\n".join(lines) + "\n",
    )


def _mislabelled(declared: str, col: ColumnResult) -> bool:
    if declared not in _CHECKABLE or col.by not in ("values", "values+name"):
        return False
    found = col.category
    return found is not None and _SAME.get(declared, declared) != _SAME.get(found, found)


def _mislabel(scan: TableScan, col: ColumnResult, declared: str | None) -> Finding:
    cat = col.category or ""
    said = f"declared {declared}" if declared else "declared without a category (not personal)"
    finding = _on_column(
        scan,
        col,
        ("mislabelled", Severity.medium, cat),
        f"{said}, but its values are {_what(col)} ({cat})",
    )
    finding.evidence["declared"] = declared
    return finding


def _in_clear(
    scan: TableScan, col: ColumnResult, sensitive: set[str], declared: str | None
) -> list[Finding]:
    out: list[Finding] = []
    if col.category in sensitive and col.by in ("values", "values+name"):
        out.append(
            _on_column(
                scan,
                col,
                ("sensitive_in_clear", Severity.critical, col.category),
                f"{col.category} is sensitive, and this column holds it in clear"
                f" ({_what(col)}): encrypt or tokenise it (P15), and declare it",
                erase="set_null",
            )
        )
    for kind_name, n in col.pasted.items():
        cat = CATEGORY_OF[Kind(kind_name)]
        if cat not in sensitive:
            continue
        out.append(
            _on_column(
                scan,
                col,
                ("pasted_in_free_text", Severity.critical, cat),
                f"{n} of {col.sampled} sampled texts have a {Kind(kind_name).value}"
                f" pasted in ({cat}, sensitive) stored in clear"
                + (f" in a column declared {declared}" if declared else ""),
                erase="set_null",
                declare_as=declared or "communications",
                then=f"# and redact the pasted {Kind(kind_name).value}s at the source\n",
            )
        )
    return out


def _troth_text(
    scan: TableScan, sensitive: set[str], text_fields: Mapping[str, str]
) -> list[Finding]:
    out: list[Finding] = []
    for col in scan.columns:
        declared = text_fields.get(col.column)
        for kind_name, n in col.pasted.items():
            cat = CATEGORY_OF[Kind(kind_name)]
            if cat not in sensitive:
                continue
            point, _, fld = col.column.partition(".")
            out.append(
                Finding(
                    code="pasted_in_free_text",
                    severity=Severity.critical,
                    dataset=TROTH,
                    table="records",
                    column=col.column,
                    category=cat,
                    message=f"{n} of {col.sampled} sampled {fld!r} values collected through"
                    f" {point!r} have a {Kind(kind_name).value} pasted in ({cat}, sensitive),"
                    f" stored in clear under {declared or 'a non-sensitive category'}",
                    evidence=_evidence(col),
                    yaml=f"# policy: collection_points.{point}.fields.{fld} is {declared};"
                    f" {cat} must not arrive through it.\n# Correct or erase the values"
                    " (troth requests), and tell people not to paste card numbers or ids.\n",
                    target="policy",
                )
            )
    return out


def _unheld(category: str) -> Finding:
    return Finding(
        code="category_not_held",
        severity=Severity.low,
        dataset="policy",
        table=None,
        column=None,
        category=category,
        message=f"the policy declares {category!r}, but no collection point, declared dataset"
        " or scanned column holds it: remove it, or declare where it is kept",
        yaml=f"# policy: under categories, remove\n#   - id: {category}\n"
        "# or declare the column that holds it in a datasets file:\n"
        f"#   COLUMN: {{category: {category}, erase: set_null}}\n",
        target="policy",
    )


def _what(col: ColumnResult) -> str:
    if col.kind is not None and col.by == "type":
        return f"its type {col.type} holds network addresses"
    if col.kind is not None and col.by != "name":
        n = round(col.share * col.sampled)
        return f"{n} of {col.sampled} sampled values look like {col.kind.value}"
    if col.kind is not None:
        return f"its name says {col.kind.value}"
    if col.pasted:
        found = ", ".join(f"{k} in {n}" for k, n in col.pasted.items())
        return ("free text" if col.free_text else "short texts") + " with " + found
    return "personal data"
