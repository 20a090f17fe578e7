"""The official metrics against independent references (scikit-learn, written-out CCC formulas)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr
from sklearn import metrics as skm

from scoring import (
    accuracy,
    attribute_report,
    ccc,
    ccc_mean,
    classification_report,
    confusion_matrix,
    encode,
    macro_f1,
    per_class,
    uar,
)

ODYSSEY = ("A", "S", "H", "U", "F", "D", "C", "N")
EMOSPEECH = ("anger", "disgust", "fear", "joy", "neutral", "sadness")


def sk_all(y_true, y_pred, labels):
    """Everything scikit-learn says about one case, with the challenge's semantics."""
    labels = list(labels)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "macro_f1": skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "uar": skm.recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "confusion": skm.confusion_matrix(y_true, y_pred, labels=labels),
    }


def assert_matches_sklearn(y_true, y_pred, labels) -> None:
    ref = sk_all(y_true, y_pred, labels)
    # Bit-identical, not merely close: a leaderboard sorts on these numbers.
    assert macro_f1(y_true, y_pred, labels) == ref["macro_f1"]
    assert accuracy(y_true, y_pred, labels) == ref["accuracy"]
    assert uar(y_true, y_pred, labels) == ref["uar"]
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, labels), ref["confusion"])
    classes = per_class(y_true, y_pred, labels)
    assert list(classes) == [str(label) for label in labels]
    for i, label in enumerate(labels):
        row = classes[str(label)]
        assert row["precision"] == ref["precision"][i]
        assert row["recall"] == ref["recall"][i]
        assert row["f1"] == ref["f1"][i]
        assert row["support"] == ref["support"][i]
    report = classification_report(y_true, y_pred, labels)
    assert report["macro_f1"] == ref["macro_f1"]
    assert report["accuracy"] == ref["accuracy"]
    assert report["uar"] == ref["uar"]
    assert report["confusion"] == ref["confusion"].tolist()
    assert report["per_class"] == classes


# -- agreement with scikit-learn on many random cases ------------------------------------------
def test_random_cases_match_sklearn_exactly() -> None:
    rng = np.random.default_rng(12345)
    codes = np.array(ODYSSEY)
    for _ in range(150):
        k = int(rng.integers(2, len(codes) + 1))
        labels = list(rng.permutation(codes)[:k])
        n = int(rng.integers(1, 400))
        # Sparse Dirichlet weights make absent classes (in truth and/or predictions) common.
        p_true = rng.dirichlet(np.full(k, 0.3))
        p_pred = rng.dirichlet(np.full(k, 0.3))
        y_true = rng.choice(labels, size=n, p=p_true)
        y_pred = np.where(rng.random(n) < 0.4, y_true, rng.choice(labels, size=n, p=p_pred))
        assert_matches_sklearn(y_true, y_pred, labels)


def test_random_integer_labels_match_sklearn() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        k = int(rng.integers(2, 10))
        labels = list(range(10, 10 + k))
        n = int(rng.integers(1, 200))
        y_true = rng.integers(10, 10 + k, size=n)
        y_pred = rng.integers(10, 10 + k, size=n)
        assert_matches_sklearn(y_true, y_pred, labels)


@settings(max_examples=100, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.sampled_from(EMOSPEECH), st.sampled_from(EMOSPEECH)), min_size=1, max_size=60
    )
)
def test_hypothesis_word_labels_match_sklearn(pairs) -> None:
    y_true = [t for t, _ in pairs]
    y_pred = [p for _, p in pairs]
    assert_matches_sklearn(y_true, y_pred, EMOSPEECH)


def test_large_case_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.choice(ODYSSEY, size=200_000)
    y_pred = np.where(rng.random(200_000) < 0.3, y_true, rng.choice(ODYSSEY, size=200_000))
    assert macro_f1(y_true, y_pred, ODYSSEY) == skm.f1_score(
        y_true, y_pred, labels=list(ODYSSEY), average="macro", zero_division=0
    )


# -- edge cases ---------------------------------------------------------------------------------
def test_class_absent_from_predictions_counts_as_zero() -> None:
    y_true = ["A", "A", "S", "S", "H"]
    y_pred = ["A", "A", "S", "S", "A"]  # H is never predicted
    assert_matches_sklearn(y_true, y_pred, ["A", "S", "H"])
    assert per_class(y_true, y_pred, ["A", "S", "H"])["H"]["f1"] == 0.0
    # 3 classes in the average, not 2.
    assert macro_f1(y_true, y_pred, ["A", "S", "H"]) == pytest.approx((0.8 + 1.0 + 0.0) / 3)


