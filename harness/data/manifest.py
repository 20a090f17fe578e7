"""The Manifest: one table per corpus, the only shape systems ever see.

Readers for different corpora disagree on column names, id formats and label spellings. They all
end in :func:`make_manifest`, which enforces one schema so that a system written against the demo
corpus runs unchanged on MSP-Podcast or MEACorpus.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from harness.errors import HarnessError

ATTRIBUTES: tuple[str, ...] = ("arousal", "valence", "dominance")
STRING_COLUMNS: tuple[str, ...] = ("id", "path", "text", "speaker", "gender", "split", "label")
FLOAT_COLUMNS: tuple[str, ...] = (*ATTRIBUTES, "duration")
COLUMNS: tuple[str, ...] = (*STRING_COLUMNS, *FLOAT_COLUMNS)


def make_manifest(frame: pd.DataFrame, source: str, *, row_offset: int = 2) -> pd.DataFrame:
    """Return ``frame`` in Manifest form, or raise one error naming ``source`` and the row.

    ``row_offset`` converts a 0-based data index into the line number the user sees in the file
    (2 for a CSV with a header line). Extra columns (``text_source``, ...) are kept.
    """
    frame = frame.reset_index(drop=True).copy()
    if "id" not in frame.columns:
        raise HarnessError(
            "no 'id' column", file=source, fix="the reader must map the corpus's id column to 'id'"
        )
    for column in STRING_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.NA
        frame[column] = frame[column].astype("string")
    for column in FLOAT_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise HarnessError(
                f"column '{column}' has the non-numeric value {frame[column].iloc[i]!r}",
                file=source,
                row=i + row_offset,
                fix="use a number, or leave the cell empty when the value is unknown",
            )
        frame[column] = values.astype("float64")

    ids = frame["id"]
    empty = ids.isna() | (ids.str.strip() == "")
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise HarnessError(
            "empty utterance id", file=source, row=i + row_offset, fix="give every row an id"
        )
    duplicated = ids.duplicated(keep="first")
    if duplicated.any():
        i = int(np.flatnonzero(duplicated.to_numpy())[0])
        first = int(np.flatnonzero((ids == ids.iloc[i]).to_numpy())[0])
        raise HarnessError(
            f"duplicate id {ids.iloc[i]!r} (first seen at row {first + row_offset})",
            file=source,
            row=i + row_offset,
            fix="ids must be unique; remove or rename the duplicate row",
        )
    ordered = [*COLUMNS, *[c for c in frame.columns if c not in COLUMNS]]
    return frame[ordered]


def check_labels(
    manifest: pd.DataFrame, known: Iterable[str], source: str, *, row_offset: int = 2
) -> None:
    """Raise on the first class code that the challenge does not know."""
    known = set(known)
    labels = manifest["label"]
    bad = labels.notna() & ~labels.isin(known)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise HarnessError(
            f"unknown class code {labels.iloc[i]!r}",
            file=source,
            row=i + row_offset,
            fix=f"use one of {', '.join(sorted(known))}",
        )


def split(manifest: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows of one split, with a fresh index."""
    return manifest[manifest["split"] == name].reset_index(drop=True)


def has_labels(manifest: pd.DataFrame, task: str) -> bool:
    """Whether every row carries the reference for ``task`` (used to decide what can be scored)."""
    if len(manifest) == 0:
        return False
    if task == "categorical":
        return bool(manifest["label"].notna().all())
    return bool(manifest[list(ATTRIBUTES)].notna().all().all())
