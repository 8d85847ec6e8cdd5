"""One way to say no: every refusal is audited through troth.audit.refusals, reason codes
come from troth.gate.Reason, and no exception carries control flow.

The first tests read the source (AST) so that a new module cannot slip back into the old
patterns; the rest check what the helper does on a real home."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
import sqlalchemy as sa

import troth
import troth.errors
from troth.audit.entries import list_entries
from troth.audit.log import transaction
from troth.audit.refusals import denial, refuse
from troth.audit.verify import verify_log
from troth.consent.tables import consent_events
from troth.errors import NotFound, Refused
from troth.gate import Actor, ActorKind, Reason
from troth.store.tables import records, subjects

SRC = Path(troth.__file__).parent
HELPER = SRC / "audit" / "refusals.py"
ERRORS = set(troth.errors.__all__) | {"TrothError"}
STAFF = Actor(ActorKind.staff, "sam", role="support")


@functools.cache
def _modules() -> list[tuple[Path, ast.Module]]:
    """troth's modules parsed once per test process (three tests read them)."""
    return [
        (p, ast.parse(p.read_text(encoding="utf-8"), str(p)))
        for p in sorted(SRC.rglob("*.py"))
        if "migrations" not in p.parts
    ]


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(SRC.parent)}:{getattr(node, 'lineno', '?')}"


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_text(node: ast.expr) -> bool:
    """A reason written as text: a literal, an f-string, or ``something.code``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.Attribute) and node.attr == "code"


def _is_deny(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute) and node.attr == "deny" and _name(node.value) == "Outcome"
    )


def test_no_unreachable_assertions() -> None:
    found = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if _name(exc) == "AssertionError" and "unreachable" in ast.unparse(node.exc):
                    found.append(_where(path, node))
    assert found == [], f"raise AssertionError('unreachable') at {found}: type it NoReturn"


def test_no_control_flow_exceptions() -> None:
    """Refused is not subclassed outside troth/errors.py, and no module defines a private
    exception (``_Deferred``, ``_Refusal``) or one named like a deferral: a refusal
    decided inside a transaction is returned as a value (troth.audit.refusals.Refusal)."""
    found = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {_name(b) for b in node.bases}
            exception = any(b.endswith(("Error", "Exception")) or b in ERRORS for b in bases)
            refused = "Refused" in bases and path.name != "errors.py"
            private = node.name.startswith("_") and exception
            named = exception and any(
                w in node.name.lower() for w in ("deferred", "refusal", "unwind", "abort")
            )
            if refused or private or named:
                found.append(f"{_where(path, node)} class {node.name}")
    assert found == [], f"control-flow exceptions: {found}"


def test_reasons_only_from_the_enum_and_denials_only_through_the_helper() -> None:
    """``Refused(...)`` and any call that records ``outcome=Outcome.deny`` never take a
    reason written as text; an ``AuditEntry`` with ``Outcome.deny`` is built only by the
    helper (``denial``/``refuse``)."""
    found = []
    for path, tree in _modules():
        if path == HELPER:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            reason = kw.get("reason")
            called = _name(node.func)
            denies = any(_is_deny(v) for v in kw.values()) or any(_is_deny(a) for a in node.args)
            if called == "Refused" and reason is not None and _is_text(reason):
                found.append(f"{_where(path, node)} Refused(reason={ast.unparse(reason)})")
            if called == "Refused" and isinstance(reason, ast.Attribute) and reason.attr == "value":
                found.append(f"{_where(path, node)} Refused(reason=<Reason>.value)")
            if denies and reason is not None and _is_text(reason):
                found.append(f"{_where(path, node)} deny with reason={ast.unparse(reason)}")
            if called == "AuditEntry" and denies:
                found.append(f"{_where(path, node)} AuditEntry(..., Outcome.deny): use denial")
    assert found == [], "\n".join(found)


def test_the_source_rules_catch_the_old_patterns() -> None:
    """The checks above are not vacuous: the patterns they forbid are recognised."""
    old = ast.parse(
        "class _Deferred(Refused): pass\n"
        "raise AssertionError('unreachable')\n"
        "Refused('no', reason='no_grant')\n"
        "AuditEntry('x', 'y', Outcome.deny, reason='no_consent')\n"
    )
    calls = [n for n in ast.walk(old) if isinstance(n, ast.Call)]
    assert any(_name(c.func) == "Refused" and _is_text(c.keywords[0].value) for c in calls)
    assert any(_name(c.func) == "AuditEntry" and _is_deny(c.args[2]) for c in calls)
    cls = next(n for n in ast.walk(old) if isinstance(n, ast.ClassDef))
    assert cls.name.startswith("_") and _name(cls.bases[0]) == "Refused"


# -- behaviour ---------------------------------------------------------------------------
def _entries(t, action: str) -> list:
    return [e.entry for e in list_entries(t.ctx, limit=1000) if e.entry.action == action]


def _count(t, table) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_refuse_audits_once_with_the_reason_then_raises(home, db_url) -> None:
    t = home("mindlink", db_url)
    with pytest.raises(Refused) as exc:
        refuse(
            t.ctx,
            "test.refuse",
            STAFF,
            Reason.no_grant,
            "ask the customer for a grant",
            tenant_id="t1",
            details={"record": "profile"},
            shown={"subject_id": "s1"},
        )
    assert exc.value.reason == "no_grant"
    assert exc.value.to_dict() == {
        "code": "refused",
        "status": 403,
        "message": "ask the customer for a grant",
        "reason": "no_grant",
        "subject_id": "s1",
    }
    [entry] = _entries(t, "test.refuse")
    assert entry.outcome.value == "deny" and entry.reason == "no_grant"
    assert entry.actor == "staff:sam" and entry.tenant_id == "t1"
    assert dict(entry.details) == {"record": "profile"}
    assert verify_log(t.ctx).ok


def test_refuse_raises_the_error_named(home) -> None:
    """An edge that answers 404 for another tenant's id still has the refusal audited."""
    t = home("mindlink")
    with pytest.raises(NotFound, match="no subject"):
        refuse(
            t.ctx,
            "test.hidden",
            "anonymous",
            Reason.not_a_member,
            error=NotFound("no subject 'x'"),
        )
    [entry] = _entries(t, "test.hidden")
    assert entry.reason == "not_a_member" and entry.actor == "anonymous"