def test_class_absent_from_truth_counts_as_zero() -> None:
    y_true = ["A", "A", "S", "S"]
    y_pred = ["A", "H", "S", "S"]  # H predicted but never true
    assert_matches_sklearn(y_true, y_pred, ["A", "S", "H"])
    assert per_class(y_true, y_pred, ["A", "S", "H"])["H"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }


def test_class_absent_everywhere_still_in_the_average() -> None:
    y_true = ["A", "S", "A", "S"]
    y_pred = ["A", "S", "A", "S"]
    assert_matches_sklearn(y_true, y_pred, ODYSSEY)
    assert macro_f1(y_true, y_pred, ODYSSEY) == pytest.approx(2 / 8)
    assert macro_f1(y_true, y_pred, ["A", "S"]) == 1.0


def test_constant_prediction() -> None:
    rng = np.random.default_rng(3)
    y_true = rng.choice(ODYSSEY, size=100)
    y_pred = ["N"] * 100
    assert_matches_sklearn(y_true, y_pred, ODYSSEY)
    share = float(np.mean(y_true == "N"))
    assert accuracy(y_true, y_pred, ODYSSEY) == pytest.approx(share)
    assert uar(y_true, y_pred, ODYSSEY) == pytest.approx(1 / 8)


def test_one_item() -> None:
    assert_matches_sklearn(["A"], ["A"], ODYSSEY)
    assert_matches_sklearn(["A"], ["S"], ODYSSEY)
    assert macro_f1(["A"], ["A"], ODYSSEY) == pytest.approx(1 / 8)
    assert macro_f1(["A"], ["S"], ODYSSEY) == 0.0


def test_labels_none_uses_the_observed_union_like_sklearn() -> None:
    y_true = ["b", "a", "c", "a"]
    y_pred = ["a", "a", "c", "d"]
    assert macro_f1(y_true, y_pred) == skm.f1_score(y_true, y_pred, average="macro")
    assert classification_report(y_true, y_pred)["labels"] == ["a", "b", "c", "d"]


def test_confusion_orientation_follows_label_order() -> None:
    cm = confusion_matrix(["A", "A", "S"], ["S", "S", "S"], ["S", "A"])
    # rows = truth, columns = prediction, in the order of the given labels
    assert cm.tolist() == [[1, 0], [2, 0]]


@pytest.mark.parametrize(
    ("y_true", "y_pred", "side", "position"),
    [
        (["A", float("nan"), "S"], ["A", "S", "S"], "y_true", 1),
        (["A", "S", "S"], ["A", "S", None], "y_pred", 2),
        (np.array([1.0, 2.0, np.nan]), np.array([1.0, 2.0, 1.0]), "y_true", 2),
        (pd.Series(["A", pd.NA], dtype="string"), ["A", "S"], "y_true", 1),
    ],
)
def test_missing_values_are_errors_that_say_where(y_true, y_pred, side, position) -> None:
    labels = [1.0, 2.0] if isinstance(y_true, np.ndarray) else ["A", "S"]
    with pytest.raises(ValueError, match=rf"{side} has a missing value .* at position {position}"):
        encode(y_true, y_pred, labels)
    with pytest.raises(ValueError, match="missing value"):
        macro_f1(y_true, y_pred, labels)


@pytest.mark.parametrize("bad", ["O", "X", "Z", "a", "AB"])
def test_value_outside_labels_names_value_and_position(bad: str) -> None:
    y_pred = ["A", "S", bad, "N"]
    with pytest.raises(ValueError, match=rf"y_pred has the value .*{bad}.* at position 2"):
        macro_f1(["A", "S", "H", "N"], y_pred, ODYSSEY)


def test_value_outside_labels_in_object_and_integer_arrays() -> None:
    with pytest.raises(ValueError, match="position 1"):
        encode(pd.Series(["A", "Q"], dtype=object), ["A", "A"], ODYSSEY)
    with pytest.raises(ValueError, match="value 7 at position 0"):
        encode([7, 1], [1, 1], [1, 2])
    with pytest.raises(ValueError, match="not one of the labels"):
        encode([1, 2], ["1", "2"], ["1", "2"])  # ints are not their string spellings


