"""The query parameters the console's lists share, declared once with their bounds (a
longer value is a 422 before any handler runs): short text, a day as typed (YYYY-MM-DD),
a one-word choice (a state, an outcome) and the page number."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

Short = Annotated[str | None, Query(max_length=80)]
Day = Annotated[str | None, Query(max_length=10)]
Word = Annotated[str | None, Query(max_length=10)]
PageNo = Annotated[int | None, Query(alias="page", ge=1, le=1_000_000)]
