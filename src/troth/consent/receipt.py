"""Kantara Consent Receipts (v1.1.0) for grants, signed as compact JWS (EdDSA, Ed25519).

The JWS is written by hand (RFC 7515 compact form, base64url without padding): the header
is ``{"alg":"EdDSA","typ":"JWT"}``, the payload the receipt as canonical JSON. Anyone holding
the published public key can check a receipt with :func:`verify_receipt`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from troth.db import dumps
from troth.errors import IntegrityError
from troth.policy.index import PolicyIndex

RECEIPT_VERSION = "KI-CR-v1.1.0"
_HEADER = {"alg": "EdDSA", "typ": "JWT"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def build_receipt(
    policy: PolicyIndex,
    *,
    receipt_id: str,
    subject_id: str,
    purpose: str,
    at: datetime,
    method: str,
    jurisdiction: str,
    public_key_b64: str,
    public_url: str,
    language: str = "en",
    controller: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Kantara v1.1.0 receipt of one grant; ``piiPrincipalId`` is the subject id, never
    an e-mail address. ``controller``: who decides about the purpose, when not the
    organisation: a customer (``name``, ``email``) whose person consented to one of its
    purposes where the customers decide about their people (``tenant_controller:
    customer``); it is then the receipt's only controller and its service (the
    organisation, its processor, is no controller of that consent: GDPR Art. 7(1))."""
    org = policy.policy.organisation
    p = policy.purposes[purpose]
    sensitive = sorted(c for c in p.categories if policy.is_sensitive(c))
    third_parties = sorted(
        rc.name
        for (rid, rpurpose), _grant in policy.recipient_grants.items()
        if rpurpose == purpose
        for rc in (policy.recipients[rid],)
    )
    categories = ["marketing"] if p.marketing else []
    if p.sale_or_sharing:
        categories.append("sale_or_sharing")
    purpose_entry: dict[str, Any] = {
        "purpose": p.description,
        "purposeId": p.id,
        "purposeCategory": categories or [p.id],
        "consentType": "EXPLICIT",
        "piiCategory": list(p.categories),
        "primaryPurpose": True,
        "termination": p.withdraw
        or "Withdraw at any time, as easily as you gave it; it takes effect at once.",
        "thirdPartyDisclosure": bool(third_parties),
    }
    if third_parties:
        purpose_entry["thirdPartyName"] = ", ".join(third_parties)
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": jurisdiction,
        "consentTimestamp": int(at.timestamp()),
        "collectionMethod": method,
        "consentReceiptID": receipt_id,
        "publicKey": public_key_b64,
        "language": language,
        "piiPrincipalId": subject_id,
        "piiControllers": [_controller(policy, public_url, controller)],
        "policyUrl": org.policy_url or org.website or public_url,
        "services": [
            {
                "service": controller["name"] if controller else org.name,
                "purposes": [purpose_entry],
            }
        ],
        "sensitive": bool(sensitive),
        "spiCat": sensitive,
    }


def _controller(
    policy: PolicyIndex, public_url: str, customer: Mapping[str, str] | None
) -> dict[str, str]:
    """The receipt's ``piiControllers`` entry: the customer given (its name and primary
    address; its privacy centre is the organisation's), else the organisation (its data
    protection officer, else its privacy contact)."""
    org = policy.policy.organisation
    if customer is not None:
        return {
            "piiController": customer["name"],
            "contact": customer["name"],
            "address": "",
            "email": customer.get("email") or "",
            "phone": "",
            "piiControllerUrl": public_url,
        }
    contact = org.dpo or org.contact
    return {
        "piiController": org.name,
        "contact": (contact.name if contact else None) or org.name,
        "address": (contact.address if contact else None) or "",
        "email": (contact.email if contact else None) or "",
        "phone": (contact.phone if contact else None) or "",
        "piiControllerUrl": org.website or public_url,
    }


def sign_receipt(receipt: dict[str, Any], key: Ed25519PrivateKey) -> str:
    """Compact JWS ``header.payload.signature`` over the receipt's canonical JSON."""
    head = b64url(dumps(_HEADER).encode())
    body = b64url(dumps(receipt).encode())
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{b64url(key.sign(signing_input))}"


def decode_receipt(jws: str) -> dict[str, Any]:
    """The payload of a receipt JWS, without checking the signature (for display)."""
    return _parts(jws)[1]


def verify_receipt(jws: str, public_key_b64: str) -> dict[str, Any]:
    """The receipt inside ``jws`` if its EdDSA signature verifies under the public key
    (standard base64 of the raw 32 bytes); raises IntegrityError otherwise."""
    header, payload, signing_input, signature = _parts(jws)
    if header.get("alg") != "EdDSA":
        raise IntegrityError(
            f"receipt signed with alg {header.get('alg')!r}; only EdDSA receipts are accepted",
            code="receipt_invalid",
        )
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise IntegrityError(
            "the public key is not a base64 Ed25519 key (32 bytes); copy it from "
            "the organisation's published key",
            code="receipt_invalid",
        ) from None
    try:
        public.verify(signature, signing_input)
    except InvalidSignature:
        raise IntegrityError(
            "the receipt's signature does not verify: it was altered, or signed with another key",
            code="receipt_invalid",
        ) from None
    if payload.get("version") != RECEIPT_VERSION:
        raise IntegrityError(f"not a {RECEIPT_VERSION} consent receipt", code="receipt_invalid")
    return payload


def _parts(jws: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    pieces = jws.strip().split(".") if isinstance(jws, str) else []
    if len(pieces) != 3:
        raise IntegrityError(
            "a receipt is three base64url parts joined by dots (compact JWS)",
            code="receipt_invalid",
        )
    try:
        header = json.loads(unb64url(pieces[0]))
        payload = json.loads(unb64url(pieces[1]))
        signature = unb64url(pieces[2])
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(
            "the receipt is not valid compact JWS (base64url JSON parts)",
            code="receipt_invalid",
        ) from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise IntegrityError(
            "the receipt's header and payload must be JSON objects", code="receipt_invalid"
        )
    return header, payload, f"{pieces[0]}.{pieces[1]}".encode("ascii"), signature
