"""The cookie banner: categories from the policy's ``cookies``; non-essential scripts stay
inert (``type="text/plain" data-category=...``) until the visitor agrees; a withdrawn
category's cookies are removed; a Global Privacy Control signal keeps marketing (and any
category serving a sale-or-sharing purpose) off; a new policy version asks again.

The choice lives in the ``troth_consent`` cookie (``v=<policy version>&analytics=1...``),
readable by ``/static/consent.js`` which activates the allowed scripts. Signed-in people's
choices also go to the consent ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request

from troth.access.signin import Session, records_of_address
from troth.consent import gpc_present
from troth.context import Context
from troth.policy.model import CookieCategory

CONSENT_COOKIE = "troth_consent"
ESSENTIAL = CookieCategory.strictly_necessary.value


@dataclass(frozen=True)
class BannerCategory:
    id: str
    description: str
    essential: bool
    names: tuple[str, ...]
    allowed: bool
    locked_off: bool  # GPC forces it off


@dataclass(frozen=True)
class Banner:
    """What the banner shows: ``show`` when the visitor has not chosen for this policy
    version; ``categories`` with the current choices."""

    show: bool
    gpc: bool
    version: str
    categories: list[BannerCategory] = field(default_factory=list)
    # For a signed-in person whose browser sent GPC: the sale/sharing uses it opted out of.
    honoured: tuple[str, ...] = ()
    # Categories the visitor's saved choice allows that the GPC signal keeps off: the
    # signal wins, and the banner says they conflict (11 CCR 7025(c)(3)).
    conflicts: tuple[str, ...] = ()

    @property
    def optional(self) -> list[BannerCategory]:
        return [c for c in self.categories if not c.essential]


def gpc_locked(ctx: Context) -> set[str]:
    """Categories a GPC signal turns off: marketing, and any serving a sale/sharing purpose."""
    sale = {p.id for p in ctx.policy.policy.purposes if p.sale_or_sharing}
    return {
        c.category.value
        for c in ctx.policy.policy.cookies
        if c.category is CookieCategory.marketing or (c.purpose in sale)
    }


def honour_signal(request: Request, ctx: Context, session: Session) -> None:
    """A request that identifies the person and carries ``Sec-GPC: 1``: their opt-out of
    sale and sharing goes to the consent ledger (once per person, however many pages they
    open), and the page tells them it was honoured. Once per request. The signal is the
    person's, and their sign-in proved the address: it is recorded for every record that
    address holds (one address on file with several customers), not only the one shown."""
    subject_id = session.subject_id
    if getattr(request.state, "gpc_person", None) == subject_id:
        return
    request.state.gpc_person = subject_id
    if not gpc_present(request.headers.get("sec-gpc")):
        return
    from troth.api.auth import client_ip

    ledger = request.app.state.troth.consent
    held = [h.subject_id for h in records_of_address(ctx, session)]
    for sid in [subject_id, *(h for h in held if h != subject_id)]:
        ledger.honour_gpc(
            sid,
            signal=request.headers.get("sec-gpc"),
            origin=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            url=request.url.path,
        )
    # What stays stopped (their own opt-in after the signal stands, and is not claimed).
    state = ledger.state(subject_id)
    request.state.gpc_honoured = tuple(
        p.description
        for p in ctx.policy.policy.purposes
        if p.sale_or_sharing and not (p.id in state and state[p.id].granted)
    )


def read_choices(request: Request, ctx: Context) -> dict[str, bool] | None:
    """The visitor's choices for the policy in force, or None (ask them)."""
    raw = request.cookies.get(CONSENT_COOKIE)
    if not raw:
        return None
    values = dict(parse_qsl(raw[:2000]))
    if values.get("v") != ctx.policy.version:
        return None  # a new policy revision asks again
    return {k: v == "1" for k, v in values.items() if k != "v"}


def encode_choices(ctx: Context, choices: dict[str, bool]) -> str:
    return urlencode(
        {"v": ctx.policy.version, **{k: "1" if v else "0" for k, v in choices.items()}}
    )


def banner_for(request: Request, ctx: Context) -> Banner:
    gpc = gpc_present(request.headers.get("sec-gpc"))
    locked = gpc_locked(ctx) if gpc else set()
    choices = read_choices(request, ctx)
    cats = []
    seen: set[str] = set()
    for c in ctx.policy.policy.cookies:
        cid = c.category.value
        if cid in seen:
            continue
        seen.add(cid)
        essential = cid == ESSENTIAL
        allowed = essential or (bool(choices and choices.get(cid)) and cid not in locked)
        names = tuple(
            n for cc in ctx.policy.policy.cookies if cc.category.value == cid for n in cc.names
        )
        cats.append(
            BannerCategory(
                cid,
                c.description or cid.replace("_", " "),
                essential,
                names,
                allowed,
                cid in locked,
            )
        )
    has_optional = any(not c.essential for c in cats)
    return Banner(
        show=has_optional and choices is None,
        gpc=gpc,
        version=ctx.policy.version,
        categories=cats,
        honoured=getattr(request.state, "gpc_honoured", ()) if gpc else (),
        conflicts=tuple(c.id for c in cats if c.locked_off and choices and choices.get(c.id)),
    )


def decide_choices(ctx: Context, request: Request, form: dict[str, str]) -> dict[str, bool]:
    """The visitor's answer from the banner form: accept all, reject all, or per category."""
    banner = banner_for(request, ctx)
    action = form.get("action", "save")
    out: dict[str, bool] = {}
    for c in banner.optional:
        if c.locked_off:
            out[c.id] = False
        elif action == "accept":
            out[c.id] = True
        elif action == "reject":
            out[c.id] = False
        else:
            out[c.id] = form.get(f"cat_{c.id}") == "on"
    return out


def names_to_remove(ctx: Context, choices: dict[str, bool]) -> list[str]:
    """Cookie names of every category now refused (they are deleted on the response)."""
    refused = {k for k, v in choices.items() if not v}
    return sorted(
        {n for c in ctx.policy.policy.cookies if c.category.value in refused for n in c.names}
    )
