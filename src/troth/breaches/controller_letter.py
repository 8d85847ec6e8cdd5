"""The notice that tells a customer (the controller of its people) of a breach (P33).

It names the breach, when it happened and when the organisation became aware, the data in
words, how many of the customer's own people (nothing of another customer), what is being
done, who to contact, who tells the people, and where the customer gets the list of its
people with the contact details it may read (:mod:`troth.breaches.tenant_list`).

Times follow the house's rule for what people read: words in the zone of the reader's
regime, never raw UTC. The customer's zone is its affected people's: the zone of their
regime's office (``organisation.time_zones``) when they all share one, else the
organisation's own; either way each time carries its UTC offset and the letter names the
zone, so a German customer of a Toronto processor reads Berlin time, and nobody has to
guess what "CST" meant.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from troth.breaches.duties import TenantShare, leaves_to_controller
from troth.breaches.model import Breach
from troth.breaches.notify import WHEN, category_words, contact_point
from troth.clock import utc
from troth.context import Context


def customer_zone(ctx: Context, regimes: tuple[str, ...] | list[str]) -> tzinfo:
    """The zone a customer's letter and pages give times in (module docstring)."""
    org = ctx.policy.policy.organisation
    zones = {org.zone(r).key: org.zone(r) for r in regimes}
    return next(iter(zones.values())) if len(zones) == 1 else org.zone()


def _offset(at: datetime) -> str:
    delta = at.utcoffset() or timedelta()
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def letter_time(at: datetime, zone: tzinfo) -> str:
    """``at`` in words in ``zone``, with its UTC offset: "Monday 7 December 2026 at
    15:00 CET (UTC+01:00)"."""
    local = utc(at).astimezone(zone)
    return f"{local.strftime(WHEN)} ({_offset(local)})"


def _where_the_list_is(ctx: Context, b: Breach) -> list[str]:
    base = ctx.settings.public_url.rstrip("/")
    return [
        "",
        "The list of your affected people (their ids with us, and the contact details you"
        " may read, to tell them) is on your console, for your admins:"
        f" {base}/tenant/breaches/{b.id}; and at GET {base}/api/v1/breaches/{b.id}/affected"
        " with an API key of your organisation with the scope breaches (or admin), which"
        " reads the contact details too when its scopes read them (use). The same key"
        f" reads this breach, with your counts and deadlines, at GET {base}/api/v1/breaches/"
        f"{b.id}.",
    ]


def controller_notice(
    ctx: Context, b: Breach, share: TenantShare, name: str, measures: str
) -> tuple[str, str]:
    """The notice to one customer (subject, text): this breach, its own people only."""
    org = ctx.policy.policy.organisation
    zone = customer_zone(ctx, share.regimes)
    when = {k: letter_time(getattr(b, k), zone) for k in ("occurred_from", "occurred_until")}
    aware = letter_time(b.aware_at, zone)
    own = (
        [
            "We will not contact your people ourselves: as their controller, you decide"
            " whether and how they are told, and tell the regulator where your law asks it."
            " Your deadlines for those run from this notice."
        ]
        if leaves_to_controller(ctx)
        else ["As agreed with you, we will also tell your affected people directly."]
    )
    lines = [
        f"To {name},",
        "",
        f"{org.name} holds personal data of your people for you. As your processor, we"
        " are telling you, their controller, of a personal data breach affecting them.",
        "",
        f"Breach: {b.title} (reference {b.id})",
        f"When: from {when['occurred_from']} to {when['occurred_until']};"
        f" we became aware on {aware}. Times are in {getattr(zone, 'key', zone)}.",
        f"Data involved: {category_words(ctx, b.categories)}.",
        f"Your people affected: {share.people}.",
        f"What we are doing: {measures}",
        f"Who to contact: {contact_point(ctx)}",
        "",
        *own,
        *_where_the_list_is(ctx, b),
    ]
    return f"{org.name}: a personal data breach affecting your people", "\n".join(lines)


__all__ = ["controller_notice", "customer_zone", "letter_time"]
