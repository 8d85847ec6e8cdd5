"""What the consent ledger holds: event kinds and methods, one event, the derived status of
a purpose for a person, and a mismatch between the materialised state and the ledger."""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from troth.errors import ValidationError

COOKIE_PREFIX = "cookie:"


class ConsentKind(StrEnum):
    """Why an event was recorded; stored, never renamed."""

    grant = "grant"
    withdraw = "withdraw"
    gpc_opt_out = "gpc_opt_out"
    unsubscribe = "unsubscribe"
    import_ = "import"
    cookie_choice = "cookie_choice"
    erasure = "erasure"  # the person's data was erased or their account closed (P25, P28)


class ConsentMethod(StrEnum):
    """How the person expressed it; stored, never renamed."""

    web_form = "web_form"
    api = "api"
    email_link = "email_link"
    gpc = "gpc"
    import_ = "import"
    staff = "staff"
    request = "request"  # carried out for a data-subject request (erasure, closure)


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """The current state of one purpose for one person, as derived from the ledger."""

    purpose: str
    granted: bool
    notice_hash: str | None
    policy_version: str
    at: datetime
    event_id: int
    kind: ConsentKind


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """What recording one event produced: its id, and for a grant its signed receipt."""

    event_id: int
    subject_id: str
    purpose: str
    kind: ConsentKind
    granted: bool
    at: datetime
    receipt_id: str | None = None
    receipt_jws: str | None = None


@dataclass(frozen=True, slots=True)
class ImportedEvent:
    """One event from a previous system, for :meth:`ConsentLedger.bulk_import`."""

    subject_id: str
    purpose: str
    granted: bool
    at: datetime
    policy_version: str | None = None
    notice_hash: str | None = None
    jurisdiction: str | None = None
    origin: str | None = None
    user_agent: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A (subject, purpose) whose materialised state differs from the ledger's replay;
    ``expected`` is the replay (None: no events), ``actual`` the stored row (None: none)."""

    subject_id: str
    purpose: str
    expected: ConsentStatus | None
    actual: ConsentStatus | None


def notice_hash(text: str) -> str:
    """SHA-256 (hex) of the exact notice text shown, UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cookie_purpose(category: str) -> str:
    """The ledger key of a cookie category (purpose ids cannot contain ``:``)."""
    return COOKIE_PREFIX + category


def truncate_origin(address: str | None) -> str | None:
    """An IP address cut to its network: IPv4 /24, IPv6 /48 (never the full address)."""
    if address is None or address == "":
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        raise ValidationError(
            f"origin {address!r} is not an IP address; pass the client's IPv4 or IPv6 address",
            code="invalid_origin",
        ) from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def clip(value: str | None, limit: int) -> str | None:
    """Keep at most ``limit`` characters (user agents and URLs can be arbitrarily long)."""
    return None if value is None else value[:limit]


CHANNELS = ("phone", "paper", "in_person", "letter", "email", "chat", "video")


def staff_channel(channel: str | None) -> dict[str, str]:
    """The audit details naming how staff took a consent or a withdrawal."""
    if channel is None:
        return {}
    if channel not in CHANNELS:
        raise ValidationError(
            f"unknown channel {channel!r} (channels: {', '.join(CHANNELS)})",
            code="unknown_channel",
        )
    return {"channel": channel}


def parse_method(method: ConsentMethod | str) -> ConsentMethod:
    try:
        return ConsentMethod(method)
    except ValueError:
        raise ValidationError(
            f"unknown consent method {method!r} "
            f"(methods: {', '.join(m.value for m in ConsentMethod)})",
            code="unknown_method",
        ) from None


def gpc_present(signal: bool | str | None) -> bool:
    """Whether a Sec-GPC value is the opt-out signal: only ``1`` (or True) counts."""
    if isinstance(signal, bool):
        return signal
    return isinstance(signal, str) and signal.strip() == "1"
