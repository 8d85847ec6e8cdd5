"""Portability: the same package as access (its JSON and CSVs are the
machine-readable form), asked for to take elsewhere."""

from __future__ import annotations

from troth.requests.kinds.access import export
from troth.requests.kinds.handler import Handler
from troth.requests.states import RequestKind

HANDLER = Handler(
    kind=RequestKind.portability,
    words="your data in a machine-readable form",
    noun="portability",
    phrases=r"\bportability\b|\b(port|transfer|move)\s+my\s+(personal\s+)?data\b"
    r"|\bmachine[- ]readable\b",
    rank=30,
    run=export,
    implies=frozenset({RequestKind.access}),
    exports=True,
    batch_export=True,
)
