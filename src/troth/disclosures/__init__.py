"""Disclosures (P18-P22) and legal demands (P20): every hand-over of personal data to a
recipient, checked by the gate, projected to the recipient's fields, recorded, shown to
the person; the published list of sub-processors."""

from troth.disclosures.demands import DemandStatus, LegalDemand, LegalInstrument
from troth.disclosures.package import DisclosedValue, DisclosurePackage, WithheldValue
from troth.disclosures.service import DisclosureService
from troth.disclosures.tables import disclosures, legal_demands

__all__ = [
    "DemandStatus",
    "DisclosedValue",
    "DisclosurePackage",
    "DisclosureService",
    "LegalDemand",
    "LegalInstrument",
    "WithheldValue",
    "disclosures",
    "legal_demands",
]
