"""Writing a planned demo corpus to disk in the layout of the real corpus it stands in for.

Why one module: the readers in :mod:`harness.data.readers` must read the demo exactly as they read
MSP-Podcast (English: ``Labels/labels_consensus.csv``, ``Transcripts/<stem>.txt``) and the
EmoSpeech 2024 release (Spanish: ``train.csv``, ``test.csv``, ``test_labels.csv``), so the column
names and file names live here together; ``demo.json`` and ``generator.csv`` record what was built.
Every file is written atomically (:mod:`harness.io`) inside the directory being built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from harness.data.demo.plan import Utterance
from harness.data.demo.spec import DEMO_VERSION


def write_msp_layout(root: Path, plan: Sequence[Utterance]) -> None:
    import pandas as pd

    from harness.io import write_csv, write_text

    rows = [
        {
            "FileName": u.id,
            "EmoClass": u.label,
            "EmoAct": u.arousal,
            "EmoVal": u.valence,
            "EmoDom": u.dominance,
            "SpkrID": u.speaker,
            "Gender": u.gender,
            "Split_Set": u.split,
        }
        for u in plan
    ]
    frame = pd.DataFrame(rows).sort_values("FileName", kind="stable")
    write_csv(root / "Labels" / "labels_consensus.csv", frame, index=False, float_format="%.1f")
    for u in plan:
        write_text(root / "Transcripts" / f"{Path(u.id).stem}.txt", u.text + "\n")


def write_emospeech_layout(root: Path, plan: Sequence[Utterance]) -> None:
    import pandas as pd

    from harness.io import write_csv

    frame = pd.DataFrame(
        [{"id": u.id, "label": u.label, "transcription": u.text, "split": u.split} for u in plan]
    ).sort_values("id", kind="stable")
    train = frame[frame["split"] == "Train"]
    test = frame[frame["split"] == "Test"]
    write_csv(root / "train.csv", train[["id", "label", "transcription"]], index=False)
    write_csv(root / "test.csv", test[["id", "transcription"]], index=False)
    write_csv(root / "test_labels.csv", test[["id", "label"]], index=False)


def write_info(
    root: Path,
    plan: Sequence[Utterance],
    durations: Sequence[float],
    lang: str,
    n: int,
    seed: int,
) -> None:
    """``demo.json``: what was built and how, and the per-utterance generator variables."""
    import pandas as pd

    from harness.io import write_csv, write_json

    frame = pd.DataFrame([asdict(u) for u in plan])
    frame["duration"] = np.round(durations, 3)
    write_csv(root / "generator.csv", frame.sort_values("id", kind="stable"), index=False)
    splits = frame.groupby("split")["label"].value_counts().unstack(fill_value=0)
    write_json(
        root / "demo.json",
        {
            "generator": "harness.data.demo",
            "version": DEMO_VERSION[lang],
            "lang": lang,
            "n": n,
            "seed": seed,
            "hours": round(float(np.sum(durations)) / 3600, 3),
            "counts": {s: {k: int(v) for k, v in row.items() if v} for s, row in splits.iterrows()},
            "speakers": {s: sorted(set(g)) for s, g in frame.groupby("split")["speaker"]},
        },
    )
