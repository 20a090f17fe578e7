"""Attribute metrics (Task 2): the concordance correlation coefficient (CCC) per attribute.

CCC uses population (biased, ``1/n``) moments, as the Odyssey 2024 baseline does::

    ccc = 2 * cov(p, t) / (var(p) + var(t) + (mean(p) - mean(t)) ** 2)

Degenerate inputs, chosen so that a number is always defined and never misleading:

* empty input, NaN or infinity -> ``ValueError`` (a silent NaN would rank a broken system);
* one item, or constant columns: the formula still applies. Its denominator is zero only when the
  prediction and the truth are the same constant; then the prediction is exactly right, and CCC is
  defined as 1.0, the limit of its equivalent form ``1 - mean((p - t)**2) / denominator`` with a
  zero error. Any constant prediction of a varying truth scores 0.0 (its covariance is 0).

The row-wise functions (``ccc_rows``) score a whole stack of bootstrap resamples at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ATTRIBUTE_NAMES: tuple[str, str, str] = ("arousal", "valence", "dominance")


def _as_float(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        objects = np.asarray(values, dtype=object)
        missing = np.argwhere(np.equal(objects, None))
        if len(missing):
            where = tuple(int(i) for i in missing[0])
            raise ValueError(
                f"{name} has a missing value (None) at position "
                f"{where[0] if len(where) == 1 else where}"
            ) from exc
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    bad = ~np.isfinite(arr)
    if bad.any():
        pos = np.argwhere(bad)[0]
        where = int(pos[0]) if len(pos) == 1 else tuple(int(i) for i in pos)
        value = arr[tuple(pos)]
        raise ValueError(
            f"{name} has the non-finite value {value} at position {where}; "
            f"{int(bad.sum())} such values in all"
        )
    return arr


def _check_pair(pred: np.ndarray, true: np.ndarray, ndim: int) -> None:
    if pred.ndim != ndim or true.ndim != ndim:
        raise ValueError(
            f"expected {ndim}-dimensional arrays, got shapes {pred.shape} and {true.shape}"
        )
    if pred.shape != true.shape:
        raise ValueError(f"predictions {pred.shape} and truth {true.shape} differ in shape")
    if pred.shape[0] == 0:
        raise ValueError("cannot score an empty set of predictions")


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and centred values along the last axis, with exact zeros for constant rows.

    Floating-point ``mean`` of a constant is not always that constant; the exact fix keeps the
    "same constant" case on its documented value instead of dividing rounding noise by itself.
    """
    mean = x.mean(axis=-1, keepdims=True)
    constant = x.min(axis=-1, keepdims=True) == x.max(axis=-1, keepdims=True)
    if constant.any():
        mean = np.where(constant, x[..., :1], mean)
    return mean, x - mean


def ccc_rows(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """CCC along the last axis of two equally shaped float arrays (no validation: internal)."""
    mean_p, dev_p = _moments(pred)
    mean_t, dev_t = _moments(true)
    var_p = np.mean(dev_p * dev_p, axis=-1)
    var_t = np.mean(dev_t * dev_t, axis=-1)
    cov = np.mean(dev_p * dev_t, axis=-1)
    shift = (mean_p - mean_t)[..., 0]
    denominator = var_p + var_t + shift * shift
    out = np.ones_like(denominator)
    np.divide(2.0 * cov, denominator, out=out, where=denominator != 0)
    return out


def ccc(pred: Any, true: Any) -> float:
    """Concordance correlation coefficient of two 1-D arrays (symmetric in its arguments)."""
    pred_arr = _as_float(pred, "pred")
    true_arr = _as_float(true, "true")
    _check_pair(pred_arr, true_arr, 1)
    return float(ccc_rows(pred_arr, true_arr))


def _as_matrix(values: Any, name: str, n_columns: int) -> np.ndarray:
    arr = _as_float(values, name)
    if arr.ndim != 2 or arr.shape[1] != n_columns:
        raise ValueError(f"{name} must have shape (n, {n_columns}), got {arr.shape}")
    return arr


def _columns(arr: np.ndarray) -> np.ndarray:
    """One contiguous row per attribute: the same summation order whatever the input layout."""
    return np.ascontiguousarray(arr.T)


def attribute_report(
    true: Any, pred: Any, names: Sequence[str] = ATTRIBUTE_NAMES
) -> dict[str, float]:
    """``{"ccc_<name>": ..., "ccc_mean": ...}`` for ``(n, len(names))`` arrays (Task 2's ranking)."""
    names = tuple(names)
    true_arr = _as_matrix(true, "true", len(names))
    pred_arr = _as_matrix(pred, "pred", len(names))
    _check_pair(pred_arr, true_arr, 2)
    values = ccc_rows(_columns(pred_arr), _columns(true_arr))
    report = {f"ccc_{name}": float(value) for name, value in zip(names, values)}
    report["ccc_mean"] = float(np.mean(values))
    return report


def ccc_mean(true: Any, pred: Any) -> float:
    """Mean CCC over the columns of ``(n, d)`` arrays: the Odyssey 2024 Task 2 ranking metric."""
    true_arr = _as_float(true, "true")
    pred_arr = _as_float(pred, "pred")
    _check_pair(pred_arr, true_arr, 2)
    return float(np.mean(ccc_rows(_columns(pred_arr), _columns(true_arr))))
