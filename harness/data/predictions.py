"""The Predictions contract shared by every system, the fusion and the scorers.

Categorical predictions are posteriors, not hard labels, because fusion and prior correction need
the full distribution. Attribute predictions live on the challenge's own scale (1-7 for
MSP-Podcast) so that they can be written to a submission without rescaling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError

TASKS: tuple[str, ...] = ("categorical", "attributes")


def categorical(ids: Sequence[str], posteriors: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Build categorical predictions; rows are renormalised so that they sum to one."""
    posteriors = np.asarray(posteriors, dtype=np.float64)
    if posteriors.shape != (len(ids), len(classes)):
        raise ValueError(
            f"posteriors have shape {posteriors.shape}, expected {(len(ids), len(classes))}"
        )
    if not np.isfinite(posteriors).all() or (posteriors < 0).any():
        raise ValueError("posteriors must be finite and non-negative")
    total = posteriors.sum(axis=1, keepdims=True)
    posteriors = np.where(total > 0, posteriors / np.where(total > 0, total, 1), 1.0 / len(classes))
    return pd.DataFrame(posteriors, index=pd.Index(list(ids), name="id"), columns=list(classes))


def attributes(ids: Sequence[str], values: np.ndarray) -> pd.DataFrame:
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(ids), len(ATTRIBUTES)):
        raise ValueError(f"attribute values have shape {values.shape}, expected {(len(ids), 3)}")
    return pd.DataFrame(values, index=pd.Index(list(ids), name="id"), columns=list(ATTRIBUTES))


def check(
    predictions: pd.DataFrame, task: str, classes: Sequence[str], source: str = "predictions"
) -> None:
    """Raise if ``predictions`` break the contract (columns, NaN, rows summing to one)."""
    expected = list(classes) if task == "categorical" else list(ATTRIBUTES)
    if list(predictions.columns) != expected:
        raise HarnessError(
            f"columns are {list(predictions.columns)}, expected {expected}",
            file=source,
            fix="return one column per scored class (categorical) or arousal, valence, dominance",
        )
    values = predictions.to_numpy(dtype=np.float64)

    def fail(mask: np.ndarray, what: str, fix: str) -> None:
        if mask.any():
            row = str(predictions.index[np.flatnonzero(mask)[0]])
            raise HarnessError(what, file=source, row=row, fix=fix)

    fail(
        ~np.isfinite(values).all(axis=1),
        "NaN or infinite prediction",
        "the system must predict a finite value for every utterance",
    )
    if task == "categorical":
        fail((values < 0).any(axis=1), "negative posterior", "return probabilities in [0, 1]")
        sums = values.sum(axis=1)
        off = np.abs(sums - 1) > 1e-6
        if off.any():
            fail(off, f"posteriors sum to {sums[off][0]:.4f}, not 1", "normalise the posteriors")


def check_file(
    frame: pd.DataFrame,
    task: str,
    classes: Sequence[str],
    attribute_range: tuple[float, float] | None,
    file: str,
    tolerance: float = 1e-4,
) -> None:
    """Check a predictions CSV read from ``file`` (rows numbered as lines of the file).

    Stricter than a system's output check on what a hand-made file gets wrong: negative or
    all-zero posteriors, rows that do not sum to 1 (CSV rounding allowed), infinite values, and
    attributes off the challenge's scale, which would otherwise be scored without a word.
    """
    values = frame.to_numpy(dtype=np.float64)

    def fail(mask: np.ndarray, what: str, fix: str) -> None:
        if mask.any():
            index = int(np.flatnonzero(mask)[0])
            raise HarnessError(
                f"{what} for id {frame.index[index]!r}", file=file, row=index + 2, fix=fix
            )

    fail(
        ~np.isfinite(values).all(axis=1),
        "NaN or infinite prediction",
        "predict a finite value for every utterance",
    )
    if task == "categorical":
        fail(
            (values < 0).any(axis=1), "negative posterior", "posteriors are probabilities in [0, 1]"
        )
        fail(
            values.sum(axis=1) == 0,
            "all-zero posteriors",
            "every row needs a distribution over the classes",
        )
        sums = values.sum(axis=1)
        fail(
            np.abs(sums - 1) > tolerance,
            "posteriors do not sum to 1",
            "normalise each row (divide by its sum) or pass the submission file instead",
        )
    elif attribute_range is not None:
        low, high = attribute_range
        fail(
            ((values < low) | (values > high)).any(axis=1),
            f"attribute outside the challenge scale [{low:g}, {high:g}]",
            f"predict on the {low:g}-{high:g} scale (the submission clips to it)",
        )


def hard_labels(predictions: pd.DataFrame) -> pd.Series:
    """The arg-max class of each row."""
    return pd.Series(
        np.asarray(predictions.columns)[predictions.to_numpy().argmax(axis=1)],
        index=predictions.index,
        name="label",
    )