@pytest.mark.parametrize("func", [macro_f1, accuracy, uar, per_class, confusion_matrix])
def test_empty_input_is_an_error(func) -> None:
    with pytest.raises(ValueError, match="empty"):
        func([], [], ODYSSEY)


def test_length_mismatch_and_bad_labels_are_errors() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        macro_f1(["A", "S"], ["A"], ODYSSEY)
    with pytest.raises(ValueError, match="duplicates"):
        macro_f1(["A"], ["A"], ["A", "A"])
    with pytest.raises(ValueError, match="non-empty"):
        macro_f1(["A"], ["A"], [])
    with pytest.raises(ValueError, match="one-dimensional"):
        macro_f1([["A"]], [["A"]], ["A"])


def test_encode_every_input_kind_gives_the_same_codes() -> None:
    values = ["N", "A", "S", "N", "C"]
    expected = np.array([7, 0, 1, 7, 6])
    kinds = [
        values,
        tuple(values),
        np.array(values),
        np.array(values, dtype=object),
        pd.Series(values),
        pd.Series(values, dtype="string"),
        pd.Categorical(values),
    ]
    for kind in kinds:
        true_codes, pred_codes = encode(kind, kind, ODYSSEY)
        np.testing.assert_array_equal(true_codes, expected)
        np.testing.assert_array_equal(pred_codes, expected)


def test_encode_strings_of_mixed_widths_and_non_ascii() -> None:
    # values narrower than some labels (must not be truncated into a false match)
    labels = ["AB", "A", "B", "ABC"]
    true_codes, _ = encode(np.array(["A", "B", "A"]), np.array(["A", "A", "A"]), labels)
    np.testing.assert_array_equal(true_codes, [1, 2, 1])
    # two-character values (the integer fast path for width 2)
    true_codes, _ = encode(np.array(["AB", "A", "B"]), np.array(["A", "A", "A"]), labels)
    np.testing.assert_array_equal(true_codes, [0, 1, 2])
    with pytest.raises(ValueError, match="'AC' at position 1"):
        encode(np.array(["AB", "AC"]), np.array(["A", "A"]), labels)
    # code points beyond the lookup table and outside ASCII
    labels = ["é", "ß", "😀", "中"]
    values = np.array(["😀", "中", "é", "ß"])
    np.testing.assert_array_equal(encode(values, values, labels)[0], [2, 3, 0, 1])
    with pytest.raises(ValueError, match="position 0"):
        encode(np.array(["😁"]), np.array(["é"]), labels)


def test_report_is_json_ready() -> None:
    report = classification_report(["A", "S", "N"], ["A", "N", "N"], ODYSSEY)
    assert set(report) == {"macro_f1", "accuracy", "uar", "per_class", "confusion", "labels"}
    assert report["labels"] == list(ODYSSEY)
    assert len(report["confusion"]) == 8 and all(len(row) == 8 for row in report["confusion"])
    restored = json.loads(json.dumps(report))
    assert restored == report
    assert isinstance(report["per_class"]["A"]["support"], int)


# -- CCC ----------------------------------------------------------------------------------------
def ccc_reference_cov(p: np.ndarray, t: np.ndarray) -> float:
    """The official formula written out with numpy's own population statistics."""
    cov = np.cov(p, t, bias=True)[0, 1]
    return 2 * cov / (np.var(p) + np.var(t) + (np.mean(p) - np.mean(t)) ** 2)


def ccc_reference_pearson(p: np.ndarray, t: np.ndarray) -> float:
    """Lin's form rho * 2 sd_p sd_t / (...), with rho from scipy: shares no code with the above."""
    rho = pearsonr(p, t).statistic
    sd_p = math.sqrt(math.fsum((x - math.fsum(p) / len(p)) ** 2 for x in p) / len(p))
    sd_t = math.sqrt(math.fsum((x - math.fsum(t) / len(t)) ** 2 for x in t) / len(t))
    shift = math.fsum(p) / len(p) - math.fsum(t) / len(t)
    return rho * 2 * sd_p * sd_t / (sd_p**2 + sd_t**2 + shift**2)


def test_ccc_matches_two_independent_references() -> None:
    rng = np.random.default_rng(2024)
    for _ in range(100):
        n = int(rng.integers(3, 500))
        t = rng.uniform(1, 7, size=n)
        p = rng.uniform(-1, 1) * t + rng.normal(rng.uniform(-2, 2), rng.uniform(0.1, 3), size=n)
        value = ccc(p, t)
        assert value == pytest.approx(ccc_reference_cov(p, t), rel=1e-10, abs=1e-12)
        assert value == pytest.approx(ccc_reference_pearson(p, t), rel=1e-9, abs=1e-12)
        assert -1.0 <= value <= 1.0


