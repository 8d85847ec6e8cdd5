"""Alarms: signed lines of the heads file saying troth found the audit log tampered with
where the database keeps no trace of it (an acknowledged entry deleted before it was
sequenced, found by a deferred round: :mod:`troth.audit.deferred`). The process that found
it refuses every later append; the alarm outlives it, so `troth audit verify` fails on the
loss from then on, after any restart. The heads file is outside the database, like the
heads; an alarm line edited (to hide what was lost) fails verify by its signature."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from troth.context import Context
from troth.db import dumps


@dataclass(frozen=True, slots=True)
class Alarm:
    """``{"alarm": problem, "at": when, "sig": ...}``: ``problem`` holds ids and what
    failed, never personal data. Signed with the home's Ed25519 key; the signed message's
    keys differ from a head's, so neither can pass for the other."""

    at: str
    problem: str
    signature: str

    def message(self) -> bytes:
        return dumps({"alarm": self.problem, "at": self.at}).encode()

    def to_dict(self) -> dict[str, Any]:
        return {"alarm": self.problem, "at": self.at, "sig": self.signature}

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        return signed(public_key, self.signature, self.message())


def signed(public_key: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    """Whether ``signature`` (base64) signs ``message`` with ``public_key``: a head's or an
    alarm's (a malformed signature is no signature)."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def read_alarms(ctx: Context) -> list[tuple[int, Alarm]]:
    """Every alarm line of the heads file with its line number (signatures not checked);
    none when there is no file. OSError when it cannot be read."""
    from troth.audit.heads import heads_lines

    out: list[tuple[int, Alarm]] = []
    for lineno, line in heads_lines(ctx):
        try:
            data = json.loads(line)
        except ValueError:
            continue  # a damaged line: verify reports it as a damaged head
        if isinstance(data, dict) and "alarm" in data:
            at, sig = str(data.get("at", "")), str(data.get("sig", ""))
            out.append((lineno, Alarm(at, str(data["alarm"]), sig)))
    return out


def alarm_problem(ctx: Context) -> str | None:
    """What the first alarm line says, for verify's report (or that it was forged); None
    when there is none."""
    path = ctx.settings.resolved_heads_file
    for lineno, alarm in read_alarms(ctx):
        where = f"heads file {path} line {lineno}"
        if not alarm.verify(ctx.keys.public_key):
            return f"{where}: an alarm line whose signature does not verify with this home's key"
        return (
            f"{where}: at {alarm.at} troth found the log tampered with: {alarm.problem}."
            " Acknowledged entries were lost; restore the database from a backup taken"
            " before then, or keep this line as the record of the loss"
        )
    return None
