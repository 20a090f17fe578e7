"""Categorical metrics (Task 1): macro-F1, accuracy, UAR, per-class scores, confusion matrix.

Everything is computed from one confusion matrix built with a single ``np.bincount`` over
integer-encoded labels, so scoring a million rows costs a few tens of milliseconds and a bootstrap
can score a whole stack of confusion matrices at once (see :mod:`scoring.bootstrap`).

The semantics are those of scikit-learn with ``labels=`` given and ``zero_division=0``: every given
label counts in the macro average, including a class absent from the truth and/or the predictions
(its precision, recall or F1 is 0 where the denominator is 0). The values are bit-identical to
``sklearn.metrics.f1_score(..., average="macro", labels=labels, zero_division=0)``; the tests
check this. Unlike scikit-learn, a value outside ``labels`` is an error rather than silently
ignored: a submission that predicts an unscored class (O, X) is a bug worth hearing about.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ArrayLike = Any
"""Anything ``np.asarray`` turns into a 1-D array: list, tuple, ndarray, pandas Series."""


# -- encoding ----------------------------------------------------------------------------------
def encode(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Map both label arrays to ``0..k-1`` in the order of ``labels`` (the scored classes).

    Integer codes are what makes the metrics and the bootstrap fast. ``labels=None`` uses the
    sorted union of the observed values (scikit-learn's default); a challenge should always pass
    its scored classes so that an absent class still counts in the macro average.

    Raises ``ValueError`` for a missing value (NaN/None) or a value outside ``labels``, naming the
    value and its position, and when the two arrays differ in length.
    """
    true_codes, pred_codes, _ = encode_with_labels(y_true, y_pred, labels)
    return true_codes, pred_codes


