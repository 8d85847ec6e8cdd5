"""The console's lists: a page of rows with where it stands ("showing 51-100 of 2,340",
next and previous) and the same filtered list as a CSV download (injection-safe cells)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.responses import Response, StreamingResponse

from troth.csvsafe import csv_lines
from troth.errors import ValidationError

PAGE_SIZE = 50


@dataclass(frozen=True)
class Paging:
    """Page ``page`` (from 1) of ``total`` rows, ``size`` a page."""

    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.size, self.total)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def words(self) -> str:
        if not self.total:
            return "nothing matches"
        return f"showing {self.first:,}-{self.last:,} of {self.total:,}"


def paging(page: int | None, total: int, size: int = PAGE_SIZE) -> Paging:
    """The page asked for, kept within the list (a page past the end shows the last)."""
    p = Paging(1, total, size)
    return Paging(min(max(page or 1, 1), p.pages), total, size)


T = TypeVar("T")


def fetch_page(
    fetch: Callable[[int, int], tuple[list[T], int]], page_no: int | None, size: int = PAGE_SIZE
) -> tuple[list[T], Paging]:
    """One page of a list and its paging from ``fetch(limit, offset)`` -> (items, total),
    read once; read again only when the page asked for is past the end (it shows the
    last)."""
    asked = max(page_no or 1, 1)
    items, total = fetch(size, (asked - 1) * size)
    p = paging(asked, total, size)
    if p.page != asked:
        items, total = fetch(size, p.offset)
        p = paging(p.page, total, size)
    return items, p


def every_item(fetch: Callable[[int, int], tuple[list[T], int]], batch: int = 1000) -> Iterator[T]:
    """Every item of a list from ``fetch(limit, offset)``, ``batch`` at a time, for a CSV
    download. The first batch is read now, so a refusal comes before the response starts."""
    first, _total = fetch(batch, 0)

    def items() -> Iterator[T]:
        part, offset = first, 0
        while part:
            yield from part
            if len(part) < batch:
                return
            offset += batch
            part, _total = fetch(batch, offset)

    return items()


def query(filters: Mapping[str, Any], **more: Any) -> str:
    """The filters (and ``more``) as a query string, empty values left out."""
    items = {**filters, **more}
    return urlencode({k: v for k, v in items.items() if v not in (None, "")})


def paged(shown: Mapping[str, Any], p: Paging) -> dict[str, Any]:
    """What every filtered, paged list page shows besides its rows: the filters as given
    (``f``), where the page stands (``paging``) and the query strings of this page, the
    previous one and the next one (``qs``, ``prev_qs``, ``next_qs``)."""
    return {
        "f": shown,
        "paging": p,
        "qs": query(shown),
        "prev_qs": query(shown, page=p.page - 1),
        "next_qs": query(shown, page=p.page + 1),
    }


def list_filters(
    q: Mapping[str, str | None],
    *,
    text: tuple[str, ...],
    dates: tuple[str, str] = ("since", "until"),
    **kw: Any,
) -> dict[str, Any]:
    """A filtered list's query as the form shows it back (``shown``: every value, empty for
    none) and as its lister takes it (``kw``): the ``text`` filters (empty = any), the UTC
    days ``since`` to ``until`` as a range under the names ``dates``, and the caller's own
    ``kw``. A bad date says what to fix."""
    shown = {k: v or "" for k, v in q.items()}
    kw |= {k: q[k] or None for k in text}
    start, end = dates
    kw |= {start: day_start(q["since"], "since"), end: day_end(q["until"], "until")}
    return {"shown": shown, "kw": kw}


def day_start(value: str | None, name: str) -> datetime | None:
    """A date field (YYYY-MM-DD) as the start of that UTC day; empty: None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
    except ValueError:
        raise ValidationError(f"{name}: give a date as YYYY-MM-DD", field=name) from None


def day_end(value: str | None, name: str) -> datetime | None:
    """A date field as the end of that UTC day (the start of the next): "until" includes
    the day given."""
    start = day_start(value, name)
    return start + timedelta(days=1) if start else None


def attachment(filename: str) -> dict[str, str]:
    """The header that makes the browser save the response as ``filename``."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def file_download(body: str | bytes, filename: str, media_type: str) -> Response:
    """A whole file the browser saves as ``filename``."""
    return Response(body, media_type=media_type, headers=attachment(filename))


def csv_download(filename: str, header: list[str], rows: Iterable[Iterable[Any]]) -> Any:
    """A CSV file streamed as it is written (formula-safe cells)."""
    return StreamingResponse(
        csv_lines(header, rows), media_type="text/csv; charset=utf-8", headers=attachment(filename)
    )


def when(value: datetime | str | None) -> str:
    """A time on one line, to the second, UTC."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:19].replace("T", " ")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
