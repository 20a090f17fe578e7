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
    bad_rows = ~np.isfinite(values).all(axis=1)
    if bad_rows.any():
        raise HarnessError(
            "NaN or infinite prediction",
            file=source,
            row=str(predictions.index[np.flatnonzero(bad_rows)[0]]),
            fix="the system must predict a finite value for every utterance",
        )
    if task == "categorical":
        sums = values.sum(axis=1)
        off = np.abs(sums - 1) > 1e-6
        if off.any():
            raise HarnessError(
                f"posteriors sum to {sums[off][0]:.4f}, not 1",
                file=source,
                row=str(predictions.index[np.flatnonzero(off)[0]]),
                fix="normalise the posteriors",
            )


def hard_labels(predictions: pd.DataFrame) -> pd.Series:
    """The arg-max class of each row."""
    return pd.Series(
        np.asarray(predictions.columns)[predictions.to_numpy().argmax(axis=1)],
        index=predictions.index,
        name="label",
    )
