"""Where the Development split of a corpus that ships none comes from.

EmoSpeech 2024 and MEACorpus 2023 release Train and Test only, and Dev_bal is drawn from
Development, so the readers either carve a seeded fraction out of Train (by class, or by whole
speakers where rows name one: a MEACorpus video) or move the Train rows a published list names
(BSC-UPC's ``dev_split.csv``). Both readers share these rules; the layouts stay in
:mod:`.emospeech`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.data.readers.common import find_file
from harness.data.readers.tables import check_ids, check_listed, read_table
from harness.errors import HarnessError


def check_fraction(dev_fraction: float) -> None:
    if not 0.0 <= dev_fraction < 1.0:
        raise HarnessError(
            f"dev_fraction={dev_fraction} is outside [0, 1)",
            fix="use e.g. corpus_options.dev_fraction=0.2",
        )


def carve_development(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, str]:
    """Move a seeded, class-stratified ``fraction`` of Train to Development.

    Where rows name their speaker (MEACorpus: the video), whole speakers move, so that Dev_bal
    holds no sibling of a Train segment and tuning on it is not rewarded for recognising a video
    (:func:`_carve_by_speaker`); otherwise rows are drawn per class. Candidates are taken in id
    order, so the choice depends on the ids and the seed, not on the order of the rows in the
    file. Returns the frame and how Development was made, for the run's record.
    """
    frame = frame.copy()
    grouped = "speaker" in frame and frame.loc[frame["split"] == "Train", "speaker"].notna().any()
    carved = _carve_by_speaker(frame, fraction, seed) if grouped and fraction > 0 else None
    if carved is not None:
        frame.loc[carved, "split"] = "Development"
        return frame, f"carved from Train by speaker ({fraction:g})"
    rng = np.random.default_rng(seed)
    train = frame[frame["split"] == "Train"]
    for label in sorted(train["label"].dropna().unique()):
        members = train.index[train["label"] == label]
        members = members[np.argsort(train.loc[members, "id"].to_numpy(), kind="stable")]
        k = min(int(round(fraction * len(members))), len(members) - 1)
        if k > 0:
            frame.loc[rng.choice(members, size=k, replace=False), "split"] = "Development"
    why = " (by speaker, a class would have no Train rows left)" if grouped and fraction > 0 else ""
    return frame, f"carved from Train, stratified by class ({fraction:g}){why}"


def _carve_by_speaker(frame: pd.DataFrame, fraction: float, seed: int) -> pd.Index | None:
    """Index of the Train rows that go to Development, taken a whole speaker at a time.

    Each speaker (rows without one are speakers of their own) counts for the class most of its
    rows have, as MEACorpus's videos mostly carry one label. Per class, its speakers are drawn in
    a seeded order until about ``fraction`` of the class's rows are taken, always leaving one
    speaker in Train. None where that would leave a class without Train rows.
    """
    train = frame[frame["split"] == "Train"]
    train = train.iloc[np.argsort(train["id"].to_numpy(), kind="stable")]
    labels = train["label"].astype("string").fillna("<none>")
    speakers = train["speaker"].astype("string")
    groups = speakers.fillna(pd.Series([f"<row {i}>" for i in train.index], index=train.index))
    sizes = groups.value_counts()
    majority = pd.crosstab(groups, labels).idxmax(axis=1)  # ties: the first class, sorted
    rng = np.random.default_rng(seed)
    held: list[str] = []
    for label in sorted(set(labels)):
        own = sorted(majority.index[majority == label])
        target, taken = fraction * int((labels == label).sum()), 0
        for group in rng.permutation(own)[: len(own) - 1]:
            if taken >= target:
                break
            held.append(group)
            taken += int(sizes[group])
    moved = groups.isin(held).to_numpy()
    if set(labels[~moved]) != set(labels):
        return None
    return train.index[moved]


def listed_development(frame: pd.DataFrame, root: Path, dev_csv: str) -> str:
    """Move the Train rows whose ids ``dev_csv`` lists to Development; every id must be one."""
    table = read_table(find_file(root, dev_csv, "dev_csv"), ("id",), what="Development list")
    ids = check_ids(table, "id")
    train = frame.index[frame["split"] == "Train"]
    where = dict(zip(frame.loc[train, "id"], train))
    check_listed(
        table,
        ids,
        where,
        "a row of the training CSV",
        fix="list only ids of train.csv in the Development list, or pass "
        "corpus_options.dev_csv=null to carve Development from Train",
    )
    frame.loc[[where[utterance] for utterance in ids], "split"] = "Development"
    return f"listed in {table.path.name} ({len(ids)} rows)"
