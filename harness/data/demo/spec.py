"""What each demo language is: class centres, word groups, train prior, voices and the constants.

Why a module of its own: the plan, the sentence draws and the tests all read these numbers, and
they are the knobs a reader turns to make the demo task harder or easier. The generative model
they parameterise is described in :mod:`harness.data.demo`. Changing any value changes the corpus
built for a seed; bump that language's ``DEMO_VERSION`` then, so that cached corpora are rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError

DEMO_VERSION = {"en": 3, "es": 3}
"""Generator version per language: a change to one language's sentences rebuilds only its corpora."""

P_CLASS = 0.40
P_GROUP = 0.25
P_CUE = 0.7
P_OWN_CUE = 0.6
# The neutral class's sentence pool, by cumulative threshold of one uniform draw: mostly neutral
# words, sometimes a word group's (so that text alone cannot tell neutral apart).
NEUTRAL_CLASS_DRAW = (("neutral", 0.86), ("negative", 0.93), ("positive", 1.0))
LEXICAL_WEIGHT = 0.5
ATTRIBUTE_JITTER = 0.55
VALENCE_NOISE = 0.3
PROSODY_JITTER = {"pitch": 8.0, "range": 18.0, "rate": 7.0, "gain_db": 2.5}
GROUP_VALENCE = {"negative": 2.3, "positive": 5.8, "neutral": 4.0}
MIN_N = {"en": 48, "es": 36}
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


@dataclass(frozen=True)
class ClassSpec:
    code: str
    valence: float
    arousal: float
    dominance: float
    group: str


@dataclass(frozen=True)
class LanguageSpec:
    lang: str
    classes: tuple[ClassSpec, ...]
    train_prior: dict[str, float]
    voices: tuple[str, ...]
    neutral: str
    eval_split: str


EN = LanguageSpec(
    lang="en",
    classes=(
        ClassSpec("A", 2.0, 6.0, 5.6, "negative"),
        ClassSpec("S", 2.1, 2.2, 2.4, "negative"),
        ClassSpec("H", 6.0, 5.6, 5.0, "positive"),
        ClassSpec("U", 5.0, 5.9, 3.0, "positive"),
        ClassSpec("F", 2.2, 5.3, 2.2, "negative"),
        ClassSpec("D", 2.4, 4.0, 4.6, "negative"),
        ClassSpec("C", 2.8, 3.0, 5.8, "negative"),
        ClassSpec("N", 4.0, 3.6, 4.0, "neutral"),
    ),
    # Neutral-dominant like MSP-Podcast; O and X are train-only codes.
    train_prior={
        "N": 0.36,
        "H": 0.15,
        "A": 0.09,
        "S": 0.08,
        "C": 0.07,
        "U": 0.06,
        "D": 0.05,
        "F": 0.04,
        "O": 0.05,
        "X": 0.05,
    },
    voices=_words(
        "en-us|en|en-gb-scotland|en-gb-x-rp|en-029|en-us-nyc|en-gb-x-gbclan|en-gb-x-gbcwmd"
    ),
    neutral="N",
    eval_split="Test3",
)
ES = LanguageSpec(
    lang="es",
    classes=(
        ClassSpec("anger", 2.0, 6.0, 5.6, "negative"),
        ClassSpec("disgust", 2.4, 4.0, 4.6, "negative"),
        ClassSpec("fear", 2.2, 5.3, 2.2, "negative"),
        ClassSpec("joy", 6.0, 5.6, 5.0, "positive"),
        ClassSpec("neutral", 4.0, 3.6, 4.0, "neutral"),
        ClassSpec("sadness", 2.1, 2.2, 2.4, "negative"),
    ),
    train_prior={
        "neutral": 0.38,
        "joy": 0.18,
        "anger": 0.14,
        "sadness": 0.12,
        "disgust": 0.11,
        "fear": 0.07,
    },
    voices=("es", "es-419"),
    neutral="neutral",
    eval_split="Test",
)
LANGUAGES = {"en": EN, "es": ES}


def language(lang: str) -> LanguageSpec:
    """The spec of ``lang``, or one error naming the languages there are."""
    if lang not in LANGUAGES:
        raise HarnessError(f"no demo corpus for language {lang!r}", fix="use lang=en or lang=es")
    return LANGUAGES[lang]
