"""The EmoSpeech 2024 and MEACorpus 2023 layouts (Spanish; id,label,transcription CSVs) -> Corpus.

EmoSpeech ships ``train.csv`` (``id,label,transcription``) and ``test.csv`` (``id,transcription``);
the public MEACorpus 2023 CSV is ``filename,label,transcription,split``. Neither ships a
Development split, so one is carved out of Train (seeded, stratified), because Dev_bal is drawn
from it. The class codes are the challenge's, taken from the registry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from harness.data.corpus import Corpus
from harness.data.manifest import make_manifest
from harness.data.readers.common import (
    audio_durations,
    challenge_for,
    corpus_root,
    counts,
    find_file,
    list_dir,
    log,
    warn_texts,
)
from harness.data.readers.tables import (
    Table,
    check_codes,
    check_ids,
    first_index,
    na_cells,
    read_table,
)
from harness.errors import HarnessError

MEA_COLUMNS = ("filename", "label", "transcription", "split")


def read_emospeech(
    path: str | os.PathLike | None = None,
    *,
    challenge: str = "emospeech2024",
    train_csv: str = "train.csv",
    test_csv: str | None = "test.csv",
    test_labels_csv: str | bool | None = None,
    audio_dir: str = "audios",
    dev_fraction: float = 0.2,
    seed: int = 0,
    check_audio: bool = True,
) -> Corpus:
    """Read the EmoSpeech @ IberLEF 2024 CSVs at ``path`` for the registered ``challenge``.

    Development is carved out of Train (``dev_fraction``, stratified by class, seeded), because
    the challenge ships none and Dev_bal is drawn from it. ``test_labels_csv`` (``id,label``)
    attaches gold labels to the test rows for scoring; ``None`` uses ``test_labels.csv`` when it
    exists, ``False`` never. Audio is ``<path>/<audio_dir>/<id>`` where that file exists;
    without audio the corpus still serves text-only systems.
    """
    spec = challenge_for(challenge, "emospeech")
    root = corpus_root(path, "EmoSpeech", "the folder that holds train.csv and test.csv")
    _check_fraction(dev_fraction)
    train = read_table(find_file(root, train_csv, "train_csv"), ("id", "label", "transcription"))
    frames = [_labelled_rows(train, "id", spec.known_labels(), "Train")]
    if test_csv is not None:
        test = read_table(find_file(root, test_csv, "test_csv"), ("id", "transcription"))
        test_frame = _test_rows(test, root, test_labels_csv, spec.known_labels())
        frames.append(test_frame)
    frame = _join_splits(frames)
    frame = _carve_development(frame, dev_fraction, seed)
    info = _attach_audio(frame, root, [audio_dir], check_audio)
    return _finish(frame, root, info, "emospeech", spec.name, train.path)


def read_meacorpus(
    path: str | os.PathLike | None = None,
    *,
    challenge: str = "emospeech2024",
    csv_name: str | None = None,
    audio_dir: str = "audios",
    dev_fraction: float = 0.2,
    seed: int = 0,
    check_audio: bool = True,
) -> Corpus:
    """Read the public MEACorpus 2023 CSV (``filename,label,transcription,split``).

    ``path`` is the CSV itself or its folder; in a folder, ``csv_name`` names the CSV, and
    without it the one CSV whose header has those columns is used. Split values train/test
    (any case; dev/development/val become Development) map to Train/Test; without a
    Development split one is carved out of Train as for EmoSpeech.
    """
    spec = challenge_for(challenge, "meacorpus")
    csv_path = _meacorpus_csv(path, csv_name)
    root = csv_path.parent
    _check_fraction(dev_fraction)
    table = read_table(csv_path, MEA_COLUMNS)
    splits = _mea_splits(table)
    frame = _labelled_rows(table, "filename", spec.known_labels(), splits)
    if not (frame["split"] == "Development").any():
        frame = _carve_development(frame, dev_fraction, seed)
    info = _attach_audio(frame, root, [audio_dir, "."], check_audio)
    return _finish(frame, root, info, "meacorpus", spec.name, csv_path)


def _check_fraction(dev_fraction: float) -> None:
    if not 0.0 <= dev_fraction < 1.0:
        raise HarnessError(
            f"dev_fraction={dev_fraction} is outside [0, 1)",
            fix="use e.g. corpus_options.dev_fraction=0.2",
        )


def _labelled_rows(
    table: Table, id_column: str, known: Iterable[str], split: str | Sequence[str]
) -> pd.DataFrame:
    ids = check_ids(table, id_column)
    labels = [v.lower() for v in table.column("label")]
    i = first_index(not v for v in labels)
    if i is not None:
        raise HarnessError(
            "empty label",
            file=table.path,
            row=table.lines[i],
            fix="give every training row a class, or remove the row",
        )
    check_codes(table, "label", labels, known)
    return pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            "text": na_cells(table.column("transcription")),
            "split": split,
            "_file": str(table.path),
            "_row": table.lines,
        }
    )


def _test_rows(
    table: Table, root: Path, labels_csv: str | bool | None, known: Iterable[str]
) -> pd.DataFrame:
    ids = check_ids(table, "id")
    frame = pd.DataFrame(
        {
            "id": ids,
            "label": None,
            "text": na_cells(table.column("transcription")),
            "split": "Test",
            "_file": str(table.path),
            "_row": table.lines,
        }
    )
    if labels_csv is False:
        return frame
    if labels_csv is None:
        if not (root / "test_labels.csv").is_file():
            return frame
        labels_csv = "test_labels.csv"
    gold = read_table(find_file(root, str(labels_csv), "test_labels_csv"), ("id", "label"))
    gold_ids = check_ids(gold, "id")
    gold_labels = [v.lower() or None for v in gold.column("label")]
    check_codes(gold, "label", gold_labels, known)
    index = {utt: i for i, utt in enumerate(ids)}
    i = first_index(utt not in index for utt in gold_ids)
    if i is not None:
        raise HarnessError(
            f"id {gold_ids[i]!r} is not in {table.path.name}",
            file=gold.path,
            row=gold.lines[i],
            fix="the gold labels must belong to the test rows",
        )
    labels = [None] * len(ids)
    for utt, label in zip(gold_ids, gold_labels):
        labels[index[utt]] = label
    frame["label"] = labels
    return frame


def _join_splits(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frame = pd.concat(frames, ignore_index=True)
    duplicated = frame["id"].duplicated(keep="first")
    if duplicated.any():
        i = int(np.flatnonzero(duplicated.to_numpy())[0])
        first = frame[frame["id"] == frame["id"].iloc[i]].iloc[0]
        raise HarnessError(
            f"id {frame['id'].iloc[i]!r} is also in {Path(first['_file']).name} "
            f"(row {first['_row']})",
            file=frame["_file"].iloc[i],
            row=int(frame["_row"].iloc[i]),
            fix="an utterance must be in one split only",
        )
    return frame


def _meacorpus_csv(path: str | os.PathLike | None, csv_name: str | None) -> Path:
    if path is not None and Path(path).expanduser().is_file():
        return Path(path).expanduser()
    root = corpus_root(path, "MEACorpus", "the folder that holds the MEACorpus CSV")
    if csv_name is not None:
        return find_file(root, csv_name, "csv_name")
    candidates = []
    for csv_path in sorted(root.glob("*.csv")):
        with open(csv_path, encoding="utf-8-sig", errors="replace") as handle:
            header = {h.strip() for h in handle.readline().split(",")}
        if set(MEA_COLUMNS) <= header:
            candidates.append(csv_path)
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise HarnessError(
            f"expected one CSV with columns {','.join(MEA_COLUMNS)}; found {found}",
            file=root,
            fix="pass corpus_options.csv_name=<the MEACorpus CSV file name>",
        )
    return candidates[0]


def _mea_splits(table: Table) -> list[str]:
    names = {
        "train": "Train",
        "training": "Train",
        "test": "Test",
        "dev": "Development",
        "development": "Development",
        "val": "Development",
        "validation": "Development",
    }
    result = []
    for value, line in zip(table.column("split"), table.lines):
        if value.lower() not in names:
            raise HarnessError(
                f"unknown split {value!r}" if value else "empty split",
                file=table.path,
                row=line,
                fix="use train, test or dev",
            )
        result.append(names[value.lower()])
    return result


def _carve_development(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Move a seeded, class-stratified ``fraction`` of Train to Development.

    Candidates are taken in id order, so the choice depends on the ids and the seed, not on the
    order of the rows in the file.
    """
    frame = frame.copy()
    rng = np.random.default_rng(seed)
    train = frame[frame["split"] == "Train"]
    for label in sorted(train["label"].dropna().unique()):
        members = train.index[train["label"] == label]
        members = members[np.argsort(train.loc[members, "id"].to_numpy(), kind="stable")]
        k = min(int(round(fraction * len(members))), len(members) - 1)
        if k > 0:
            frame.loc[rng.choice(members, size=k, replace=False), "split"] = "Development"
    return frame


