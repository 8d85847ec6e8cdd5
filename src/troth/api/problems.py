"""Every error that leaves troth over HTTP, translated in one place into an RFC 9457
problem document::

    {"type": "urn:troth:problem:refused", "title": "Forbidden", "status": 403,
     "detail": "purpose 'newsletter' needs the person's consent, and there is none",
     "code": "refused", "reason": "no_consent"}

served as ``application/problem+json`` (API) or as an HTML page with the same status (web).
Never a stack trace: anything unexpected becomes a 500 ``internal_error`` and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Mount

from troth.errors import TamperedValue, TrothError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("troth.http")

HtmlRenderer = Callable[[Request, dict[str, Any]], Response]

# Problem codes for plain HTTP errors raised by the framework (routing, methods...).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


def problem(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    """A problem document: RFC 9457 members plus troth's ``code`` (and ``reason``...)."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": f"urn:troth:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    for key, value in extra.items():
        if key not in body and value is not None:
            body[key] = _plain(value)
    return body


def problem_response(body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(
        dict(body),
        status_code=int(body["status"]),
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def problem_for(exc: Exception) -> dict[str, Any]:
    """The problem document for any exception (the one translation table). An error with
    a ``shown_as`` (a refusal of another tenant's person) is answered as that error."""
    if isinstance(exc, TrothError):
        exc = exc.shown()
        data = exc.to_dict()
        data.pop("code", None)
        data.pop("status", None)
        message = data.pop("message", exc.message)
        return problem(exc.status, exc.code, message, **data)
    if isinstance(exc, RequestValidationError):
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(
                400,
                "malformed_json",
                "the request body is not valid JSON; send a JSON object",
            )
        issues = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")).removeprefix("Value error, "),
            }
            for e in errors[:20]
        ]
        first = issues[0] if issues else {"loc": [], "msg": "invalid"}
        where = ".".join(x for x in first["loc"] if x != "body") or "request"
        return problem(
            422,
            "invalid_input",
            f"{where}: {first['msg']}; fix the request (see `errors`)",
            errors=issues,
        )
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such page or endpoint; the API lives under /api/v1 (see /docs)"
        return problem(exc.status_code, code, detail)
    return problem(500, "internal_error", "troth failed unexpectedly; the error was logged")


def install_problem_handlers(app: FastAPI, html: HtmlRenderer | None = None) -> None:
    """Route every exception through :func:`problem_for`; HTML pages get ``html``."""

    def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, TamperedValue):
            _audit_tampered(request, exc)
        body = problem_for(exc)
        if body["status"] >= 500:
            from troth.operations.httplog import template_of

            # The route's template and the request id, never the path as sent.
            route = template_of(request.scope)
            request_id = request.scope.get("troth.request_id", "-")
            log.error("%s %s failed (request %s)", request.method, route, request_id, exc_info=exc)
        headers = {}
        if body["status"] == 401 and request.url.path.startswith("/api/"):
            headers["WWW-Authenticate"] = 'Bearer realm="troth"'
        if body["status"] == 429 and isinstance(body.get("retry_after"), int):
            headers["Retry-After"] = str(body["retry_after"])
        if isinstance(exc, StarletteHTTPException) and exc.headers:
            headers.update(exc.headers)  # e.g. Retry-After
        if body["status"] == 405:
            headers["Allow"] = allowed_methods(request)
        if html is not None and wants_html(request):
            page = html(request, body)
            page.headers.update(headers)
            return page
        return problem_response(body, headers)

    for exc_type in (TrothError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(exc_type, handle)
    app.state.problem_handler = handle


def _audit_tampered(request: Request, exc: TamperedValue) -> None:
    """A read that met a value troth never writes is answered 409 ``record_tampered``, its
    refusal audited once (troth.audit.unreadable; the handler runs in a worker thread)."""
    from troth.audit.unreadable import audit_refusal
    from troth.operations.httplog import template_of

    ctx = getattr(request.app.state, "ctx", None)
    if ctx is not None:
        audit_refusal(ctx, exc, f"{request.method} {template_of(request.scope)}")


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a 405 (RFC 9110): each method some route at this path takes,
    found by asking the routes (the framework names only the first route that matched)."""
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in getattr(request.app, "routes", ())
            if not isinstance(route, Mount)
        )
    ]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return ", ".join(allowed)


def wants_html(request: Request) -> bool:
    """Pages for people get HTML errors; the API, OpenAPI and JSON clients get problems."""
    path = request.url.path
    if path.startswith(("/api/", "/openapi", "/.well-known/")):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "POST"


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)
