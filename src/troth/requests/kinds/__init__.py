"""The request kinds, one module each, registered by their :class:`RequestKind` value.

A module of this package that declares ``HANDLER`` (a :class:`~.handler.Handler`) is a
kind: :func:`registry` finds it. Adding a kind is its enum value in
:mod:`troth.requests.states` and one module here (and its tests)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from troth.requests.kinds.handler import Handler, Job
from troth.requests.states import RequestKind

__all__ = ["Handler", "Job", "handler_for", "registry"]


@cache
def registry() -> Mapping[RequestKind, Handler]:
    """Every kind's handler, by kind, in the order of :class:`RequestKind`."""
    found: dict[RequestKind, Handler] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        handler = getattr(module, "HANDLER", None)
        if handler is None:
            continue
        if not isinstance(handler, Handler):
            raise TypeError(f"{module.__name__}.HANDLER is not a Handler")
        if handler.kind in found:
            raise RuntimeError(f"request kind {handler.kind} is declared twice")
        found[handler.kind] = handler
    return MappingProxyType({k: found[k] for k in RequestKind if k in found})


def handler_for(kind: RequestKind | str) -> Handler:
    """The handler of ``kind``; KeyError for a kind no module declares."""
    return registry()[RequestKind(kind)]
