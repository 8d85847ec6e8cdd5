"""A use of another tenant's person, in the Python API: the very NotFound an id naming
nobody gets (no oracle, trial 19 F11), while the audit log keeps the truth, a ``use``
refused ``not_a_member`` under the caller's own tenant, naming the id asked for (no tests
here)."""

from __future__ import annotations

from typing import Any

import pytest

from troth.audit.entries import list_entries
from troth.errors import NotFound

NOBODY = "f" * 32


def _said(err: NotFound, subject_id: str) -> tuple[Any, ...]:
    return (
        type(err),
        err.code,
        err.status,
        err.message.replace(subject_id, "ID"),
        {k: str(v).replace(subject_id, "ID") for k, v in err.details.items()},
    )


def assert_unknown_to(t: Any, subject_id: str, purpose: str, actor: Any, **kwargs: Any) -> None:
    """``actor``'s use of ``subject_id`` for ``purpose`` is answered as an unknown id's,
    word for word but the id; its audit entry says ``not_a_member``, filed under the
    caller's tenant, not the person's."""
    with pytest.raises(NotFound) as foreign:
        t.use(subject_id, purpose=purpose, actor=actor, **kwargs)
    (entry,) = list_entries(t.ctx, action="use", outcome="deny", limit=1, newest_first=True)
    with pytest.raises(NotFound) as unknown:
        t.use(NOBODY, purpose=purpose, actor=actor, **kwargs)
    assert _said(foreign.value, subject_id) == _said(unknown.value, NOBODY)
    e = entry.entry
    assert (e.action, e.reason, e.subject_id) == ("use", "not_a_member", None)
    assert e.tenant_id == actor.tenant_id and e.details.get("subject_named") == subject_id
