"""Published challenge results, kept with their sources.

Numbers copied from papers drift when nobody can say where they came from; every row here carries
the citation (and a URL) of the overview paper it was read from, and the loader refuses a row
without one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

REFERENCE_PATH = Path(__file__).with_name("reference.csv")
REFERENCE_COLUMNS: tuple[str, ...] = (
    "challenge",
    "task",
    "track",
    "team",
    "metric",
    "value",
    "split",
    "source",
    "url",
)
_REQUIRED = ("challenge", "task", "team", "metric", "value", "source")


def load_reference(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The reference table (the bundled ``reference.csv`` unless ``path`` is given).

    Raises ``ValueError`` naming the file and line of a row that lacks a required cell or whose
    value is not a number in [-1, 1] (every metric used here lives in that range).
    """
    path = Path(path) if path is not None else REFERENCE_PATH
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REFERENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: line 1: missing columns {missing}")
    frame = frame[list(REFERENCE_COLUMNS)].copy()
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        empty = [c for c in _REQUIRED if not str(getattr(row, c)).strip()]
        if empty:
            raise ValueError(f"{path}: line {i}: empty {', '.join(empty)}")
        try:
            value = float(row.value)
        except ValueError:
            raise ValueError(f"{path}: line {i}: value {row.value!r} is not a number") from None
        if not -1.0 <= value <= 1.0:
            raise ValueError(f"{path}: line {i}: value {value} is outside [-1, 1]")
    frame["value"] = frame["value"].astype(float)
    return frame.reset_index(drop=True)
