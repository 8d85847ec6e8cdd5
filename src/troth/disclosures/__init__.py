"""Disclosures (P18-P22) and legal demands (P20): every hand-over of personal data to a
recipient, checked by the gate, projected to the recipient's fields, recorded, shown to
the person; the published list of sub-processors."""

from troth.disclosures.demands import DemandStatus, LegalDemand, LegalInstrument
from troth.disclosures.service import DisclosurePackage, DisclosureService
from troth.disclosures.tables import disclosures, legal_demands

__all__ = [
    "DemandStatus",
    "DisclosurePackage",
    "DisclosureService",
    "LegalDemand",
    "LegalInstrument",
    "disclosures",
    "legal_demands",
]
