"""Connectors to the organisation's own databases: declared datasets, checked against the
live schema, walked from a person's identities with set-based statements, erased as
resumable jobs.

    datasets = load_datasets("datasets.yaml")
    connector = Connector(datasets, store=JobStore(engine, clock), keys=keys, clock=clock)
    connector.export({"email": "ann@example.com"})
    connector.erase({"email": "ann@example.com"}, job_id="req-42")   # resumable
"""

from troth.connectors.connector import Connector
from troth.connectors.declaration import Dataset, Erasure, IdentityKind, Keep, Link
from troth.connectors.inspection import Finding, Severity, check_dataset, looks_personal
from troth.connectors.jobs import Job, JobState, JobStore, StepState
from troth.connectors.loader import DeclarationError, load_datasets, parse_datasets
from troth.connectors.report import DatasetExport, KeptRows, Report, TableExport, TableReport
from troth.connectors.runner import DatasetRunner
from troth.connectors.walk import Identities

__all__ = [
    "Connector",
    "Dataset",
    "DatasetExport",
    "DatasetRunner",
    "DeclarationError",
    "Erasure",
    "Finding",
    "Identities",
    "IdentityKind",
    "Job",
    "JobState",
    "JobStore",
    "Keep",
    "KeptRows",
    "Link",
    "Report",
    "Severity",
    "StepState",
    "TableExport",
    "TableReport",
    "check_dataset",
    "load_datasets",
    "looks_personal",
    "parse_datasets",
]
