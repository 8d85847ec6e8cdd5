"""What the organisation holds of its customers' people for its own purposes (``vendor_only``),
answered by its own desk (trial #20 F2).

Where the customers decide about their people (``tenant_controller: customer``) the
organisation is their processor, and a request to its own desk reaches its own people only
(:mod:`troth.requests.elsewhere`). But of the values it keeps for its own purposes (a
hotel's billing contact kept 7 years for its own billing, a guest's card checked for fraud
across hotels) it is the controller, whoever's person the record is filed under: a request
to its desk must answer for those (GDPR Art. 15, 17), never leave them to a customer who
can neither read nor export them.

So a desk request (no tenant) covers, beside the organisation's own record of the address,
the *own part* of every customer's record of that address (any customer, an offboarded one
too; an erased record whose kept values still carry it; the record a request named by id):
each value that serves one of the organisation's own purposes (its tags, or the purpose a
legal minimum restricts it to). Nothing else of the customer's record is read or touched.

- access and portability: the own part is in the copy (its values as the person reads them,
  tagged with the organisation's own purposes only, their consents, disclosures and uses
  for those purposes), and the letter says the organisation holds it as their controller;
- deletion and account closure: a record that holds nothing but the own part is erased as
  one (what a legal minimum of the organisation's keeps is kept, restricted); in a record
  the customer still uses, the values only the organisation's purposes use are deleted
  (or kept, restricted, for their legal minimum), the values the customer uses too are no
  longer used for the organisation's purposes (unbound, unless a legal minimum of its own
  keeps them), and the person's consents to its own purposes end. A legal hold on the
  person or their customer keeps their own part untouched ("legal hold", never which).

The result (``own_purposes``) is the office's; the person's letter says it in words.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, delete, update

from troth.context import Context
from troth.policy.parties import customers_control
from troth.requests.record import LEFT_TO, RequestRecord
from troth.requests.states import RequestKind
from troth.store.values import StoredValue

ERASING = frozenset({RequestKind.delete, RequestKind.close_account})
EXPORTING = frozenset({RequestKind.access, RequestKind.portability})
HELD_WORDS = (
    "Kept while a legal hold requires it: we use it for nothing else, and delete it when"
    " the hold ends."
)


def applies(ctx: Context, req: RequestRecord) -> bool:
    """Whether ``req`` is a request to the organisation's own desk that may reach an own
    part: the customers decide about their people and the policy has purposes of the
    organisation's own."""
    return (
        req.tenant_id is None
        and bool(ctx.policy.vendor_purposes)
        and customers_control(ctx.policy.policy)
    )


def own_purposes(ctx: Context, purposes: Sequence[str], restricted_to: str | None) -> list[str]:
    """The organisation's own purposes a value serves: the one a legal minimum restricts it
    to, if it is one of them, else those of its purposes that are."""
    vendor = ctx.policy.vendor_purposes
    if restricted_to is not None:
        return [restricted_to] if restricted_to in vendor else []
    return [p for p in purposes if p in vendor]


def only_own(ctx: Context, v: StoredValue) -> bool:
    """Whether the value serves the organisation's own purposes only (none of a customer's)."""
    if v.restricted_to is not None:
        return v.restricted_to in ctx.policy.vendor_purposes
    return bool(v.purposes) and all(p in ctx.policy.vendor_purposes for p in v.purposes)


def customers_part(conn: Connection, ctx: Context, subject_id: str) -> bool:
    """Whether a customer's record holds anything of the customer's (a value one of its
    purposes may serve, or no value at all): a record that holds only the organisation's
    own part is not the customer's to decide about, nor to be told of. A record changed
    outside troth counts as the customer's."""
    from troth.errors import TrothError
    from troth.store.values import read_subjects_tags

    if not ctx.policy.vendor_purposes:
        return True
    try:
        found = read_subjects_tags(conn, ctx, [subject_id]).get(subject_id)
    except TrothError:
        return True
    values = found[1] if found else []
    return not values or not all(only_own(ctx, v) for v in values)


def reached(conn: Connection, ctx: Context, req: RequestRecord) -> builtins.list[str]:
    """The customers' records a desk request reaches: every one whose (sealed) e-mail
    identities hold its address, of any customer, offboarded or erased too (an erased one
    keeps its identities beside what the law keeps), and the one it named by id."""
    from troth.errors import NotFound
    from troth.store.identity_seals import live_hits
    from troth.store.subjects import blind_index_lookup, get_subject

    out: set[str] = set()
    if req.email:
        q = blind_index_lookup("email", [ctx.keys.blind_index("email", req.email)])
        hits = live_hits(ctx.keys, "email", conn.execute(q))
        out |= {str(sid) for _h, sid, tenant, _erased in hits if tenant is not None}
    named = req.details.get(LEFT_TO)
    if isinstance(named, str) and named not in out:
        try:
            if get_subject(conn, named, ctx.keys).tenant_id is not None:
                out.add(named)
        except NotFound:
            pass
    return sorted(out - {req.subject_id} if req.subject_id else out)


# -- access ---------------------------------------------------------------------------------
def add_to_export(ctx: Context, req: RequestRecord, body: dict[str, Any]) -> dict[str, Any]:
    """Add the own part of the records ``req`` reaches to an export's ``body`` (values by
    category, consents, disclosures and uses for the organisation's own purposes only);
    returns the office's report of it (``own_purposes``: how many values, for which of its
    purposes, in which records), empty when there is none."""
    from troth.requests.holdings import subject_holdings_many

    if req.kind not in EXPORTING or not applies(ctx, req):
        return {}
    with ctx.engine.connect() as conn:
        sids = reached(conn, ctx, req)
    added, present = 0, set[str]()
    records: builtins.list[dict[str, Any]] = []
    vendor = ctx.policy.vendor_purposes
    for sid, theirs in subject_holdings_many(ctx, sids).items():
        n = added
        for cat, section in theirs["categories"].items():
            ours = []
            for v in section["values"]:
                mine = own_purposes(ctx, v.get("purposes") or (), v.get("restricted_to"))
                if mine:
                    ours.append({**v, "purposes": mine})
                    present.update(mine)
            if ours:
                into = body.setdefault("categories", {}).setdefault(
                    cat, {**{k: x for k, x in section.items() if k != "values"}, "values": []}
                )
                into["values"].extend(ours)
                added += len(ours)
        if added == n:
            continue
        records.append({"subject_id": sid, "found": added - n})
        consents = body.setdefault("consents", {"state": [], "events": []})
        for part in ("state", "events"):
            mine = [c for c in theirs["consents"][part] if c.get("purpose") in vendor]
            consents.setdefault(part, []).extend(mine)
        for part in ("disclosures", "access_log"):
            mine = [d for d in theirs.get(part, []) if d.get("purpose") in vendor]
            body.setdefault(part, []).extend(mine)
    if not added:
        return {}
    return _report(ctx, present, found=added, records=records)


def _report(ctx: Context, present: set[str], **counts: Any) -> dict[str, Any]:
    """The office's ``own_purposes``: who is the controller, of which purposes, counts."""
    org = ctx.policy.policy.organisation.name
    return {"controller": org, "purposes": sorted(present), **counts}


def export_line(ctx: Context, own: Mapping[str, Any]) -> builtins.list[str]:
    """The letter's line for the own part in a copy (none when there is none)."""
    n = int(own.get("found") or 0)
    if not n:
        return []
    return [
        f"Of these, {n} value{'' if n == 1 else 's'} we hold for our own purposes"
        f" ({_purpose_words(ctx, own['purposes'])}): {own['controller']} is their"
        " controller, and they are in your copy."
    ]


# -- erasure --------------------------------------------------------------------------------
def answer(
    conn: Connection,
    ctx: Context,
    req: RequestRecord,
    result: dict[str, Any],
    summary: builtins.list[str],
) -> tuple[dict[str, Any], builtins.list[str]]:
    """An erasure at the desk erases the own part of the records it reaches, in the
    caller's transaction: ``result`` with ``own_purposes`` (the office's report) and the
    letter's ``summary`` with what was done, in words. Anything else: as it is."""
    if req.kind not in ERASING or not applies(ctx, req):
        return result, summary
    reports = [_erase_record(conn, ctx, sid, req.id) for sid in reached(conn, ctx, req)]
    reports = [r for r in reports if r["found"]]
    if not reports:
        return result, summary
    _audit(conn, ctx, req, reports)
    total = {k: sum(int(r[k]) for r in reports) for k in ("found", "deleted", "unbound", "kept")}
    present = {p for r in reports for p in r.pop("purposes")}
    own = _report(ctx, present, **total, records=reports)
    why = [k.get("words") or k["reason"] for r in reports for k in r["kept_because"]]
    return {**result, "own_purposes": own}, [*summary, _erasure_line(ctx, own), *why]


def _audit(
    conn: Connection, ctx: Context, req: RequestRecord, reports: Sequence[Mapping[str, Any]]
) -> None:
    """One entry per record whose own part the request erased, under the person (never
    their customer's log: it is the organisation's own data), with the counts."""
    from troth.audit.entry import AuditEntry, Outcome
    from troth.audit.log import append_entries

    counts = ("found", "deleted", "unbound", "kept")
    entries = [
        AuditEntry(
            action="request.own_part",
            actor="system:troth",
            outcome=Outcome.info,
            subject_id=r["subject_id"],
            details={"request_id": req.id, "kind": req.kind.value, **{k: r[k] for k in counts}},
        )
        for r in reports
    ]
    append_entries(conn, ctx.clock.now(), entries)


def _erase_record(conn: Connection, ctx: Context, sid: str, request_id: str) -> dict[str, Any]:
    """Erase the own part of one customer's record (see the module); its report."""
    from troth.requests import execution
    from troth.requests.deferral import holds_on
    from troth.store.subjects import get_subject
    from troth.store.values import read_values

    subj = get_subject(conn, sid, ctx.keys)
    values = read_values(conn, ctx, sid)
    own = [v for v in values if own_purposes(ctx, v.purposes, v.restricted_to)]
    report: dict[str, Any] = {"subject_id": sid, "found": len(own), "deleted": 0, "unbound": 0}
    mine = {p for v in own for p in own_purposes(ctx, v.purposes, v.restricted_to)}
    report.update(kept=0, kept_because=[], purposes=sorted(mine))
    if not own:
        return report
    if holds_on(conn, [sid]).get(sid):
        cats = sorted({v.category for v in own})
        report.update(kept=len(own))
        report["kept_because"].append(
            {"rows": len(own), "reason": "legal hold", "words": HELD_WORDS, "categories": cats}
        )
        return report
    if subj.erased_at is None and all(only_own(ctx, v) for v in values):
        # Nothing of the customer's is left in it: the record is ours, erased as one.
        done = execution.erase_in_store(conn, ctx, sid)
        report.update({k: done[k] for k in ("deleted", "kept", "kept_because")}, erased=True)
        return report
    return _erase_part(conn, ctx, subj, own, request_id, report)


def _erase_part(
    conn: Connection,
    ctx: Context,
    subj: Any,
    own: Sequence[StoredValue],
    request_id: str,
    report: dict[str, Any],
) -> dict[str, Any]:
    """The own part of a record the customer still uses (or an erased one's kept values):
    deleted, unbound or kept for a legal minimum of the organisation's own."""
    from troth.consent import ConsentLedger
    from troth.consent.events import ConsentKind, ConsentMethod
    from troth.consent.state import active_purposes
    from troth.requests import execution
    from troth.store.reindex import sync_identities
    from troth.store.seals import reseal
    from troth.store.tables import records
    from troth.store.values import read_values

    now = ctx.clock.now()
    scoped = [
        replace(v, purposes=tuple(own_purposes(ctx, v.purposes, v.restricted_to))) for v in own
    ]
    kept = execution.kept_groups(execution.legal_keeps(ctx, scoped, now.date()), scoped)
    keep = {v.id for vals in kept.values() for v in vals}
    alone = {v.id for v in own if only_own(ctx, v)}
    for (purpose, until), vals in sorted(kept.items()):
        ids = [v.id for v in vals if v.id in alone]  # a shared value stays bound, unrestricted
        if ids:
            conn.execute(
                update(records)
                .where(records.c.id.in_(ids))
                .values(restricted_to=purpose, restricted_until=until, updated_at=now)
            )
            reseal(conn, ctx.keys, ids)
        report["kept_because"].append(execution.kept_because(ctx, purpose, until, vals))
    gone = [v.id for v in own if v.id in alone and v.id not in keep]
    if gone:
        conn.execute(delete(records).where(records.c.id.in_(gone)))
    shared = [v for v in own if v.id not in alone and v.id not in keep]
    for v in shared:  # the customer's purposes only (read and checked above)
        theirs = [p for p in v.purposes if p not in ctx.policy.vendor_purposes]
        conn.execute(
            update(records).where(records.c.id == v.id).values(purposes=theirs, updated_at=now)
        )
    reseal(conn, ctx.keys, [v.id for v in shared])
    report.update(deleted=len(gone), unbound=len(shared), kept=len(keep))
    if subj.erased_at is None:
        ledger = ConsentLedger(ctx)
        for p in sorted(active_purposes(conn, subj.id) & ctx.policy.vendor_purposes):
            ledger.record_opt_out(
                conn, subj.id, p, kind=ConsentKind.erasure, method=ConsentMethod.request,
                actor="system:troth", at=now, details={"request_id": request_id},
            )  # fmt: skip
        if gone:
            left = read_values(conn, ctx, subj.id)
            sync_identities(conn, ctx, subj.id, subj.jurisdiction, left)
    return report


def _erasure_line(ctx: Context, total: Mapping[str, Any]) -> str:
    """The letter's line for the own part of an erasure."""
    n = total["found"]
    done = [f"{total['deleted']} deleted"]
    if total["unbound"]:
        done.append(f"{total['unbound']} no longer used for them (the rest is the customers')")
    if total["kept"]:
        done.append(f"{total['kept']} kept (why, below)")
    return (
        f"What we held about you for our own purposes"
        f" ({_purpose_words(ctx, total['purposes'])}), of which {total['controller']} is"
        f" the controller: {n}"
        f" value{'' if n == 1 else 's'} found; {', '.join(done)}."
    )


def _purpose_words(ctx: Context, purposes: Sequence[str]) -> str:
    """The organisation's own ``purposes`` in the policy's words, in one phrase."""
    words = []
    for pid in sorted(purposes):
        p = ctx.policy.purposes[pid]
        words.append((p.description or pid.replace("_", " ")).strip().rstrip("."))
    return "; ".join(words)