def _attach_audio(frame: pd.DataFrame, root: Path, folders: Sequence[str], check: bool) -> dict:
    """Audio paths where the files exist; text-only use keeps working without them."""
    listings = [(root / folder, list_dir(root / folder)) for folder in folders]
    paths: list[str | None] = []
    for name in frame["id"]:
        paths.append(next((str(d / name) for d, names in listings if name in names), None))
    frame["path"] = paths
    frame["duration"] = np.nan
    missing = sum(p is None for p in paths)
    first_missing = next((i for i, p in enumerate(paths) if p is None), None)
    if check:
        rows = [(Path(f), int(r)) for f, r in zip(frame["_file"], frame["_row"])]
        frame["duration"] = audio_durations(paths, rows)
    if missing and any(d.is_dir() for d, _ in listings):
        log.warning(
            "%s: %d of %d utterances have no audio file in %s; they are text-only",
            root,
            missing,
            len(paths),
            ", ".join(str(d) for d, _ in listings),
        )
    info: dict = {"missing_audio": missing, "audio_dir": str(listings[0][0])}
    if first_missing is not None:  # where it is listed, for an audio run's one-line error
        info["first_missing_audio"] = {
            "id": str(frame["id"].iloc[first_missing]),
            "file": str(frame["_file"].iloc[first_missing]),
            "row": int(frame["_row"].iloc[first_missing]),
        }
    return info


def _finish(
    frame: pd.DataFrame, root: Path, info: dict, kind: str, challenge: str, source: Path
) -> Corpus:
    empty = int(frame["text"].isna().sum())
    frame["text_source"] = ["reference" if t is not None else None for t in frame["text"]]
    frame["text_source"] = frame["text_source"].astype("string")
    frame = frame.drop(columns=["_file", "_row"])
    order = {"Train": 0, "Development": 1, "Test": 2}
    frame = frame.sort_values(
        ["split", "id"], key=lambda s: s.map(order) if s.name == "split" else s
    )
    manifest = make_manifest(frame, str(source))
    info.update(counts(manifest), empty_transcripts=empty, missing_transcripts=0)
    warn_texts(info, str(root))
    return Corpus(manifest, kind, kind, challenge, root, info, official=True)
