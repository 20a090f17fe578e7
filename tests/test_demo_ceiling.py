"""The demo's text ceiling: its likelihood is the generator's, checked against the generator's own
draws, so that the ceiling the README quotes is the real one and not a model of it."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from harness.data.demo import LANGUAGES
from harness.data.demo.ceiling import (
    ceiling_predictions,
    evidence_kind,
    expected_accuracy,
    find_pool,
    likelihood,
    pool_patterns,
)
from harness.data.demo.plan import plan_corpus
from harness.errors import HarnessError

N = 12000


@pytest.fixture(scope="module", params=["en", "es"])
def planned(request):
    spec = LANGUAGES[request.param]
    codes = {c.code for c in spec.classes}
    utterances = [u for u in plan_corpus(request.param, N, seed=3) if u.label in codes]
    return spec, utterances


def test_likelihood_is_a_distribution_per_class(planned):
    spec, _ = planned
    codes = [c.code for c in spec.classes]
    for code in codes:
        total = sum(
            likelihood(spec, pool, cue, code)
            for pool, cue in itertools.product(pool_patterns(spec.lang), ["", *codes])
        )
        assert total == pytest.approx(1.0)


def test_likelihood_matches_the_generators_draws(planned):
    """Empirical P(pool, opener | class) over a large planned corpus agrees with the formula
    (a wrong branch, such as dropping the openers of the neutral class's own sentences, moves
    whole cells by far more than the tolerance)."""
    spec, utterances = planned
    codes = [c.code for c in spec.classes]
    by_class = {code: Counter() for code in codes}
    for u in utterances:
        by_class[u.label][(find_pool(u.text, spec.lang), u.cue)] += 1
    for code, counts in by_class.items():
        n = sum(counts.values())
        assert n > 500
        for pool, cue in itertools.product(pool_patterns(spec.lang), ["", *codes]):
            expected = likelihood(spec, pool, cue, code)
            observed = counts[(pool, cue)] / n
            tolerance = 4 * np.sqrt(max(expected, 1 / n) * (1 - expected) / n)
            assert abs(observed - expected) <= tolerance, (code, pool, cue, observed, expected)


def test_bayes_rule_scores_its_expected_accuracy_on_a_balanced_sample(planned):
    spec, utterances = planned
    rng = np.random.default_rng(0)
    per_class = min(Counter(u.label for u in utterances).values())
    sample = []
    for code in (c.code for c in spec.classes):
        rows = [u for u in utterances if u.label == code]
        sample += [rows[i] for i in rng.choice(len(rows), per_class, replace=False)]
    predictions, kinds = ceiling_predictions(
        spec, [u.text for u in sample], [u.cue for u in sample]
    )
    accuracy = np.mean([p == u.label for p, u in zip(predictions, sample)])
    se = np.sqrt(0.25 / len(sample))
    assert abs(accuracy - expected_accuracy(spec)) < 4 * se
    assert 1 / len(spec.classes) < expected_accuracy(spec) < 1
    class_rows = [p == u.label for p, u, k in zip(predictions, sample, kinds) if k == "class"]
    assert class_rows and all(class_rows)  # a sentence that names its emotion is certain


def test_evidence_kinds():
    spec = LANGUAGES["es"]
    assert evidence_kind(spec, "anger", "") == "class"
    assert evidence_kind(spec, "neutral", "fear") == "opener"
    assert evidence_kind(spec, "negative", "") == "bare"


def test_a_sentence_from_no_pool_is_one_clear_error():
    with pytest.raises(HarnessError, match="cannot tell which sentence pool"):
        find_pool("Una frase que no viene de ninguna plantilla.", "es")
