"""Is one run really better than another? A paired bootstrap on their saved predictions.

Leaderboard gaps of a point or two of macro-F1 on a few hundred utterances are often noise; this
re-scores the per-utterance predictions that every run directory keeps, with
:func:`scoring.paired_bootstrap`, so that a claim in a paper can carry its p-value.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring import ATTRIBUTE_NAMES, ccc_mean, macro_f1, paired_bootstrap


def read_predictions(run_dir: str | os.PathLike, task: str, split: str) -> pd.DataFrame:
    """``predictions/<task>/<split>.csv`` of a run, indexed by utterance id."""
    path = Path(run_dir) / "predictions" / task / f"{split}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no predictions for task {task!r}, split {split!r}")
    frame = pd.read_csv(path, dtype={"id": str})
    if "id" not in frame.columns:
        raise ValueError(f"{path}: line 1: the first column must be 'id'")
    return frame.set_index("id")


def hard_labels(posteriors: pd.DataFrame) -> pd.Series:
    """The argmax class of each row (ties to the first column, like the submission writer)."""
    values = posteriors.to_numpy(dtype=float)
    if np.isnan(values).any():
        row = int(np.flatnonzero(np.isnan(values).any(axis=1))[0])
        raise ValueError(f"posteriors of id {posteriors.index[row]!r} contain NaN")
    columns = np.asarray(posteriors.columns)
    return pd.Series(columns[values.argmax(axis=1)], index=posteriors.index)


def paired_comparison(
    run_a: str | os.PathLike,
    run_b: str | os.PathLike,
    truth: pd.Series | pd.DataFrame,
    *,
    task: str,
    split: str,
    labels: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Run A minus run B on the ids of ``truth`` (a label Series, or an A/V/D DataFrame).

    ``labels`` are the scored classes (default: run A's posterior columns), so the macro
    average covers the same classes as the official metric.
    """
    pred_a = read_predictions(run_a, task, split)
    pred_b = read_predictions(run_b, task, split)
    ids = truth.index.astype(str)
    for name, pred in (("run_a", pred_a), ("run_b", pred_b)):
        missing = ids.difference(pred.index)
        if len(missing):
            raise ValueError(
                f"{name} has no prediction for {len(missing)} of {len(ids)} ids "
                f"(first: {missing[0]!r})"
            )
    if task == "categorical":
        labels = list(labels) if labels is not None else [str(c) for c in pred_a.columns]
        metric = partial(macro_f1, labels=labels)
        y_true = np.asarray(truth.to_numpy(), dtype=object)
        a = hard_labels(pred_a.loc[ids]).to_numpy()
        b = hard_labels(pred_b.loc[ids]).to_numpy()
        metric_name = "macro_f1"
    else:
        columns = list(ATTRIBUTE_NAMES)
        metric = ccc_mean
        y_true = truth[columns].to_numpy(dtype=float)
        a = pred_a.loc[ids, columns].to_numpy(dtype=float)
        b = pred_b.loc[ids, columns].to_numpy(dtype=float)
        metric_name = "ccc_mean"
    result = paired_bootstrap(metric, y_true, a, b, n_boot=n_boot, seed=seed)
    return {
        "metric": metric_name,
        "run_a": Path(run_a).name,
        "run_b": Path(run_b).name,
        "value_a": float(metric(y_true, a)),
        "value_b": float(metric(y_true, b)),
        "n": len(ids),
        **result,
    }
