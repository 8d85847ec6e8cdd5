"""One log line and one set of metrics per HTTP request, and the server's logging setup.

Each request gets a request id (a caller's ``X-Request-Id`` of 8-64 letters, digits, ``-``
or ``_``, else a new one), returned in ``X-Request-Id``. The line names the method, the
route *template*, the status, the duration and the request id: never the path as sent,
the query string, a header or the body, so no e-mail address, phone number, token or id
reaches the log. uvicorn's own access log (which prints the raw path and query) is off.

``log_format = "json"`` (or ``troth serve --log-format json``): every log record, troth's
and uvicorn's, is one JSON object a line.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
import weakref
from datetime import UTC, datetime
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from troth.operations import metrics
from troth.operations.asgi import HttpMiddleware

log = logging.getLogger("troth.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# New request ids: 16 random hex digits per process, then a counter (unique across the
# server's processes and restarts without a uuid4's cost on every request).
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def _new_id() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"


# Fields a request line carries (and the only extra fields the JSON formatter writes).
FIELDS = ("method", "route", "status", "duration_ms", "request_id")


def route_template(scope: Scope, templates: dict[int, str]) -> str:
    """The full template of the route that answered (``/api/v1/subjects/{subject_id}``).

    A route of an included router knows only its own part of the path, so the full one
    is looked up by its endpoint in ``templates`` (:func:`route_templates`)."""
    route = scope.get("route")
    if route is None:
        return metrics.UNMATCHED
    endpoint = getattr(route, "endpoint", None)
    if endpoint is not None and id(endpoint) in templates:
        return templates[id(endpoint)]
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return metrics.UNMATCHED
    if endpoint is None:  # a mount: the static files
        return f"{path}/{{path}}"
    return path or "/"


def route_templates(routes: Any) -> dict[int, str]:
    """id(endpoint) -> the route's full path template, for every route of an app."""
    out: dict[int, str] = {}
    for r in routes:
        candidates = getattr(r, "effective_candidates", None)
        if candidates is not None:  # an included router (FastAPI)
            out.update(route_templates(candidates()))
        elif getattr(r, "endpoint", None) is not None and isinstance(getattr(r, "path", None), str):
            out[id(r.endpoint)] = r.path
    return out


_TEMPLATES: weakref.WeakKeyDictionary[Any, dict[int, str]] = weakref.WeakKeyDictionary()


def template_of(scope: Scope) -> str:
    """The full route template of a request's scope (after routing), for log lines."""
    app = scope.get("app")
    if app is None:
        return route_template(scope, {})
    templates = _TEMPLATES.get(app)
    if templates is None:
        templates = _TEMPLATES[app] = route_templates(getattr(app, "routes", ()))
    return route_template(scope, templates)


class Observe(HttpMiddleware):
    """Pure ASGI middleware (outermost): request id, metrics, one log line."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        sent = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                sent = value.decode("latin-1")
                break
        request_id = sent if sent and _REQUEST_ID.match(sent) else _new_id()
        scope["troth.request_id"] = request_id  # for the error log (troth.api.limits)
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            route = template_of(scope)
            method = str(scope.get("method", "GET"))
            method = method if method in metrics.METHODS else "OTHER"  # a client's word
            metrics.observe_request(method, route, status, seconds)
            if log.isEnabledFor(logging.INFO):
                duration_ms = round(seconds * 1000, 2)
                log.info(
                    "%s %s %s %.2fms %s",
                    method,
                    route,
                    status,
                    duration_ms,
                    request_id,
                    extra={
                        "troth": {
                            "method": method,
                            "route": route,
                            "status": status,
                            "duration_ms": duration_ms,
                            "request_id": request_id,
                        }
                    },
                )


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, and a request line's
    fields. Exceptions keep their type and message, not the traceback's locals."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "troth", None)
        if isinstance(fields, dict):
            out["event"] = "http_request"
            out.update({k: fields[k] for k in FIELDS if k in fields})
        else:
            out["message"] = record.getMessage()
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def logging_config(log_format: str, level: str = "info") -> dict[str, Any]:
    """``logging.config.dictConfig`` for the server (uvicorn's ``log_config``): troth's and
    uvicorn's loggers to stderr as text or JSON; uvicorn's access log silenced (troth's
    request line replaces it)."""
    lvl = level.upper()
    formatter: dict[str, Any] = (
        {"()": f"{JsonFormatter.__module__}.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"troth": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "troth",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "troth": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            # The raw path and query string: never logged.
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }
