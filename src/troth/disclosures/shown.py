"""What a person is shown of their disclosures (the privacy centre, the access export,
``troth disclosures list``): each hand-over, newest first, with its recipient, purpose,
categories and fields, the fields sent as their mask (never claimed whole), the legal
demand or the statutory duty it went under; one under a legal demand whose
non-disclosure order runs is left out (P20), unless the office asks for its own view."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select

from troth.context import Context
from troth.disclosures.authority import statutory_duty
from troth.disclosures.logged import Checked, check_demands, demand_of
from troth.disclosures.tables import disclosures, legal_demands
from troth.stored import readable, tolerating

# A person's disclosures, newest first (per person: the statement orders by the person).
_DISCLOSURES_OF = (
    select(
        disclosures,
        legal_demands.c.authority,
        legal_demands.c.instrument,
        legal_demands.c.reference,
        legal_demands.c.gag_until,
        legal_demands.c.recipient.label("demand_recipient"),
        legal_demands.c.recorded_at,
        legal_demands.c.received_at,
    )
    .select_from(
        disclosures.outerjoin(legal_demands, legal_demands.c.id == disclosures.c.legal_demand_id)
    )
    .where(disclosures.c.subject_id.in_(bindparam("sids", expanding=True)))
    .order_by(disclosures.c.subject_id, disclosures.c.at.desc(), disclosures.c.id)
)


def disclosures_shown(
    ctx: Context, subject_ids: Iterable[str], *, include_gagged: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Every disclosure of each person's data, newest first, a statement per 500 people;
    one under a live gag left out unless ``include_gagged`` (the office's own view, which
    marks it ``gagged_until``)."""
    now = ctx.clock.now()
    ids = list(dict.fromkeys(subject_ids))
    out: dict[str, list[dict[str, Any]]] = {sid: [] for sid in ids}
    checked = Checked()
    with ctx.engine.connect() as conn:
        for start in range(0, len(ids), 500):
            params = {"sids": ids[start : start + 500]}
            with tolerating():  # a demand's time changed outside troth: the log's gag
                rows = conn.execute(_DISCLOSURES_OF, params).all()
            # Gags as the log recorded them (troth.disclosures.logged): none lifts early.
            checked.merge(check_demands(conn, (demand_of(r) for r in rows if r.legal_demand_id)))
            for row in rows:
                gag = checked.live_gag(row.legal_demand_id, now)
                if gag is not None and not include_gagged:
                    continue
                item = _shown(ctx, row)
                if gag is not None:
                    item["gagged_until"] = gag.isoformat()
                out[row.subject_id].append(item)
    checked.audit(ctx)
    return out


def _shown(ctx: Context, row: Any) -> dict[str, Any]:
    # What is shown of the disclosure itself must read back: one changed outside troth
    # refuses the list (TamperedValue, record_tampered), as a tampered record does.
    readable(row.at, row.categories, row.fields, row.instrument, row.masked)
    rc = ctx.policy.recipients.get(row.recipient)
    item: dict[str, Any] = {
        "id": row.id,
        "recipient": row.recipient,
        "recipient_name": rc.name if rc else row.recipient,
        "purpose": row.purpose,
        "categories": list(row.categories),
        "fields": list(row.fields),
        "at": row.at.isoformat(),
        "location": row.location,
        "transfer_safeguard": row.transfer_safeguard,
    }
    if row.masked:  # sent as their mask, not as held: said, never claimed whole
        item["masked"] = list(row.masked)
    if row.legal_demand_id:
        item["legal_demand"] = {
            "authority": row.authority,
            "instrument": row.instrument,
            "reference": row.reference,
        }
    elif rc is not None and (duty := statutory_duty(ctx.policy, rc.id, row.purpose)):
        item["statutory_duty"] = duty  # reported by law: the law, in the policy's words
    return item
