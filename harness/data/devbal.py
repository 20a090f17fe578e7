"""Dev_bal: a class-balanced subset of Development for tuning fusion weights and hyper-parameters.

Why balanced: the evaluation sets (Odyssey Test3) are balanced, while Development follows the
skewed natural distribution. Tuning on the skewed set would favour the frequent classes that
macro-F1 does not reward. Classes with fewer than N utterances are taken whole, and the shortfall
is reported once, since a silently smaller class changes what the tuning optimises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.errors import HarnessError

log = logging.getLogger(__name__)


def build_dev_bal(
    dev: pd.DataFrame, classes: Sequence[str], n: int = 300, seed: int = 0
) -> pd.DataFrame:
    """``n`` random utterances per scored class of ``dev``, sorted by id.

    Rows whose label is missing or not in ``classes`` (MSP-Podcast O and X) are never included.
    The choice depends only on the ids, labels and ``seed``, not on the row order of ``dev``.
    The classes that fell short are in ``result.attrs["dev_bal_short"]`` (class -> count).
    """
    if n < 1:
        raise HarnessError(f"Dev_bal size n={n} must be positive", fix="use e.g. devbal_n=300")
    for column in ("id", "label"):
        if column not in dev.columns:
            raise HarnessError(f"Development has no '{column}' column", fix="pass a Manifest")
    classes = list(dict.fromkeys(classes))
    scored = dev[dev["label"].isin(classes) & dev["label"].notna()]
    scored = scored.sort_values("id", kind="stable")
    rng = np.random.default_rng(seed)
    picked: list[pd.DataFrame] = []
    short: dict[str, int] = {}
    for label in classes:
        members = scored[scored["label"] == label]
        if len(members) < n:
            short[label] = len(members)
            picked.append(members)
        else:
            picked.append(members.iloc[np.sort(rng.choice(len(members), size=n, replace=False))])
    if short:
        counts = ", ".join(f"{label} ({count})" for label, count in short.items())
        log.warning(
            "Dev_bal: %d classes have fewer than %d utterances in Development and are taken "
            "whole: %s",
            len(short),
            n,
            counts,
        )
    result = pd.concat(picked).sort_values("id", kind="stable").reset_index(drop=True)
    result.attrs["dev_bal_short"] = short
    return result
