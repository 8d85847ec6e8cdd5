"""The policy as an application reaches it: ``t.policy`` (:class:`PolicyService`).

The version in force, its published history, what a candidate would change, publishing
it, and the record of processing. Each operation but reading the version in force needs
the office power ``publish_policy`` (troth.office; a refusal is audited). The work is
done where it always was (``troth.notices.publish``, ``troth.policy.ropa``); this is the one
door to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, cast

from troth.context import Context
from troth.gate import SYSTEM, Actor
from troth.policy.changes import PolicyDiff
from troth.policy.index import PolicyIndex
from troth.policy.model import Policy

if TYPE_CHECKING:
    from troth.notices.preview import PublishPreview
    from troth.notices.publish import PublishResult
    from troth.policy.ropa import RecordOfProcessing

__all__ = ["PolicyService", "PolicyVersion"]


class PolicyVersion(TypedDict):
    """One published version, as :meth:`PolicyService.versions` lists it."""

    version: str
    effective: str  # ISO date
    published_at: str  # ISO date-time
    material: bool
    changes: list[Mapping[str, object]]
    digest: str
    values_collected_under: int


@dataclass(frozen=True, slots=True)
class PolicyService:
    """One home's policy: the version in force, history, diff, publish, ROPA."""

    ctx: Context

    @property
    def current(self) -> Policy:
        """The policy in force (the parsed model: purposes, categories, roles...)."""
        return self.ctx.policy.policy

    @property
    def index(self) -> PolicyIndex:
        """The policy in force compiled for decisions."""
        return self.ctx.policy

    @property
    def version(self) -> str:
        """The version in force."""
        return self.ctx.policy.version

    def versions(self, *, actor: Actor = SYSTEM) -> list[PolicyVersion]:
        """Every published version, newest first, with its material changes (P34, P36)."""
        from troth.policy.versions import policy_history

        return cast(list[PolicyVersion], policy_history(self.ctx, actor=actor))

    def diff(self, new: Policy | Path | str, *, actor: Actor = SYSTEM) -> PolicyDiff:
        """What publishing ``new`` (a policy, or the path of a policy file) would change
        against the version in force; a file that does not validate raises PolicyError."""
        from troth.notices.preview import diff_candidate
        from troth.policy.loader import load_policy

        policy = new if isinstance(new, Policy) else load_policy(Path(new))
        return diff_candidate(self.ctx, policy, actor=actor)

    def preview(
        self, path: Path | str, *, effective: date | None = None, actor: Actor = SYSTEM
    ) -> PublishPreview:
        """What :meth:`publish` would do with the file at ``path``, doing nothing."""
        from troth.notices.preview import preview_publish

        p = Path(path)
        return preview_publish(
            self.ctx, p.read_text(encoding="utf-8"), p.name, effective=effective, actor=actor
        )

    def publish(
        self,
        path: Path | str,
        *,
        effective: date | None = None,
        actor: Actor = SYSTEM,
        expect_digest: str | None = None,
    ) -> PublishResult:
        """Publish the policy file at ``path`` as the version in force: notices, the
        notice period, re-consent and notice e-mails follow (P07, P08, P34-P36)."""
        from troth.notices.publish import publish_policy

        return publish_policy(
            self.ctx, path, effective=effective, actor=actor, expect_digest=expect_digest
        )

    def ropa(self, *, actor: Actor = SYSTEM) -> RecordOfProcessing:
        """The record of processing activities of the version in force (GDPR Art. 30)."""
        from troth.policy.ropa import office_record

        return office_record(self.ctx, actor)
