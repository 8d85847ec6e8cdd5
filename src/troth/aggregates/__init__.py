"""Aggregates: small-cell suppression and the audited aggregate query."""
