"""The audit state's seal: what lets a process trust the frontier stored in the database.

The one-row ``audit_state`` holds the Merkle frontier every append extends. Whoever can
write the database could insert entries after the last one and recompute that row (size,
root, frontier); a process that trusted it would then sign a head over the forgery. So
every append seals the frontier it stores with an HMAC under the key file's token key
(which a database writer does not hold), and a process extends a stored frontier only
when its seal verifies, or when it is exactly a tree head signed with the home's key (a
home written before seals existed, or rebuilt from its heads). A process's own appends
extend the frontier it already holds in memory, so the hot path reads nothing back.

A sealed state can still be an old one restored (a rollback, with its entries deleted):
the state is never smaller than the largest tree this process committed or, when a
process first reads it, than the latest signed head in the heads file.
"""

from __future__ import annotations

import hmac
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from troth.audit.merkle import CompactRange
from troth.errors import IntegrityError, ValidationError

_LABEL = "troth.audit.state"

Mac = Callable[[str, bytes], bytes]
# (size, root hex) of the latest head signed with the home's key in its heads file, or None.
LatestHead = Callable[[], "tuple[int, str] | None"]


@dataclass(slots=True)
class Sealer:
    """What an engine's appends need from its context: the key's MAC, the latest signed
    head, and the largest tree this process committed (the state never goes below it)."""

    mac: Mac
    latest_head: LatestHead
    floor: int = 0
    checked_heads: bool = field(default=False)


_SEALERS: weakref.WeakKeyDictionary[Any, Sealer] = weakref.WeakKeyDictionary()


def register(engine: Any, mac: Mac, latest_head: LatestHead) -> Sealer:
    """The engine's sealer, made on first use (``troth.audit.transaction`` calls this)."""
    sealer = _SEALERS.get(engine)
    if sealer is None:
        sealer = _SEALERS[engine] = Sealer(mac, latest_head)
    return sealer


def sealer_of(engine: Any) -> Sealer:
    sealer = _SEALERS.get(engine)
    if sealer is None:
        raise ValidationError(
            "audit entries are appended inside troth.audit.transaction(ctx), which seals"
            " the tree state with the home's key"
        )
    return sealer


def _tag(mac: Mac, body: str) -> str:
    return mac(_LABEL, body.encode()).hex()


def seal(mac: Mac, frontier: CompactRange) -> str:
    """The stored text of ``frontier``: its JSON with the seal added."""
    body = frontier.to_json()
    return body[:-1] + f', "seal": "{_tag(mac, body)}"}}'


def is_sealed(mac: Mac, text: str) -> bool:
    """Whether ``text`` (the stored frontier) carries a valid seal for its frontier."""
    try:
        data = json.loads(text)
        tag = str(data.pop("seal"))
        frontier = CompactRange(int(data["size"]), [bytes.fromhex(h) for h in data["hashes"]])
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return hmac.compare_digest(tag, _tag(mac, frontier.to_json()))


def trusted(sealer: Sealer, text: str, frontier: CompactRange) -> CompactRange:
    """``frontier`` (stored as ``text``) if this process may extend and sign over it;
    IntegrityError saying why not otherwise."""
    size, root_hex = frontier.size, frontier.root().hex()
    if size < sealer.floor:
        raise IntegrityError(
            f"the audit tree state went back from {sealer.floor} to {size} entries (the"
            " database was rolled back or an old state restored); nothing was written."
            " Run `troth audit verify`"
        )
    latest: tuple[int, str] | None = None
    if not sealer.checked_heads:
        latest = sealer.latest_head()
        if latest is not None and (
            size < latest[0] or (size == latest[0] and root_hex != latest[1])
        ):
            raise IntegrityError(
                f"the audit tree state ({size} entries) does not extend the latest signed"
                f" head ({latest[0]} entries): the database was rolled back or its log"
                " rewritten; nothing was written. Run `troth audit verify`"
            )
        if latest is not None:
            sealer.floor = max(sealer.floor, latest[0])
    if is_sealed(sealer.mac, text):
        sealer.checked_heads = True
        return frontier
    if latest is None:
        latest = sealer.latest_head()
    if size == 0 or latest == (size, root_hex):
        sealer.checked_heads = True
        return frontier
    raise IntegrityError(
        f"the audit tree state ({size} entries) is not sealed with this home's key and is"
        " not a signed tree head: it was written outside troth (entries inserted or"
        " edited with the tree recomputed); nothing was written and no head will be"
        " signed over it. Run `troth audit verify`"
    )
