"""Form posts: parsed once by an async dependency so page handlers stay synchronous (they
run in the thread pool and may block on the database)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from troth.errors import ValidationError
from troth.web import csrf
from troth.web.render import ctx_of

MAX_FIELDS = 200


async def form_data(request: Request) -> dict[str, str]:
    """The posted form as field -> value (text fields only; the last value wins)."""
    try:
        form = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except Exception as exc:  # malformed multipart/urlencoded bodies
        raise ValidationError("the form could not be read; send it again from the page") from exc
    # Repeated fields (ticked boxes, a multiple select) for the pages that read them all.
    request.scope["troth.form_multi"] = {
        k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form
    }
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(form_data)]


def presession_form(request: Request, form: FormDep) -> dict[str, str]:
    """The posted form of a page used before anyone signs in (the logins, an invitation,
    the cookie banner), once its pre-session CSRF token is checked: a forged form changes
    nothing."""
    csrf.check_presession(ctx_of(request), request, form.get(csrf.FIELD))
    return form


PresessionFormDep = Annotated[dict[str, str], Depends(presession_form)]


def local_path(value: str | None, default: str) -> str:
    """Only same-site paths are followed after a form (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default