def encode_with_labels(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None, *, allow_empty: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`encode` plus the label array actually used (``labels`` or the observed union)."""
    true_arr = _as_1d(y_true, "y_true")
    pred_arr = _as_1d(y_pred, "y_pred")
    if len(true_arr) != len(pred_arr):
        raise ValueError(f"y_true and y_pred differ in length ({len(true_arr)} vs {len(pred_arr)})")
    if not allow_empty and len(true_arr) == 0:
        raise ValueError("cannot score an empty set of predictions")
    _raise_on_missing(true_arr, "y_true")
    _raise_on_missing(pred_arr, "y_pred")
    label_arr = _labels_array(labels, true_arr, pred_arr)
    true_codes = _codes(true_arr, label_arr, "y_true")
    pred_codes = _codes(pred_arr, label_arr, "y_pred")
    return true_codes, pred_codes, label_arr


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    # A Python list is kept as objects: numpy would otherwise spell NaN/None as the strings
    # "nan"/"None" and an int 1 as "1", hiding exactly the errors this module must report.
    if isinstance(values, (list, tuple)):
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        if len(arr) and isinstance(arr[0], (list, tuple, np.ndarray)):
            raise ValueError(f"{name} must be one-dimensional, got nested sequences")
    else:
        arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _show(value: Any) -> str:
    """``'AC'`` rather than ``np.str_('AC')`` in messages meant for people."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _is_missing(value: Any) -> bool:
    """None, NaN, or a value whose self-comparison is undecidable (pandas NA)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:
        return True


def _missing_mask(arr: np.ndarray) -> np.ndarray | None:
    kind = arr.dtype.kind
    if kind in "fc":
        return np.isnan(arr)
    if kind != "O":
        return None  # strings, integers and booleans cannot be missing
    try:
        return np.asarray(np.equal(arr, None) | (arr != arr), dtype=bool)
    except TypeError:  # pandas NA refuses to be a bool
        return np.fromiter((_is_missing(v) for v in arr), dtype=bool, count=len(arr))


def _raise_on_missing(arr: np.ndarray, name: str) -> None:
    mask = _missing_mask(arr)
    if mask is not None and mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise ValueError(
            f"{name} has a missing value ({_show(arr[i])}) at position {i}; "
            f"{int(mask.sum())} missing in all"
        )


def _labels_array(
    labels: Sequence[Any] | None, true_arr: np.ndarray, pred_arr: np.ndarray
) -> np.ndarray:
    if labels is None:
        if len(true_arr) == 0 and len(pred_arr) == 0:
            return np.asarray([])
        try:
            return np.unique(np.concatenate([true_arr, pred_arr]))
        except TypeError as exc:
            raise ValueError(f"labels of mixed, unorderable types: {exc}") from exc
    label_arr = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels)
    if label_arr.ndim != 1 or len(label_arr) == 0:
        raise ValueError("labels must be a non-empty sequence of class codes")
    missing = _missing_mask(label_arr)
    if missing is not None and missing.any():
        raise ValueError(f"labels contain a missing value at position {int(np.argmax(missing))}")
    if len(set(label_arr.tolist())) != len(label_arr):
        raise ValueError(f"labels contain duplicates: {label_arr.tolist()}")
    return label_arr


def _codes(arr: np.ndarray, labels: np.ndarray, name: str) -> np.ndarray:
    codes = _lookup(arr, labels)
    bad = codes < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} has the value {_show(arr[i])} at position {i}, which is not one of the labels "
            f"{labels.tolist()} ({int(bad.sum())} such values in all)"
        )
    return codes


def _lookup(arr: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Index of each value in ``labels``, or -1; vectorised for the common dtypes."""
    if len(arr) == 0:
        return np.zeros(0, dtype=np.intp)
    if arr.dtype.kind == "U" and labels.dtype.kind == "U" and arr.dtype.itemsize in (4, 8):
        return _lookup_short_strings(arr, labels)
    try:
        order = np.argsort(labels, kind="stable")
        sorted_labels = labels[order]
        pos = np.searchsorted(sorted_labels, arr)
        pos = np.minimum(pos, len(labels) - 1)
        found = np.asarray(sorted_labels[pos] == arr, dtype=bool)
        if found.shape == arr.shape:
            return np.where(found, order[pos], -1)
    except (TypeError, ValueError):
        pass
    index = {value: i for i, value in enumerate(labels.tolist())}

    def get(value: Any) -> int:
        try:
            return index.get(value, -1)
        except TypeError:  # unhashable
            return -1

    return np.fromiter((get(v) for v in arr.tolist()), dtype=np.intp, count=len(arr))


_LUT_LIMIT = 1 << 17
"""Largest code point served by a lookup table (covers Latin, Greek, Cyrillic, CJK...)."""


def _lookup_short_strings(arr: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Strings of one or two characters (challenge codes) compared as integers: ~10x faster."""
    width = arr.dtype.itemsize // 4
    int_type = np.uint32 if width == 1 else np.uint64
    fits = np.char.str_len(labels) <= width  # a longer label can never match, and must not be cut
    label_idx = np.flatnonzero(fits)
    keys = labels[fits].astype(f"<U{width}").view(int_type)
    values = np.ascontiguousarray(arr).astype(f"<U{width}", copy=False).view(int_type)
    if len(keys) == 0:
        return np.full(len(arr), -1, dtype=np.intp)
    if width == 1:
        # One code point per value: a lookup table is a single gather (~6x searchsorted).
        top = int(values.max())
        if top < _LUT_LIMIT:
            table = np.full(max(top, int(keys.max())) + 1, -1, dtype=np.intp)
            table[keys] = label_idx
            return table[values]
    order = np.argsort(keys)
    sorted_keys = keys[order]
    pos = np.minimum(np.searchsorted(sorted_keys, values), len(keys) - 1)
    return np.where(sorted_keys[pos] == values, label_idx[order[pos]], -1)


# -- confusion matrix and scores ---------------------------------------------------------------
def confusion_from_codes(true_codes: np.ndarray, pred_codes: np.ndarray, k: int) -> np.ndarray:
    """Rows are the truth, columns the prediction (scikit-learn's orientation)."""
    cells = true_codes.astype(np.intp, copy=False) * k + pred_codes
    return np.bincount(cells, minlength=k * k).reshape(k, k)


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None
) -> np.ndarray:
    """Counts ``C[i, j]`` of items of class ``labels[i]`` predicted as ``labels[j]``."""
    true_codes, pred_codes, label_arr = _encoded_nonempty(y_true, y_pred, labels)
    return confusion_from_codes(true_codes, pred_codes, len(label_arr))


def _encoded_nonempty(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return encode_with_labels(y_true, y_pred, labels, allow_empty=False)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise division with 0 where the denominator is 0 (``zero_division=0``)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(numerator.shape, denominator.shape), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def scores_from_confusion(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support for one matrix ``(k, k)`` or a stack ``(..., k, k)``.

    The arithmetic follows scikit-learn's ``precision_recall_fscore_support`` operation for
    operation (F1 = 2 tp / (true + pred) in float64), which is why the values agree to the bit.
    """
    confusion = np.asarray(confusion)
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    true_sum = confusion.sum(axis=-1)
    pred_sum = confusion.sum(axis=-2)
    return {
        "precision": _divide(tp, pred_sum),
        "recall": _divide(tp, true_sum),
        "f1": _divide(2.0 * tp, 1.0 * true_sum + pred_sum),
        "support": true_sum,
    }


def macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Macro-F1 of one matrix (0-d array) or of each matrix in a stack."""
    return np.mean(scores_from_confusion(confusion)["f1"], axis=-1)


def accuracy_from_confusion(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion)
    correct = np.trace(confusion, axis1=-2, axis2=-1)
    return correct / confusion.sum(axis=(-2, -1))


def uar_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Unweighted average recall: the mean per-class recall over all given labels."""
    return np.mean(scores_from_confusion(confusion)["recall"], axis=-1)


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None) -> float:
    """The Odyssey 2024 Task 1 and EmoSpeech ranking metric."""
    return float(macro_f1_from_confusion(confusion_matrix(y_true, y_pred, labels)))


def accuracy(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None) -> float:
    """Fraction of exact matches (``labels`` only validates the values)."""
    return float(accuracy_from_confusion(confusion_matrix(y_true, y_pred, labels)))


def uar(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None) -> float:
    """Equals ``recall_score(average="macro", labels=labels, zero_division=0)``."""
    return float(uar_from_confusion(confusion_matrix(y_true, y_pred, labels)))


def per_class(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None
) -> dict[str, dict[str, float | int]]:
    """``{code: {precision, recall, f1, support}}`` in label order, JSON-ready."""
    true_codes, pred_codes, label_arr = _encoded_nonempty(y_true, y_pred, labels)
    confusion = confusion_from_codes(true_codes, pred_codes, len(label_arr))
    return _per_class_dict(scores_from_confusion(confusion), label_arr)


def _per_class_dict(
    scores: dict[str, np.ndarray], label_arr: np.ndarray
) -> dict[str, dict[str, float | int]]:
    return {
        str(label): {
            "precision": float(scores["precision"][i]),
            "recall": float(scores["recall"][i]),
            "f1": float(scores["f1"][i]),
            "support": int(scores["support"][i]),
        }
        for i, label in enumerate(label_arr.tolist())
    }


def classification_report(
    y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None
) -> dict[str, Any]:
    """All Task 1 numbers from one confusion matrix, as plain Python types for metrics.json."""
    true_codes, pred_codes, label_arr = _encoded_nonempty(y_true, y_pred, labels)
    confusion = confusion_from_codes(true_codes, pred_codes, len(label_arr))
    scores = scores_from_confusion(confusion)
    return {
        "macro_f1": float(np.mean(scores["f1"])),
        "accuracy": float(accuracy_from_confusion(confusion)),
        "uar": float(np.mean(scores["recall"])),
        "per_class": _per_class_dict(scores, label_arr),
        "confusion": confusion.tolist(),
        "labels": [str(label) for label in label_arr.tolist()],
    }
