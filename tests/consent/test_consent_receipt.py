"""Kantara consent receipts: fields, signature round trip, tampering, wrong key, bad format."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert

from troth.clock import ManualClock
from troth.consent import ConsentLedger, decode_receipt, verify_receipt
from troth.consent.receipt import b64url, sign_receipt, unb64url
from troth.context import Context
from troth.errors import IntegrityError
from troth.store.ids import new_id
from troth.store.tables import subjects


@pytest.fixture
def ctx(home: Any) -> Context:
    return home("ixanet", clock=ManualClock(), context=True)


def grant(ctx: Context, purpose: str = "marketing") -> tuple[str, str]:
    sid = new_id()
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(subjects).values(
                id=sid, jurisdiction="pipeda", status="active", created_at=ctx.clock.now()
            )
        )
    rec = ConsentLedger(ctx).grant(sid, purpose, method="web_form", language="fr")
    assert rec.receipt_jws
    return sid, rec.receipt_jws


def test_receipt_fields(ctx: Context) -> None:
    sid, jws = grant(ctx)
    r = verify_receipt(jws, ctx.keys.public_key_b64())
    assert r["version"] == "KI-CR-v1.1.0"
    assert r["jurisdiction"] == "pipeda"
    assert r["consentTimestamp"] == int(ctx.clock.now().timestamp())
    assert r["collectionMethod"] == "web_form"
    assert r["language"] == "fr"
    assert r["piiPrincipalId"] == sid and "@" not in json.dumps(r["piiPrincipalId"])
    assert r["publicKey"] == ctx.keys.public_key_b64()
    assert r["piiControllers"][0]["piiController"] == "ixanet"
    assert r["piiControllers"][0]["email"] == "abuse@ixanet.com"
    assert r["policyUrl"]
    p = r["services"][0]["purposes"][0]
    assert p["purposeId"] == "marketing"
    assert p["consentType"] == "EXPLICIT"
    assert p["piiCategory"] == ["identity", "contact"]
    assert p["primaryPurpose"] is True
    assert "unsubscribe" in p["termination"]
    assert p["thirdPartyDisclosure"] is False and "thirdPartyName" not in p
    assert r["sensitive"] is False and r["spiCat"] == []
    header = json.loads(unb64url(jws.split(".")[0]))
    assert header == {"alg": "EdDSA", "typ": "JWT"}
    assert decode_receipt(jws) == r


def test_tampered_payload_fails(ctx: Context) -> None:
    _, jws = grant(ctx)
    head, body, sig = jws.split(".")
    data = json.loads(unb64url(body))
    data["piiPrincipalId"] = "someone-else"
    forged = f"{head}.{b64url(json.dumps(data).encode())}.{sig}"
    with pytest.raises(IntegrityError, match="does not verify"):
        verify_receipt(forged, ctx.keys.public_key_b64())


def test_wrong_key_fails(ctx: Context) -> None:
    _, jws = grant(ctx)
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    with pytest.raises(IntegrityError):
        verify_receipt(jws, base64.b64encode(other).decode())
    with pytest.raises(IntegrityError, match="not a base64 Ed25519 key"):
        verify_receipt(jws, "not a key")


def test_other_alg_and_version_refused(ctx: Context) -> None:
    key = ctx.keys.signing_key
    jws = sign_receipt({"version": "KI-CR-v1.0.0"}, key)
    with pytest.raises(IntegrityError, match=r"KI-CR-v1\.1\.0"):
        verify_receipt(jws, ctx.keys.public_key_b64())
    _, body, sig = jws.split(".")
    none_head = b64url(b'{"alg":"none"}')
    with pytest.raises(IntegrityError, match="EdDSA"):
        verify_receipt(f"{none_head}.{body}.{sig}", ctx.keys.public_key_b64())


@given(st.text(max_size=200))
def test_garbage_is_an_integrity_error_never_a_crash(text: str) -> None:
    key = base64.b64encode(bytes(32)).decode()
    with pytest.raises(IntegrityError):
        verify_receipt(text, key)


@given(st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=20), max_size=5))
def test_sign_verify_round_trip(extra: dict[str, object]) -> None:
    key = Ed25519PrivateKey.generate()
    pub = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    receipt = {**extra, "version": "KI-CR-v1.1.0"}
    assert verify_receipt(sign_receipt(receipt, key), pub) == receipt
