"""The Pillbox trial's policy (a Montreal tele-pharmacy: prescriptions and allergies) and
its two patients, one with health data on file and one without: a restricted role must get
the same answer about both (no tests here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

POLICY = Path(__file__).parent / "gate" / "pillbox.yaml"
ORDER = {
    "name": "Élise Tremblay",
    "email": "elise@example.com",
    "address": "1 rue Saint-Denis, Montréal",
    "province": "QC",
    "prescription": "amoxicillin 500 mg",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
}


def patients(t: Any) -> tuple[str, str]:
    """Élise, with an allergy on file, and Carlos, without: their subject ids."""
    elise = t.collect("rx_order", ORDER | {"allergies": "penicillin"}).subject_id
    carlos = t.collect(
        "rx_order", ORDER | {"name": "Carlos Ruiz", "email": "carlos@example.com"}
    ).subject_id
    return str(elise), str(carlos)