def test_ccc_known_values() -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert ccc(t, t) == 1.0
    # Negated: cov=-1.25, both variances 1.25, means 5 apart.
    assert ccc(-t, t) == pytest.approx(-2.5 / (2.5 + 25.0))
    assert ccc(5 - t, t) == pytest.approx(-1.0)  # mirrored around the same mean
    # A constant shift keeps pearson at 1 but CCC pays for the bias: var=1.25, shift=1.
    assert ccc(t + 1, t) == pytest.approx(2 * 1.25 / (1.25 + 1.25 + 1.0))
    # Scaling around the mean: cov = 2*var, var_p = 4*var.
    assert ccc(2 * (t - 2.5) + 2.5, t) == pytest.approx(2 * 2.5 / (5.0 + 1.25))
    assert ccc([1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_ccc_is_symmetric_and_accepts_lists_and_series() -> None:
    rng = np.random.default_rng(1)
    p, t = rng.normal(size=50), rng.normal(size=50)
    assert ccc(p, t) == pytest.approx(ccc(t, p), rel=1e-14)
    assert ccc(list(p), pd.Series(t)) == ccc(p, t)


def test_ccc_degenerate_cases_are_defined() -> None:
    varying = np.array([1.0, 2.0, 3.0])
    # constant prediction of a varying truth: no covariance -> 0
    assert ccc(np.full(3, 2.0), varying) == 0.0
    assert ccc(varying, np.full(3, 2.0)) == 0.0
    # both constant but different: 0 (the denominator is the squared shift)
    assert ccc(np.full(3, 2.0), np.full(3, 3.0)) == 0.0
    # both the same constant: exactly right -> 1.0, never NaN
    assert ccc(np.full(3, 0.1), np.full(3, 0.1)) == 1.0
    assert ccc(np.full(1000, 0.1), np.full(1000, 0.1)) == 1.0
    # one item: same rules
    assert ccc([4.0], [4.0]) == 1.0
    assert ccc([4.0], [5.0]) == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_ccc_rejects_non_finite_values_with_position(bad: float) -> None:
    with pytest.raises(ValueError, match="pred has the non-finite value .* at position 2"):
        ccc([1.0, 2.0, bad], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="true has the non-finite"):
        ccc([1.0, 2.0, 3.0], [bad, 2.0, 3.0])


def test_ccc_rejects_empty_and_mismatched_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        ccc([], [])
    with pytest.raises(ValueError, match="differ in shape"):
        ccc([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="numeric"):
        ccc(["a", "b"], [1.0, 2.0])


def test_attribute_report_per_column_and_mean() -> None:
    rng = np.random.default_rng(5)
    true = rng.uniform(1, 7, size=(300, 3))
    pred = true * np.array([0.9, 0.3, 0.6]) + rng.normal(0, 1, size=(300, 3))
    report = attribute_report(true, pred)
    assert list(report) == ["ccc_arousal", "ccc_valence", "ccc_dominance", "ccc_mean"]
    expected = [ccc_reference_cov(pred[:, j], true[:, j]) for j in range(3)]
    for name, value in zip(["arousal", "valence", "dominance"], expected):
        assert report[f"ccc_{name}"] == pytest.approx(value, rel=1e-10)
    assert report["ccc_mean"] == pytest.approx(float(np.mean(expected)), rel=1e-10)
    assert ccc_mean(true, pred) == report["ccc_mean"]
    # DataFrames work, and custom names
    frame = pd.DataFrame(true, columns=["a", "v", "d"])
    custom = attribute_report(frame, pred, names=("a", "v", "d"))
    assert custom["ccc_a"] == report["ccc_arousal"]


def test_attribute_report_rejects_bad_shapes_and_nan() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        attribute_report(np.ones((4, 2)), np.ones((4, 2)))
    pred = np.ones((4, 3))
    pred[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"position \(2, 1\)"):
        attribute_report(np.ones((4, 3)), pred)
    with pytest.raises(ValueError, match="empty"):
        attribute_report(np.ones((0, 3)), np.ones((0, 3)))


def test_scoring_imports_no_harness_and_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, scoring, scoring.bootstrap; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'harness', 'systems', 'leaderboards', 'sklearn', 'pandas')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
