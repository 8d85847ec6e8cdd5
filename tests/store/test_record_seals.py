"""Record seals against whoever can write the database but not read the key file: a value
relabelled (category, purposes, restriction, tenant, collection point), two values
swapped, a seal cleared or a row copied to another person is refused on use (nothing of
that person shown, the refusal audited) and named by `troth audit verify`; the untouched
people's reads go on. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.gate import Actor, ActorKind
from troth.store.seals import RecordTampered
from troth.store.tables import records

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
CARD = "4111111111111111"
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": CARD,
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _people(t: Any) -> tuple[str, str, str]:
    ann = t.collect("order_form", ORDER).subject_id
    bob = t.collect(
        "order_form",
        {**ORDER, "name": "Bob", "email": "bob@example.com", "card_number": "5500000000000004"},
    ).subject_id
    cy = t.collect("order_form", {**ORDER, "name": "Cy", "email": "cy@example.com"}).subject_id
    return ann, bob, cy


def _rid(t: Any, sid: str, field: str) -> int:
    with t.ctx.engine.connect() as conn:
        q = sa.select(records.c.id).where(records.c.subject_id == sid, records.c.field == field)
        return int(conn.execute(q).scalar_one())


def _set(t: Any, rid: int, **values: Any) -> None:
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.update(records).where(records.c.id == rid).values(**values))


# Each tampering: what a database writer does, given (troth, ann, bob); returns the person
# whose read must now be refused and the records that no longer match their seals (the
# first one is the one a read names).
Tamper = Callable[[Any, str, str], tuple[str, list[int]]]


def _relabel_category(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    # The shipping address (support may not see it) made "identity" (support may).
    rid = _rid(t, ann, "address")
    _set(t, rid, category="identity")
    return ann, [rid]


def _relabel_card(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    # The card number made "identity", serving order_fulfilment: support's purpose.
    rid = _rid(t, ann, "card_number")
    _set(t, rid, category="identity", purposes=["billing", "order_fulfilment"])
    return ann, [rid]


def _widen_purposes(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    rid = _rid(t, ann, "name")
    _set(t, rid, purposes=["billing", "order_fulfilment", "product_news"])
    return ann, [rid]


def _restrict_lifted(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    # A legal keep's restriction (set by troth, sealed) taken off again.
    rid = _rid(t, ann, "name")
    _set(t, rid, restricted_to=None, restricted_until=None)
    return ann, [rid]


def _other_tenant(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    rid = _rid(t, ann, "name")
    _set(t, rid, tenant_id="f" * 32)
    return ann, [rid]


def _other_point(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    rid = _rid(t, ann, "name")
    _set(t, rid, collection_point="account_signup")
    return ann, [rid]


def _swap_ciphertexts(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    card, expiry = _rid(t, ann, "card_number"), _rid(t, ann, "card_expiry")
    with t.ctx.engine.begin() as conn:
        blobs = dict(
            conn.execute(
                sa.select(records.c.id, records.c.ciphertext).where(
                    records.c.id.in_([card, expiry])
                )
            ).all()
        )
        for rid, other in ((card, expiry), (expiry, card)):
            conn.execute(
                sa.update(records).where(records.c.id == rid).values(ciphertext=blobs[other])
            )
    return ann, [card, expiry]


def _swap_plain_values(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    # The address put where the name was: support would read it as the name.
    name, address = _rid(t, ann, "name"), _rid(t, ann, "address")
    with t.ctx.engine.begin() as conn:
        got = dict(
            conn.execute(
                sa.select(records.c.id, records.c.value).where(records.c.id.in_([name, address]))
            ).all()
        )
    _set(t, name, value=got[address])
    return ann, [name]


def _seal_cleared(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    rid = _rid(t, ann, "address")
    _set(t, rid, seal=None, category="identity")
    return ann, [rid]


def _copied_to_bob(t: Any, ann: str, bob: str) -> tuple[str, list[int]]:
    # Ann's address row, seal and all, copied onto Bob.
    rid = _rid(t, ann, "address")
    with t.ctx.engine.begin() as conn:
        row = dict(conn.execute(sa.select(records).where(records.c.id == rid)).one()._mapping)
        row.pop("id")
        row.update(subject_id=bob, field="address2", category="identity")
        new = conn.execute(sa.insert(records).values(**row)).inserted_primary_key[0]
    return bob, [int(new)]


TAMPERS: dict[str, Tamper] = {
    "category": _relabel_category,
    "card_category_and_purposes": _relabel_card,
    "purposes": _widen_purposes,
    "restriction_lifted": _restrict_lifted,
    "tenant": _other_tenant,
    "collection_point": _other_point,
    "ciphertexts_swapped": _swap_ciphertexts,
    "plain_values_swapped": _swap_plain_values,
    "seal_cleared": _seal_cleared,
    "copied_to_another_person": _copied_to_bob,
}


@pytest.mark.parametrize("how", sorted(TAMPERS))
def test_a_row_changed_outside_troth_is_refused_audited_and_named(home, db_url, how):
    t = home("itechno", db_url)
    ann, bob, cy = _people(t)
    if how == "restriction_lifted":
        _set_restricted_by_troth(t, _rid(t, ann, "name"))
    before = t.use(ann, purpose="order_fulfilment", actor=SUPPORT)
    assert before.get("address") is None and before.get("card_number") is None  # masked
    assert verify_log(t.ctx).ok

    victim, bad = TAMPERS[how](t, ann, bob)
    rid = bad[0]

    for purpose, actor in (("order_fulfilment", SUPPORT), ("billing", ACCOUNTS)):
        with pytest.raises(RecordTampered, match=f"record {rid} does not match its seal") as e:
            t.use(victim, purpose=purpose, actor=actor)
        text = str(e.value) + repr(e.value.to_dict())
        for secret in ("1 Main St", CARD, "5500000000000004", "Ann Lee"):
            assert secret not in text  # the refusal names the record, never a value
    refused = [e.entry for e in list_entries(t.ctx, subject_id=victim, newest_first=True)[:2]]
    assert [(e.action, str(e.outcome), e.reason) for e in refused] == [
        ("use", "deny", "record_tampered")
    ] * 2
    assert refused[0].details["record"] == rid

    report = verify_log(t.ctx)
    assert not report.ok and report.bad_records == bad
    named = ", ".join(str(i) for i in bad)
    assert f"records {named} were changed outside troth" in str(report.problem)

    # The untouched person is served as before.
    assert t.use(cy, purpose="order_fulfilment", actor=SUPPORT).get("name") == "Cy"
    assert t.use(cy, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD


def _set_restricted_by_troth(t: Any, rid: int) -> None:
    """A restriction troth itself set (as an erasure's legal keep does), sealed."""
    from datetime import date

    from troth.store.seals import reseal

    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.update(records)
            .where(records.c.id == rid)
            .values(restricted_to="billing", restricted_until=date(2031, 1, 1))
        )
        reseal(conn, t.ctx.keys, [rid])


