"""Bootstrap confidence intervals and paired significance tests.

Rows are resampled jointly (an utterance keeps its truth and its predictions together). The
resample indices come from ``np.random.default_rng(seed)`` in fixed chunks, so a result depends
only on the data, ``n_boot`` and ``seed``, and the fast and the generic paths see the same
resamples.

Fast paths exist for the metrics of this package (``macro_f1``, ``accuracy``, ``uar``, ``ccc``,
``ccc_mean``, also wrapped in ``functools.partial`` with keyword arguments such as ``labels=``):
categorical metrics encode the labels once and build every resample's confusion matrix with one
``np.bincount`` per chunk; CCC scores a chunk of resamples with array reductions. Any other
callable takes the generic path, one Python call per resample.

For categorical metrics the label set is fixed from the full sample (``labels=`` if given, else
the observed union), so every resample averages over the same classes as the point estimate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scoring import attributes, categorical

Metric = Callable[..., float]

_CHUNK_ELEMENTS = 1 << 22
"""Index elements per chunk (32 MiB of int64): bounds memory whatever ``n`` and ``n_boot``."""


def _chunks(n_rows: int, n_boot: int, seed: int | None) -> Iterator[np.ndarray]:
    """Resample indices, ``(chunk, n_rows)`` at a time; the same stream for every path."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // max(n_rows, 1)))
    done = 0
    while done < n_boot:
        size = min(per_chunk, n_boot - done)
        yield rng.integers(0, n_rows, size=(size, n_rows))
        done += size


# -- fast kernels ------------------------------------------------------------------------------
@dataclass
class _Kernel:
    """A metric prepared on full arrays, able to score many resamples per call."""

    score_point: Callable[[], float]
    score_chunk: Callable[[np.ndarray], np.ndarray]


def _categorical_kernel(
    from_confusion: Callable[[np.ndarray], np.ndarray],
) -> Callable[..., _Kernel]:
    def prepare(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None) -> _Kernel:
        true_codes, pred_codes, label_arr = categorical.encode_with_labels(
            y_true, y_pred, labels, allow_empty=False
        )
        k = len(label_arr)
        cells = true_codes.astype(np.int64) * k + pred_codes

        def score_chunk(idx: np.ndarray) -> np.ndarray:
            size = idx.shape[0]
            flat = cells[idx] + (np.arange(size, dtype=np.int64) * (k * k))[:, None]
            stack = np.bincount(flat.ravel(), minlength=size * k * k).reshape(size, k, k)
            return from_confusion(stack)

        def score_point() -> float:
            return float(from_confusion(np.bincount(cells, minlength=k * k).reshape(k, k)))

        return _Kernel(score_point, score_chunk)

    return prepare


def _ccc_kernel(pred: Any, true: Any) -> _Kernel:
    pred_arr = attributes._as_float(pred, "pred")
    true_arr = attributes._as_float(true, "true")
    attributes._check_pair(pred_arr, true_arr, 1)
    return _Kernel(
        lambda: float(attributes.ccc_rows(pred_arr, true_arr)),
        lambda idx: attributes.ccc_rows(pred_arr[idx], true_arr[idx]),
    )


def _ccc_mean_kernel(true: Any, pred: Any) -> _Kernel:
    true_arr = attributes._as_float(true, "true")
    pred_arr = attributes._as_float(pred, "pred")
    attributes._check_pair(pred_arr, true_arr, 2)
    # One contiguous row per attribute, exactly as ccc_mean lays them out.
    true_cols = attributes._columns(true_arr)
    pred_cols = attributes._columns(pred_arr)

    def score_chunk(idx: np.ndarray) -> np.ndarray:
        per_attribute = [attributes.ccc_rows(p[idx], t[idx]) for p, t in zip(pred_cols, true_cols)]
        return np.mean(np.stack(per_attribute, axis=-1), axis=-1)

    return _Kernel(lambda: attributes.ccc_mean(true_arr, pred_arr), score_chunk)


_KERNELS: dict[Callable[..., Any], Callable[..., _Kernel]] = {
    categorical.macro_f1: _categorical_kernel(categorical.macro_f1_from_confusion),
    categorical.accuracy: _categorical_kernel(categorical.accuracy_from_confusion),
    categorical.uar: _categorical_kernel(categorical.uar_from_confusion),
    attributes.ccc: _ccc_kernel,
    attributes.ccc_mean: _ccc_mean_kernel,
}


