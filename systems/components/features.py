"""Small helpers the classic systems share: label filtering, attribute scaling, text cleaning."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError

log = logging.getLogger(__name__)


def scored_rows(frame: pd.DataFrame, classes) -> pd.DataFrame:
    """Rows whose label is a scored class: O/X and unlabelled rows cannot train a scored output."""
    return frame[frame["label"].isin(list(classes))].reset_index(drop=True)


def attribute_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.dropna(subset=list(ATTRIBUTES)).reset_index(drop=True)


def attribute_targets(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(ATTRIBUTES)].to_numpy(dtype=float)


def texts(frame: pd.DataFrame, *, who: str) -> tuple[list[str], int]:
    """Transcripts as strings; missing or empty ones become "" and are counted, never dropped."""
    series = frame["text"].astype("string").fillna("")
    empty = int((series.str.strip() == "").sum())
    if empty:
        log.warning(
            "%s: %d of %d utterances have an empty or missing transcript; they are kept "
            "and read as empty text",
            who,
            empty,
            len(series),
        )
    return series.tolist(), empty


def audio_paths(frame: pd.DataFrame, *, who: str, fix: str | None = None) -> list[str]:
    """Every row's audio path, or one HarnessError naming the first row that has none."""
    fix = fix or f"{who} needs audio; use a text system for text-only corpora"
    if "path" not in frame.columns:
        raise HarnessError(f"{who} needs audio, but the corpus has no audio paths", fix=fix)
    for position, (utterance, path) in enumerate(zip(frame["id"], frame["path"])):
        if pd.isna(path):
            raise HarnessError(
                f"utterance {utterance!r} has no audio path", row=position + 1, fix=fix
            )
    return [str(path) for path in frame["path"]]


def selection_score(task: str, truth, predicted, labels) -> float:
    """What a Dev_bal choice (a layer weighting, ``C``, an epoch) maximises: macro-F1 of the
    predicted labels for categories, mean CCC for attributes."""
    from scoring import ccc_mean, macro_f1

    if task == "categorical":
        return float(macro_f1(truth, predicted, labels=list(labels)))
    return float(ccc_mean(truth, predicted))
