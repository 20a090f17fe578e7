"""The best any text-only model can do on the demo: the Bayes rule of the sentence generator.

Why: a demo utterance's words carry exactly two facts about its class, the sentence pool its
template came from (the class's own, its word group's, or the neutral one) and the opener put
in front of it, drawn with the probabilities of :mod:`harness.data.demo.spec` by
:mod:`harness.data.demo.sentences`. The template inside a pool and the slot fillers say nothing.
So ``argmax_c P(pool, opener | c)`` under the evaluation split's uniform prior is the
accuracy-optimal text classifier: a text system, or any stack of them, is measured against it,
and the gap says how much the text still has to give. The likelihood is written out here, next
to the generator it describes, and a test checks it against the generator's own draws.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Sequence
from functools import cache

from harness.data.demo.spec import (
    NEUTRAL_CLASS_DRAW,
    P_CLASS,
    P_CUE,
    P_GROUP,
    P_OWN_CUE,
    LanguageSpec,
)
from harness.errors import HarnessError

NEUTRAL_CLASS_POOLS = {
    pool: upper - lower
    for (pool, upper), lower in zip(NEUTRAL_CLASS_DRAW, [0.0] + [u for _, u in NEUTRAL_CLASS_DRAW])
}
"""P(pool | neutral class), from the thresholds ``draw_sentence`` uses."""

EVIDENCE = {
    "class": "class sentence (names the emotion)",
    "opener": "group or neutral sentence, with an opener",
    "bare": "group or neutral sentence, no opener",
}
"""The three kinds of text evidence, by how much they say about the class."""


@cache
def pool_patterns(lang: str) -> dict[str, tuple[re.Pattern, ...]]:
    """One regular expression per template (a slot matches anything), by pool name."""
    from harness.data.demo.sentences import sentence_pools

    def pattern(template: str) -> re.Pattern:
        parts = []
        for literal, field, _, _ in string.Formatter().parse(template):
            parts.append(re.escape(literal.lower()))
            if field is not None:
                parts.append(".+")
        return re.compile("".join(parts))

    pools = sentence_pools(lang).pools
    return {name: tuple(pattern(t) for t in templates) for name, templates in pools.items()}


def find_pool(text: str, lang: str) -> str:
    """The pool whose template produced ``text`` (undoing the Spanish contractions of ``tidy``)."""
    lowered = text.lower()
    if lang == "es":
        lowered = lowered.replace(" del ", " de el ").replace(" al ", " a el ")
    patterns = pool_patterns(lang)
    hits = [name for name, ps in patterns.items() if any(p.search(lowered) for p in ps)]
    if len(hits) != 1:
        raise HarnessError(
            f"cannot tell which sentence pool {text!r} came from (matches {hits or 'none'})",
            fix=f"read a demo corpus built from this version's sentences/{lang}.yaml",
        )
    return hits[0]


def likelihood(spec: LanguageSpec, pool: str, cue: str, code: str) -> float:
    """P(pool, opener | class ``code``); ``cue`` is the opener's class, or "" for none."""
    if code == spec.neutral:
        p_pool = NEUTRAL_CLASS_POOLS.get(pool, 0.0)
    else:
        group = next(c.group for c in spec.classes if c.code == code)
        p_pool = {code: P_CLASS, group: P_GROUP, "neutral": 1 - P_CLASS - P_GROUP}.get(pool, 0.0)
    if pool == code and code != spec.neutral:  # a class sentence never gets an opener
        return p_pool * (cue == "")
    if cue == "":
        return p_pool * (1 - P_CUE)
    share = (1 - P_OWN_CUE) / len(spec.classes)
    return p_pool * P_CUE * ((P_OWN_CUE if cue == code else 0.0) + share)


def evidence_kind(spec: LanguageSpec, pool: str, cue: str) -> str:
    """Which of :data:`EVIDENCE` a sentence from ``pool`` with opener ``cue`` is."""
    if pool != spec.neutral and pool in {c.code for c in spec.classes}:
        return "class"
    return "opener" if cue else "bare"


def ceiling_predictions(
    spec: LanguageSpec, texts: Sequence[str], cues: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The Bayes rule's class (uniform prior) and the evidence kind of every sentence."""
    codes = [c.code for c in spec.classes]
    predictions, kinds = [], []
    for text, cue in zip(texts, cues):
        pool = find_pool(text, spec.lang)
        # max keeps the first of tied classes, as argmax does
        predictions.append(max(codes, key=lambda code: likelihood(spec, pool, cue, code)))
        kinds.append(evidence_kind(spec, pool, cue))
    return predictions, kinds


def expected_accuracy(spec: LanguageSpec) -> float:
    """The Bayes rule's accuracy over the generator itself (no sampling noise), uniform prior.

    No text model beats it on average. Macro-F1 has no such bound: a rule that trades accuracy
    for macro-F1 can score a little above the Bayes rule's macro-F1 on a sample.
    """
    codes = [c.code for c in spec.classes]
    total = 0.0
    for pool, cue in itertools.product(pool_patterns(spec.lang), ["", *codes]):
        total += max(likelihood(spec, pool, cue, c) for c in codes)
    return total / len(codes)
