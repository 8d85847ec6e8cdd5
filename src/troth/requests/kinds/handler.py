"""What a request kind is to the rest of troth: a :class:`Handler` (how e-mail phrases it,
how letters name it, how it is carried out, whether it batches) that its module in this
package declares as ``HANDLER``. The runner, intake, letters, bulk runs and the command
line ask the registry (:func:`troth.requests.kinds.handler_for`), never the kind itself.

Light on purpose: the handlers' modules import what carrying a kind out needs inside
their ``run`` (the command line reads the registry for its help)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from troth.requests.states import RequestKind

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from troth.connectors import Connector, Identities
    from troth.context import Context
    from troth.gate import Actor
    from troth.requests.record import ExportLink, RequestRecord
    from troth.requests.steps import RequestSteps
    from troth.store.values import StoredValue

BatchStep = Callable[["Connection", "Context", Sequence[str], datetime], None]
"""troth's part of a kind in a bulk erasure batch, before the people's values are erased
(in the batch's transaction): the people's subject ids, and now."""


@dataclass(frozen=True)
class Job:
    """One verified request being carried out, as a kind's ``run`` gets it."""

    steps: RequestSteps
    req: RequestRecord
    connector: Connector | None
    actor: Actor

    @property
    def ctx(self) -> Context:
        return self.steps.ctx

    def values(self) -> list[StoredValue]:
        """The person's values in troth's store (none for a request matched to no one)."""
        from troth.store.values import read_values

        if self.req.subject_id is None:
            return []
        with self.ctx.engine.connect() as conn:
            return read_values(conn, self.ctx, self.req.subject_id)

    def identities(self, values: Sequence[StoredValue] | None = None) -> Identities:
        """Who the person is in the connected datasets: their identifying values and the
        address the request came from; nobody for a request left to the customers who hold
        its address (:mod:`troth.requests.elsewhere`: a row there may be theirs)."""
        from troth.connectors import Identities
        from troth.requests.connected import identities_of
        from troth.requests.elsewhere import left_to_customers

        if left_to_customers(self.ctx, self.req):
            return Identities()
        found = self.values() if values is None else values
        return identities_of(self.ctx, found, {"email": self.req.email})

    def complete(
        self,
        conn: Connection,
        result: dict[str, Any],
        *,
        summary: list[str],
        categories: tuple[str, ...] = (),
        link: ExportLink | None = None,
    ) -> RequestRecord:
        """Store the result, close the request, audit it, tell the person (``summary``)."""
        return self.steps.complete(
            conn, self.req, result, self.actor, categories=categories, link=link, summary=summary
        )


@dataclass(frozen=True)
class Handler:
    """One request kind."""

    kind: RequestKind
    words: str
    """What the person asked for, in the letters: "We received your request for {words}"."""
    noun: str
    """The kind in a list of kinds ("deletion")."""
    phrases: str
    """A regular expression (case-insensitive) that recognises the kind in an e-mail."""
    rank: int
    """Recognition order: lower is tried first (the more specific phrasings)."""
    run: Callable[[Job], RequestRecord]
    """Carry the request out over troth and the connected datasets, and complete it."""
    implies: frozenset[RequestKind] = frozenset()
    """Kinds whose phrasing this kind's contains ("close my account and delete my data" is
    one closure): a message matching both is this kind."""
    exports: bool = False
    """Completing it makes a download (the person's data as a ZIP)."""
    batch: BatchStep | None = None
    """Erases people: ``execute_many`` runs it batch by batch with this step first; None:
    one by one through ``execute``."""
    batch_export: bool = False
    """Its ``run`` is :func:`troth.requests.kinds.access.export`: ``execute_many`` reads
    and packages a whole batch of these at once (:mod:`troth.requests.bulk_export`)."""
