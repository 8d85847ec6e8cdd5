"""Discovery: find the personal data the policy and the datasets file do not declare.

Scans the connected databases (read-only, a bounded sample per table, within a time
budget, resumable) and troth's own free-text values, classifies each column into the
policy's categories (value detectors, column-name rules, free text), and reports the
drift with masked evidence and the YAML to add.
"""

from troth.discovery.classify import Classifier, ColumnResult
from troth.discovery.detectors import CATEGORY_OF, Detectors, Kind, mask
from troth.discovery.drift import Finding, Severity
from troth.discovery.reports import ScanReport
from troth.discovery.service import DiscoveryService

__all__ = [
    "CATEGORY_OF",
    "Classifier",
    "ColumnResult",
    "Detectors",
    "DiscoveryService",
    "Finding",
    "Kind",
    "ScanReport",
    "Severity",
    "mask",
]
