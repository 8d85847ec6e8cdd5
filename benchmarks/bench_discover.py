"""discover_quality and discover_speed: troth's discovery on the labelled corpus of
tests/discovery_corpus.py (24 tables; the shop on SQLite, the help desk on PostgreSQL, the
telephone system on MariaDB when they are reachable, else on SQLite), against Presidio's
pattern recognizers without an NLP engine on the same sampled values in the same run.

- ``discover_quality.<category>.precision/recall``: per category over the structured
  columns (free-text columns apart), troth beside Presidio. Presidio has no recognizer for
  dates of birth, names or addresses without an NLP engine: those rows say so.
- ``discover_speed``: MB of sampled values classified per second (the values are read
  once, both classify the same values in memory), troth's per-column classifier against
  every Presidio pattern recognizer that maps to a category run on every value.
- ``discover_recall``: recall over the structured columns whose kinds both can detect.
- ``discover_free_text``: texts with a pasted card or SSN found, per row.

The corpus and the detectors were written together, in the same session: the quality
figures show the detectors hold on the corpus's decoys, not on data nobody has seen.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks import report
from troth.discovery.classify import Classifier
from troth.discovery.detectors import Detectors
from troth.discovery.scan import live_tables, read_sample, readonly_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import discovery_corpus as dc
from dbs import MYSQL_ADMIN_URL, PG_ADMIN_URL

PRESIDIO_CATEGORY = {
    "EMAIL_ADDRESS": "contact",
    "PHONE_NUMBER": "contact",
    "UK_POSTCODE": "contact",
    "CA_POSTAL_CODE": "contact",
    "CREDIT_CARD": "payment_card",
    "IBAN_CODE": "financial",
    "IP_ADDRESS": "technical",
    "US_SSN": "government_id",
    "UK_NINO": "government_id",
    "CA_SIN": "government_id",
}
# What Presidio's pattern recognizers cannot tell without an NLP engine or context.
PRESIDIO_BLIND = {"demographic", "identity"}
SHARE = 0.6


def _reachable(url: str) -> bool:
    try:
        e = sa.create_engine(url)
        with e.connect() as c:
            c.execute(sa.text("SELECT 1"))
        e.dispose()
        return True
    except Exception:
        return False


def _urls(folder: str, tag: str) -> dict[str, tuple[str, str]]:
    """Where each dataset goes: its own PostgreSQL schema and MariaDB database (dropped
    by :func:`_drop`), SQLite files where a server is unreachable."""
    out = {"shop": (f"sqlite:///{folder}/shop.db", "sqlite")}
    if _reachable(PG_ADMIN_URL):
        _admin(PG_ADMIN_URL, f'CREATE SCHEMA "{tag}"')
        out["helpdesk"] = (f"{PG_ADMIN_URL}?options=-csearch_path%3D{tag}", "postgresql")
    else:
        out["helpdesk"] = (f"sqlite:///{folder}/helpdesk.db", "sqlite")
    if _reachable(MYSQL_ADMIN_URL):
        _admin(MYSQL_ADMIN_URL, f"CREATE DATABASE `{tag}`")
        out["telephony"] = (MYSQL_ADMIN_URL.rsplit("/", 1)[0] + f"/{tag}", "mariadb")
    else:
        out["telephony"] = (f"sqlite:///{folder}/telephony.db", "sqlite")
    return out


def _admin(url: str, sql: str) -> None:
    e = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with e.connect() as c:
        c.exec_driver_sql(sql)
    e.dispose()


def _drop(urls: dict[str, tuple[str, str]], tag: str) -> None:
    if urls["helpdesk"][1] == "postgresql":
        _admin(PG_ADMIN_URL, f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
    if urls["telephony"][1] == "mariadb":
        _admin(MYSQL_ADMIN_URL, f"DROP DATABASE IF EXISTS `{tag}`")


def _presidio() -> list[Any] | None:
    try:
        from presidio_analyzer.predefined_recognizers import (
            CaPostalCodeRecognizer,
            CaSinRecognizer,
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UkNinoRecognizer,
            UkPostcodeRecognizer,
            UsSsnRecognizer,
        )
    except ImportError:
        return None
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    return [
        EmailRecognizer(),
        PhoneRecognizer(supported_regions=("NZ", "CA", "GB", "US")),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        UkNinoRecognizer(),
        CaSinRecognizer(),
        UkPostcodeRecognizer(),
        CaPostalCodeRecognizer(),
    ]


def _presidio_column(recognizers: list[Any], values: list[object]) -> str | None:
    present = [str(v) for v in values if v is not None and v != ""]
    if not present:
        return None
    hits: Counter[str] = Counter()
    for v in present:
        seen = set()
        for r in recognizers:
            for res in r.analyze(v, r.supported_entities, None) or ():
                cat = PRESIDIO_CATEGORY.get(res.entity_type)
                if cat:
                    seen.add(cat)
        hits.update(seen)
    best = hits.most_common(1)
    return best[0][0] if best and best[0][1] / len(present) >= SHARE else None


def _pr(truth: dict[Any, str | None], got: dict[Any, str | None], cat: str) -> tuple[float, float]:
    tp = sum(1 for k in truth if truth[k] == cat and got.get(k) == cat)
    fp = sum(1 for k in truth if truth[k] != cat and got.get(k) == cat)
    fn = sum(1 for k in truth if truth[k] == cat and got.get(k) != cat)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


def _sample(
    urls: dict[str, tuple[str, str]],
    rows: int,
    samples: list[tuple[str, str, str, list[object], str | None]],
    where: list[str],
) -> None:
    """Build each dataset and read its sample once, read-only (both sides classify it)."""
    for name, (url, dialect) in urls.items():
        dc.build(name, url, rows=rows)
        where.append(f"{name} on {dialect}")
        engine = readonly_engine(url)
        labels = dc.labels(name)
        for t in live_tables(engine):
            if (t.name, "id") not in labels:
                continue
            values, _ = read_sample(engine, t, rows, 60)
            for c in t.columns:
                samples.append((name, t.name, c.name, values[c.name], c.type))
        engine.dispose()


def run(quick: bool) -> list[str]:
    rows = 300 if quick else 1000
    recognizers = _presidio()
    lines: list[str] = []
    samples: list[tuple[str, str, str, list[object], str | None]] = []
    where: list[str] = []
    tag = f"bench_discover_{os.getpid()}"
    with tempfile.TemporaryDirectory() as folder:
        urls = _urls(folder, tag)
        try:
            _sample(urls, rows, samples, where)
        finally:
            _drop(urls, tag)
    classifier = Classifier(Detectors(frozenset({"NZ", "CA", "GB", "US"}), today=dc.TODAY))
    truth: dict[Any, str | None] = {}
    for name in dc.CORPUS:
        truth |= {(name, *k): v for k, v in dc.labels(name).items()}
    free = {(n, *k) for n in dc.CORPUS for k in dc.free_text(n)}

    # troth: every column, timed over the same in-memory values Presidio gets.
    t0 = time.perf_counter()
    results = {(n, t, c): classifier.column(c, ty or "", vals) for n, t, c, vals, ty in samples}
    troth_s = time.perf_counter() - t0
    total_bytes = sum(len(str(v)) for *_, vals, _ty in samples for v in vals if v is not None)
    got = {k: r.category for k, r in results.items() if k not in free}
    structured = {k: v for k, v in truth.items() if k not in free}
    cats = sorted({v for v in structured.values() if v})

    p_got: dict[Any, str | None] = {}
    presidio_s = 0.0
    if recognizers is not None:
        t0 = time.perf_counter()
        p_got = {(n, t, c): _presidio_column(recognizers, vals) for n, t, c, vals, _ in samples}
        presidio_s = time.perf_counter() - t0
    worst = 1.0
    for cat in cats:
        p, r = _pr(structured, got, cat)
        worst = min(worst, p, r)
        if recognizers is None:
            bp = br = float("nan")
        elif cat in PRESIDIO_BLIND:
            bp = br = 0.0
        else:
            bp, br = _pr(structured, p_got, cat)
        note = " (Presidio: no pattern recognizer)" if cat in PRESIDIO_BLIND else ""
        for metric, mine, base in (("precision", p, bp), ("recall", r, br)):
            lines.append(
                f"discover_quality.{cat}.{metric}: troth {mine:.2f}, baseline {base:.2f}"
                f" (target >= 0.95){note}"
            )
    n_cols = sum(1 for k in structured if k in got)
    lines.append(
        f"discover_quality: troth {worst:.2f} lowest precision or recall over"
        f" {len(cats)} categories and {n_cols} structured columns ({', '.join(where)},"
        f" {rows} rows a table), target >= 0.95: {'met' if worst >= 0.95 else 'NOT met'}"
    )
    # Free text: per row, does a pasted card or SSN get found?
    hits = sum(sum(r.pasted.values()) > 0 for k, r in results.items() if k in free)
    lines.append(
        f"discover_free_text: {hits} of {len(free)} free-text columns flagged with pasted"
        " sensitive values (each has some)"
    )
    mb = total_bytes / 1e6
    if recognizers is None:
        lines.append(
            "discover_speed: skipped (Presidio is not installed: pip install -e '.[bench]')"
        )
        return lines
    lines.append(
        report(
            "discover_speed",
            mb / troth_s,
            mb / presidio_s,
            "MB/s",
            "<= 0.10: at least 10x faster than Presidio's pattern recognizers",
        )
    )
    both = {k: v for k, v in structured.items() if v and v not in PRESIDIO_BLIND}
    mine = sum(1 for k, v in both.items() if got.get(k) == v) / len(both)
    base = sum(1 for k, v in both.items() if p_got.get(k) == v) / len(both)
    lines.append(
        f"discover_recall: troth {mine:.2f}, baseline {base:.2f} on the {len(both)} structured"
        " columns both can detect (target: troth >= baseline)"
    )
    return lines