def test_refuse_in_the_callers_transaction_stands_or_falls_with_it(home) -> None:
    t = home("mindlink")
    with transaction(t.ctx) as conn, pytest.raises(Refused):
        refuse(t.ctx, "test.kept", STAFF, Reason.no_consent, "no", conn=conn)
    with pytest.raises(RuntimeError), transaction(t.ctx) as conn:
        with pytest.raises(Refused):
            refuse(t.ctx, "test.lost", STAFF, Reason.no_consent, "no", conn=conn)
        raise RuntimeError("the caller fails after catching the refusal")
    assert len(_entries(t, "test.kept")) == 1
    assert _entries(t, "test.lost") == []


def test_denial_names_the_reason_value() -> None:
    entry = denial("mail.suppressed", "system", Reason.subject_erased, categories=("b", "a"))
    assert entry.reason == "subject_erased" and entry.outcome.value == "deny"
    assert entry.categories == ("b", "a")


def test_a_refusal_decided_mid_collection_is_audited_once_and_nothing_is_stored(
    home, db_url
) -> None:
    """The gate refuses a field after the person would be created and their consent
    recorded: the refusal is returned, not raised, the transaction writes nothing, and the
    refusal alone is audited (once), after it."""
    t = home("mindlink", db_url)
    before = len(list_entries(t.ctx, limit=1000))
    with pytest.raises(Refused, match="'city'") as exc:
        t.collect(
            "newsletter_signup",
            {"name": "Nia", "email": "nia@example.com", "city": "Oslo"},
            consents=["service_updates"],
        )
    assert exc.value.reason == "no_consent"
    assert _count(t, subjects) == 0 and _count(t, records) == 0
    assert _count(t, consent_events) == 0
    after = list_entries(t.ctx, limit=1000)
    assert len(after) == before + 1
    [entry] = [e.entry for e in after if e.entry.action == "collect"]
    assert entry.outcome.value == "deny" and entry.reason == "no_consent"
    assert dict(entry.details) == {"point": "newsletter_signup", "field": "city"}
    assert verify_log(t.ctx).ok
    # The same person with the consent the field needs is collected.
    r = t.collect(
        "newsletter_signup",
        {"name": "Nia", "email": "nia@example.com", "city": "Oslo"},
        consents=["newsletter"],
    )
    assert r.stored == 3 and _count(t, subjects) == 1


def test_a_refused_disclosure_is_audited_once_and_records_nothing(home) -> None:
    from troth.disclosures.tables import disclosures

    t = home("mindlink")
    r = t.collect("contact_form", {"email": "a@example.com", "message": "hi"})
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(r.subject_id, "nobody-listed", "enquiries", STAFF)
    assert exc.value.reason == "recipient_not_listed"
    assert exc.value.details["recipient"] == "nobody-listed"
    [entry] = _entries(t, "disclose")
    assert entry.reason == "recipient_not_listed" and entry.subject_id == r.subject_id
    assert _count(t, disclosures) == 0