def _fast_kernel(metric: Metric, arrays: Sequence[Any]) -> _Kernel | None:
    """The vectorised kernel for ``metric`` (or a keyword-only ``partial`` of it), if any."""
    func, kwargs = metric, {}
    if isinstance(metric, functools.partial):
        if metric.args:
            return None
        func, kwargs = metric.func, dict(metric.keywords)
    try:
        prepare = _KERNELS.get(func)
    except TypeError:  # unhashable callable
        return None
    if prepare is None:
        return None
    return prepare(*arrays, **kwargs)


def _generic_kernel(metric: Metric, arrays: Sequence[Any]) -> _Kernel:
    def score_chunk(idx: np.ndarray) -> np.ndarray:
        return np.array([metric(*(a[row] for a in arrays)) for row in idx], dtype=np.float64)

    return _Kernel(lambda: float(metric(*arrays)), score_chunk)


def _as_array(values: Any) -> np.ndarray:
    """Index-able array; a list of strings stays objects so that NaN/None are still reported."""
    arr = np.asarray(values)
    if isinstance(values, (list, tuple)) and arr.dtype.kind in "US" and arr.ndim == 1:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
    return arr


def _prepare(metric: Metric, arrays: Sequence[Any], fast: bool) -> tuple[_Kernel, int]:
    if not arrays:
        raise ValueError("bootstrap needs at least one array")
    converted = [_as_array(a) for a in arrays]
    n_rows = len(converted[0])
    if any(len(a) != n_rows for a in converted):
        lengths = [len(a) for a in converted]
        raise ValueError(f"arrays are resampled jointly and must have equal lengths: {lengths}")
    if n_rows == 0:
        raise ValueError("cannot bootstrap an empty set of predictions")
    kernel = _fast_kernel(metric, converted) if fast else None
    return kernel or _generic_kernel(metric, converted), n_rows


def _check_settings(n_boot: int, alpha: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


# -- public API --------------------------------------------------------------------------------
def bootstrap_distribution(
    metric: Metric, *arrays: Any, n_boot: int = 1000, seed: int | None = 0, fast: bool = True
) -> np.ndarray:
    """The metric on each of ``n_boot`` joint row resamples (``fast=False`` forces the generic path)."""
    _check_settings(n_boot, 0.05)
    kernel, n_rows = _prepare(metric, arrays, fast)
    return np.concatenate([kernel.score_chunk(idx) for idx in _chunks(n_rows, n_boot, seed)])


def bootstrap_ci(
    metric: Metric,
    *arrays: Any,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap ``(low, high)`` interval at level ``1 - alpha``.

    ``arrays`` are passed to ``metric`` in the given order, e.g.
    ``bootstrap_ci(partial(macro_f1, labels=codes), y_true, y_pred)``.
    """
    _check_settings(n_boot, alpha)
    stats = bootstrap_distribution(metric, *arrays, n_boot=n_boot, seed=seed)
    low, high = np.percentile(stats, [50.0 * alpha, 100.0 - 50.0 * alpha])
    return float(low), float(high)


def paired_bootstrap(
    metric: Metric,
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    n_boot: int = 1000,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> dict[str, float]:
    """Is system A better than system B on the same items? ``metric(y_true, pred)``.

    Both systems are scored on the same resamples. Returns ``delta`` (A minus B on the full
    sample), the percentile interval of the resampled deltas, and a two-sided ``p_value``:
    twice the fraction of resamples whose delta has the opposite sign to the observed one (a
    resampled delta of exactly 0 counts as flipped), with the usual +1 correction so that a
    finite bootstrap never reports 0, capped at 1. An observed delta of 0 gives 1.0. With this
    definition ``p_value < alpha`` matches, up to resampling noise, "0 lies outside the
    ``1 - alpha`` interval".
    """
    _check_settings(n_boot, alpha)
    kernel_a, n_rows = _prepare(metric, (y_true, pred_a), True)
    kernel_b, n_rows_b = _prepare(metric, (y_true, pred_b), True)
    if n_rows != n_rows_b:
        raise ValueError(f"pred_a and pred_b differ in length ({n_rows} vs {n_rows_b})")
    delta = kernel_a.score_point() - kernel_b.score_point()
    deltas = np.concatenate(
        [
            kernel_a.score_chunk(idx) - kernel_b.score_chunk(idx)
            for idx in _chunks(n_rows, n_boot, seed)
        ]
    )
    low, high = np.percentile(deltas, [50.0 * alpha, 100.0 - 50.0 * alpha])
    if delta > 0:
        flipped = int(np.count_nonzero(deltas <= 0))
    elif delta < 0:
        flipped = int(np.count_nonzero(deltas >= 0))
    else:
        flipped = n_boot
    p_value = min(1.0, 2.0 * (flipped + 1) / (n_boot + 1))
    return {
        "delta": float(delta),
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": float(p_value),
        "n_boot": int(n_boot),
    }
