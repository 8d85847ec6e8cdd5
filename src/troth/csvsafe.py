"""CSV files that a spreadsheet opens safely: a cell that begins with ``=``, ``+``, ``-``,
``@`` (or a tab or carriage return, which some spreadsheets strip first) would be read as
a formula, so it is written with a leading ``'`` (OWASP's advice on CSV injection). Every
CSV troth writes for people to open goes through :func:`safe_cell`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """``value`` as CSV text that no spreadsheet evaluates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)  # a negative number stays a number
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The CSV text, a line at a time (for streaming a long list)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([safe_cell(h) for h in header])
    yield buf.getvalue()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        w.writerow([safe_cell(c) for c in row])
        yield buf.getvalue()


def to_csv(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    return "".join(csv_lines(header, rows))
