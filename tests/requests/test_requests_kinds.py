"""The request-kind registry: every RequestKind has exactly one handler module in
troth.requests.kinds, and nothing else is registered."""

from __future__ import annotations

import re

from troth.requests.kinds import Handler, handler_for, registry
from troth.requests.states import RequestKind


def test_the_registry_covers_every_kind_and_nothing_else() -> None:
    kinds = registry()
    assert list(kinds) == list(RequestKind)
    for kind, handler in kinds.items():
        assert isinstance(handler, Handler) and handler.kind is kind
        assert handler_for(kind.value) is handler
        assert handler.words and handler.noun and callable(handler.run)
        re.compile(handler.phrases)
        assert not handler.implies & {kind}, f"{kind} implies itself"
    assert len({h.rank for h in kinds.values()}) == len(kinds), "two kinds share a rank"


def test_only_the_erasures_batch_and_only_access_and_portability_export() -> None:
    kinds = registry()
    batched = {k for k, h in kinds.items() if h.batch is not None}
    assert batched == {RequestKind.delete, RequestKind.close_account}
    assert {k for k, h in kinds.items() if h.exports} == {
        RequestKind.access,
        RequestKind.portability,
    }
    # The exports batch in execute_many, through access's run (bulk_export packages for it).
    from troth.requests.kinds.access import export

    assert {k for k, h in kinds.items() if h.batch_export} == {
        RequestKind.access,
        RequestKind.portability,
    }
    assert all(h.run is export for h in kinds.values() if h.batch_export)
