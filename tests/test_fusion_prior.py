"""The prior a fusion's output is under, which the harness corrects from.

The harness moves every member's posteriors to the run's target prior before a fusion sees them,
then moves the fusion's output from ``fusion.training_prior()`` to the same target. Two cases
where a fixed "uniform" answer is wrong, both of which occur on real EmoSpeech data (its test
is drawn like Train, so the target is Train's prior, and Development is too small to give 300
utterances of every class, so Dev_bal is not balanced):

* an interpolation of posteriors already at the target is at the target: a second correction
  would apply the target twice;
* a regression fit on an unbalanced Dev_bal learns Dev_bal's label frequencies.

And with ``stacking=oof`` the Dev_bal score that chooses ``C`` is the score of the output as it
is submitted (moved to the target), checked here against scikit-learn's macro-F1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from harness.data import predictions as P
from harness.evaluate import output_variants
from harness.prior import correct
from systems.components.params import yaml_params
from systems.fusion import FusionInterp, FusionLR

CLASSES = ("A", "B", "C", "N")


class _Challenge:
    attribute_range = None


def _rows(prefix: str, truth: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [f"{prefix}{i}" for i in range(len(truth))], "label": np.asarray(CLASSES)[truth]}
    )


def _members(ids: list[str], truth: np.ndarray, rng, strength: float) -> dict[str, pd.DataFrame]:
    """Three weakly informative members (posteriors under a uniform prior)."""
    out = {}
    for m in range(3):
        logits = rng.normal(0, 1, (len(ids), len(CLASSES)))
        logits[np.arange(len(ids)), truth] += strength
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        out[f"m{m}"] = P.categorical(ids, probs, CLASSES)
    return out


def _at(members: dict[str, pd.DataFrame], prior: np.ndarray) -> dict[str, pd.DataFrame]:
    """The members' posteriors moved from uniform to ``prior``, as the harness hands them over."""
    uniform = np.full(len(CLASSES), 1 / len(CLASSES))
    return {
        m: pd.DataFrame(correct(f.to_numpy(), uniform, prior), index=f.index, columns=f.columns)
        for m, f in members.items()
    }


def _submitted(fusion, inputs, target) -> pd.DataFrame:
    """What the runner submits: the ``prior`` variant of the fusion's output."""
    variants, main = output_variants(
        fusion.predict(inputs),
        "categorical",
        _Challenge(),
        train_prior=fusion.training_prior(),
        target=target,
    )
    assert main == "prior"
    return variants[main]


def test_interpolation_of_members_at_the_target_is_not_corrected_twice():
    rng = np.random.default_rng(0)
    target = np.array([0.1, 0.1, 0.2, 0.6])  # EmoSpeech: the test is drawn like Train
    dev_truth = np.repeat(np.arange(4), 25)
    dev = _rows("d", dev_truth)
    dev_inputs = _at(_members(dev["id"].tolist(), dev_truth, rng, 1.0), target)
    test_truth = rng.choice(4, size=400, p=target)
    test_inputs = _at(_members(_rows("e", test_truth)["id"].tolist(), test_truth, rng, 1.0), target)

    fusion = FusionInterp(step=0.05).fit(
        dev_inputs, dev, task="categorical", classes=CLASSES, target_prior=target
    )
    np.testing.assert_allclose(fusion.training_prior(), target)
    weights = np.array([fusion.weights_[m] for m in fusion.members_])
    by_hand = sum(w * test_inputs[m].to_numpy() for w, m in zip(weights, fusion.members_))
    np.testing.assert_allclose(_submitted(fusion, test_inputs, target).to_numpy(), by_hand)


def test_regression_on_an_unbalanced_dev_bal_is_moved_from_dev_bal_frequencies():
    rng = np.random.default_rng(1)
    counts = np.array([10, 10, 10, 90])  # Development too small for N=300 of every class
    dev_truth = np.repeat(np.arange(4), counts)
    dev = _rows("d", dev_truth)
    uniform = np.full(4, 0.25)
    dev_inputs = _members(dev["id"].tolist(), dev_truth, rng, 0.8)
    test_truth = np.repeat(np.arange(4), 300)  # a balanced test, the target uniform
    test_inputs = _members(_rows("e", test_truth)["id"].tolist(), test_truth, rng, 0.8)

    params = yaml_params("fusion_lr", seed=0)
    fusion = FusionLR(**params).fit(
        dev_inputs, dev, task="categorical", classes=CLASSES, target_prior=uniform
    )
    smoothed = (counts + 1) / (counts + 1).sum()  # class_prior's add-one frequencies
    np.testing.assert_allclose(fusion.training_prior(), smoothed)

    predicted = _submitted(fusion, test_inputs, uniform).to_numpy().argmax(1)
    raw = fusion.predict(test_inputs).to_numpy().argmax(1)
    # The raw regression calls most of a balanced test N; moved from Dev_bal's frequencies it
    # no longer does, and its macro-F1 is higher.
    assert (raw == 3).mean() > 0.5 and (predicted == 3).mean() < 0.4
    labels = np.asarray(CLASSES)
    f1 = f1_score(labels[test_truth], labels[predicted], average="macro")
    assert f1 > f1_score(labels[test_truth], labels[raw], average="macro") + 0.05


def test_oof_stacking_chooses_c_by_the_dev_bal_score_of_what_is_submitted():
    rng = np.random.default_rng(2)
    uniform = np.full(4, 0.25)
    train_truth = rng.choice(4, size=600, p=[0.1, 0.1, 0.1, 0.7])  # Train neutral-dominant
    train = _rows("t", train_truth)
    dev_truth = np.repeat(np.arange(4), 40)  # Dev_bal balanced
    dev = _rows("d", dev_truth)
    oof = _members(train["id"].tolist(), train_truth, rng, 0.8)
    dev_inputs = _members(dev["id"].tolist(), dev_truth, rng, 0.8)

    params = yaml_params("fusion_lr", seed=0, stacking="oof")
    fusion = FusionLR(**params).fit(
        dev_inputs,
        dev,
        task="categorical",
        classes=CLASSES,
        train_member_predictions=oof,
        train=train,
        target_prior=uniform,
    )
    assert fusion.report()["stacking"] == "oof"
    labels = np.asarray(CLASSES)
    submitted = _submitted(fusion, dev_inputs, uniform).loc[dev["id"]].to_numpy().argmax(1)
    expected = f1_score(labels[dev_truth], labels[submitted], average="macro")
    raw = fusion.predict(dev_inputs).loc[dev["id"]].to_numpy().argmax(1)
    uncorrected = f1_score(labels[dev_truth], labels[raw], average="macro")
    assert abs(uncorrected - expected) > 0.02  # the two scores differ on this Dev_bal
    assert fusion.report()["dev_bal"]["macro_f1_oof"] == pytest.approx(expected, abs=1e-12)
