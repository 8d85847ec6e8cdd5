"""The optional free-text extra (``pip install 'troth[nlp]'``): Presidio finds people's
names and places in prose that no pattern can. Imported only when asked for.

With a spaCy model installed (``en_core_web_sm``: spaCy's own release, which is not on
PyPI, so the extra cannot pull it in), Presidio's NLP engine tags PERSON and LOCATION;
without one, :class:`PresidioText` falls back to Presidio's pattern recognizers and adds
nothing the built-in detectors do not already find.
"""

from __future__ import annotations

import logging
from typing import Any

from troth.discovery.detectors import Kind
from troth.errors import ConfigError

ENTITY_KIND = {
    "PERSON": Kind.name,
    "LOCATION": Kind.address,
    "EMAIL_ADDRESS": Kind.email,
    "PHONE_NUMBER": Kind.phone,
    "CREDIT_CARD": Kind.card,
    "IBAN_CODE": Kind.iban,
    "IP_ADDRESS": Kind.ip,
    "US_SSN": Kind.us_ssn,
    "UK_NINO": Kind.uk_ni,
}


class NlpUnavailable(ConfigError):
    """The nlp extra is not installed."""


class PresidioText:
    """``kinds(text)``: the kinds Presidio finds in a text (score at least ``threshold``)."""

    def __init__(self, model: str = "en_core_web_sm", threshold: float = 0.6) -> None:
        try:
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        except ImportError as exc:
            raise NlpUnavailable(
                "free-text discovery needs the nlp extra: pip install 'troth[nlp]'"
            ) from exc
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)
        self.threshold = threshold
        self.engine: Any = None
        self.recognizers: list[Any] = []
        try:
            from presidio_analyzer.nlp_engine import NlpEngineProvider

            nlp = NlpEngineProvider(
                nlp_configuration={
                    "nlp_engine_name": "spacy",
                    "models": [{"lang_code": "en", "model_name": model}],
                }
            ).create_engine()
            self.engine = AnalyzerEngine(nlp_engine=nlp)
        except (OSError, ValueError, ImportError):
            registry = RecognizerRegistry()
            registry.load_predefined_recognizers()
            self.recognizers = [r for r in registry.recognizers if not _needs_nlp(r)]

    @property
    def has_model(self) -> bool:
        return self.engine is not None

    def kinds(self, text: str) -> set[Kind]:
        if self.engine is not None:
            results = self.engine.analyze(text=text, language="en")
        else:
            results = []
            for r in self.recognizers:
                results += r.analyze(text, r.supported_entities, None) or []
        return {
            ENTITY_KIND[x.entity_type]
            for x in results
            if x.entity_type in ENTITY_KIND and x.score >= self.threshold
        }


def _needs_nlp(recognizer: Any) -> bool:
    return type(recognizer).__name__ in ("SpacyRecognizer", "StanzaRecognizer")