def test_relabelling_a_row_is_refused_on_the_cli_and_verify_exits_non_zero(home, db_url, capsys):
    """The user's report: a value masked for a role is relabelled in the database; `troth
    use` must not print it, `troth audit verify` must fail."""
    from cli_runner import run

    t = home("itechno", db_url)
    ann, _bob, _cy = _people(t)
    rid = _rid(t, ann, "card_number")
    _set(t, rid, category="identity", purposes=["billing", "order_fulfilment"])
    t.close()
    h = str(t.ctx.home)
    args = ("use", ann, "--purpose", "order_fulfilment", "--actor", "staff:sam@support")
    code, out, err = run(capsys, "--home", h, *args)
    assert code != 0 and CARD not in out + err and "1 Main St" not in out + err
    assert f"record {rid} does not match its seal" in err
    code, out, err = run(capsys, "--home", h, "audit", "verify")
    assert code == 1 and f"records {rid} were changed outside troth" in err


def test_an_access_request_for_a_tampered_person_is_refused_and_audited(home, db_url):
    from troth.requests.states import RequestState

    t = home("itechno", db_url)
    ann, _bob, _cy = _people(t)
    rid = _rid(t, ann, "address")
    _set(t, rid, category="identity")
    req = t.requests.open("access", email="ann@example.com")
    t.requests.verify_by_staff(req.id, staff="alice", reason="known customer on the phone")
    with pytest.raises(RecordTampered, match=f"record {rid} does not match its seal"):
        t.requests.execute(req.id)
    (entry,) = [e.entry for e in list_entries(t.ctx, action="request.execute")]
    assert (str(entry.outcome), entry.reason, entry.subject_id) == ("deny", "record_tampered", ann)
    assert entry.details["record"] == rid and entry.details["request"] == req.id
    after = t.requests.get(req.id)
    assert after.state is RequestState.in_progress and not after.result  # nothing sent


def test_a_tenant_export_with_a_tampered_row_is_refused_and_audited(home, db_url):
    from troth.gate import SYSTEM

    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    ann = t.collect(
        "customer_signup",
        {"company_name": "Co", "name": "Ann", "email": "ann@acme.example"},
        tenant_id=acme,
    ).subject_id
    # A value of Ann's filed under Bolt: Bolt's export would carry it.
    rid = _rid(t, ann, "email")
    _set(t, rid, tenant_id=bolt)
    with pytest.raises(RecordTampered, match=f"record {rid} does not match its seal"):
        t.requests.export_tenant(bolt, actor=SYSTEM)
    (entry,) = [e.entry for e in list_entries(t.ctx, action="tenant.export")]
    assert (str(entry.outcome), entry.reason, entry.tenant_id) == ("deny", "record_tampered", bolt)
    assert entry.details["record"] == rid
    t.requests.export_tenant(acme, actor=SYSTEM)  # the other tenant's export goes on
