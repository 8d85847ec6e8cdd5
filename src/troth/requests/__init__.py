"""Requests from the people the data is about: access, portability, correction, deletion,
restriction, objection and account closure, tracked against their legal deadlines.

    svc = troth.open(home).requests                  # a RequestService
    req = svc.open("delete", email="ann@example.com")  # acknowledged, code mailed
    svc.verify(req.id, code)                          # or svc.verify_by_staff(...)
    svc.execute(req.id)                               # troth + connected datasets, reported

Modules: ``states`` (kinds, states, allowed moves), ``kinds`` (one handler module per kind:
how it is recognised, worded and carried out), ``deadlines`` (legal deadlines as data),
``service`` (the service, composed of: ``steps``, ``intake``, ``verification``,
``decisions``, ``reading``, ``runner``, ``bulk``, ``exports``, ``offboard``,
``request_log``), ``mailbox`` (e-mail recognition), ``letters`` (what the person is told),
``execution``/``bulk_store``/``erasure`` (troth's own part of each kind),
``holdings``/``package`` (exports), ``connected`` (the home's connected datasets),
``tables``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Channel",
    "ExportLink",
    "IngestReport",
    "RequestKind",
    "RequestRecord",
    "RequestService",
    "RequestState",
]

_WHERE = {
    "Channel": "troth.requests.states",
    "RequestKind": "troth.requests.states",
    "RequestState": "troth.requests.states",
    "ExportLink": "troth.requests.record",
    "IngestReport": "troth.requests.record",
    "RequestRecord": "troth.requests.record",
    "RequestService": "troth.requests.service",
}


def __getattr__(name: str) -> Any:
    # Lazy: importing troth.requests.deadlines must not pull in the whole service.
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(name)
