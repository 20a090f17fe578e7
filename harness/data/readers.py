"""Corpus readers: MSP-Podcast (Odyssey 2024), EmoSpeech 2024 and MEACorpus 2023 -> Corpus.

A researcher learns about a broken corpus from the reader, before any model trains for an hour, so
every reader checks everything it can cheaply check (columns, ids, class codes, attribute values,
split names, audio headers, transcript encodings) and raises ONE :class:`HarnessError` that names
the file, the line (the header is line 1) and the fix. CSV files are parsed with the ``csv``
module, not pandas, so that the line numbers stay exact even with blank lines or quoted
multi-line cells.

Missing or empty transcripts are not errors: the row keeps ``text=NA``, the count goes into
``Corpus.info`` and one warning is logged, because a text system must never silently train on
fewer rows than the user thinks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.data.corpus import Corpus
from harness.data.manifest import make_manifest
from harness.errors import HarnessError

log = logging.getLogger(__name__)

MSP_COLUMNS = (
    "FileName",
    "EmoClass",
    "EmoAct",
    "EmoVal",
    "EmoDom",
    "SpkrID",
    "Gender",
    "Split_Set",
)
MSP_ATTRIBUTES = {"EmoAct": "arousal", "EmoVal": "valence", "EmoDom": "dominance"}
MSP_SPLITS = ("Train", "Development", "Test1", "Test2", "Test3")
MSP_HIDDEN_SPLITS = ("Test3",)
"""Splits whose labels the organisers withhold: their rows may leave class and attributes empty."""
MISSING = {"", "nan", "na", "n/a", "none", "null"}
TRANSCRIPT_MODES = ("auto", "reference", "none")


# -- tables ---------------------------------------------------------------------------------------


@dataclass
class Table:
    """A CSV file as strings, with the line number of every record (the header is line 1)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str) -> list[str]:
        i = self.header.index(name)
        return [row[i] for row in self.rows]


def read_table(path: Path, required: Sequence[str], *, what: str = "CSV file") -> Table:
    """Parse ``path`` strictly: UTF-8, the ``required`` columns, one field per column per line."""
    import csv
    import io

    text = _read_utf8(path, what)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise HarnessError(
            f"empty {what}", file=path, row=1, fix=f"the first line must be {','.join(required)}"
        ) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise HarnessError(
            f"missing column(s) {', '.join(missing)}; the header has {','.join(header)}",
            file=path,
            row=1,
            fix=f"the header must contain {','.join(required)} (names are case-sensitive)",
        )
    rows, lines = [], []
    line = reader.line_num + 1
    for record in reader:
        if any(cell.strip() for cell in record):
            if len(record) != len(header):
                raise HarnessError(
                    f"{len(record)} fields, expected {len(header)} as in the header",
                    file=path,
                    row=line,
                    fix="quote cells that contain commas, and give every row all columns",
                )
            rows.append([cell.strip() for cell in record])
            lines.append(line)
        line = reader.line_num + 1
    return Table(path, header, rows, lines)


def _read_utf8(path: Path, what: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError(f"{what} not found", file=path, fix="check the path") from None
    except OSError as exc:
        raise HarnessError(f"cannot read {what} ({exc.strerror})", file=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HarnessError(
            f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start})",
            file=path,
            row=line,
            fix="re-save the file as UTF-8",
        ) from None


def _first(mask: Iterable[bool]) -> int | None:
    return next((i for i, bad in enumerate(mask) if bad), None)


def _check_ids(table: Table, column: str) -> list[str]:
    """Non-empty, unique ids; a duplicate names both of its lines."""
    ids = table.column(column)
    seen: dict[str, int] = {}
    for value, line in zip(ids, table.lines):
        if not value:
            raise HarnessError(
                f"empty {column}", file=table.path, row=line, fix="give every row an id"
            )
        if value in seen:
            raise HarnessError(
                f"duplicate {column} {value!r} (first at row {seen[value]})",
                file=table.path,
                row=line,
                fix="ids must be unique; remove or rename the duplicate row",
            )
        seen[value] = line
    return ids


def _check_codes(
    table: Table, column: str, values: Sequence[str | None], known: Iterable[str]
) -> None:
    known = set(known)
    i = _first(v is not None and v not in known for v in values)
    if i is not None:
        raise HarnessError(
            f"unknown class code {values[i]!r} in column {column}",
            file=table.path,
            row=table.lines[i],
            fix=f"use one of {', '.join(sorted(known))}",
        )


def _numbers(
    table: Table, column: str, required: Sequence[bool], valid: tuple[float, float] | None = None
) -> np.ndarray:
    """Parse a numeric column; empty/NaN is an error only where ``required``."""
    values = np.full(len(table.rows), np.nan)
    for i, (cell, line) in enumerate(zip(table.column(column), table.lines)):
        if cell.lower() in MISSING:
            if required[i]:
                raise HarnessError(
                    f"{column} is {'empty' if not cell else cell} in a labelled row",
                    file=table.path,
                    row=line,
                    fix=f"give {column} a value, or remove the row",
                )
            continue
        try:
            value = float(cell)
        except ValueError:
            value = np.nan
        if not np.isfinite(value):
            raise HarnessError(
                f"{column} has the non-numeric value {cell!r}",
                file=table.path,
                row=line,
                fix=f"use a number for {column}",
            )
        if valid is not None and not valid[0] <= value <= valid[1]:
            raise HarnessError(
                f"{column}={value:g} is outside [{valid[0]:g}, {valid[1]:g}]",
                file=table.path,
                row=line,
                fix="attributes are on the 1-7 scale",
            )
        values[i] = value
    return values


def _na(values: Iterable[str]) -> list[str | None]:
    return [v if v else None for v in values]


# -- audio and transcripts ------------------------------------------------------------------------


def _audio_durations(paths: Sequence[str | None], rows: Sequence[tuple[Path, int]]) -> np.ndarray:
    """Header-only check of every file (cheap; threads overlap the I/O); corrupt files raise."""
    from concurrent.futures import ThreadPoolExecutor

    import soundfile as sf

    def probe(path: str | None) -> tuple[float, str | None]:
        if path is None:
            return np.nan, None
        try:
            info = sf.info(path)
        except Exception as exc:  # LibsndfileError, RuntimeError, TypeError
            return np.nan, str(exc).splitlines()[0][:120] or type(exc).__name__
        if not info.frames or not info.samplerate:
            return np.nan, "no audio samples"
        return info.frames / info.samplerate, None

    workers = 8 if len(paths) > 256 else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(probe, paths, chunksize=64))
    for (_, problem), path, (source, row) in zip(results, paths, rows):
        if problem is not None:
            raise HarnessError(
                f"cannot decode audio ({problem}); listed at row {row} of {source}",
                file=path,
                fix="re-export the file as 16 kHz WAV, or remove its row from the labels file",
            )
    return np.array([duration for duration, _ in results], dtype=float)


def _list_dir(path: Path) -> set[str]:
    try:
        return {entry.name for entry in os.scandir(path)}
    except FileNotFoundError:
        return set()


def _read_transcript(path: Path, row: int, source: Path) -> str | None:
    """UTF-8 text joined onto one line; None when the file is empty."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HarnessError(
            f"transcript is not UTF-8 text (byte 0x{data[exc.start]:02x} at position "
            f"{exc.start}); listed at row {row} of {source}",
            file=path,
            row=data[: exc.start].count(b"\n") + 1,
            fix="re-save the transcript as UTF-8",
        ) from None
    text = " ".join(text.split())
    return text or None


def _warn_texts(info: dict, where: str) -> None:
    missing, empty = info.get("missing_transcripts", 0), info.get("empty_transcripts", 0)
    if missing or empty:
        log.warning(
            "%s: %d utterances have no transcript and %d an empty one; they are kept with "
            "text=NA (text systems cannot use them)",
            where,
            missing,
            empty,
        )


# -- MSP-Podcast / Odyssey 2024 -------------------------------------------------------------------


def read_msp_podcast(
    path: str | os.PathLike | None = None,
    *,
    transcripts: str | os.PathLike | bool = "auto",
    test3_list: str | os.PathLike | None = None,
    check_audio: bool = True,
) -> Corpus:
    """Read MSP-Podcast (Odyssey 2024 layout) at ``path``.

    ``transcripts``: ``"auto"`` reads ``Transcripts/<stem>.txt`` when that folder exists,
    ``"reference"`` requires it, ``"none"`` skips it; any other string is a folder of
    ``<stem>.txt`` files. ``test3_list`` is a text file of FileNames (one per line) added as
    unlabelled Test3 rows. ``check_audio`` reads every audio header (for durations and to catch
    missing or corrupt files before training).
    """
    from harness.challenges.odyssey2024 import CHALLENGE

    root = _corpus_root(path, "MSP-Podcast", "the folder that holds Labels/ and Audios/")
    labels_path = root / "Labels" / "labels_consensus.csv"
    if not labels_path.is_file():
        raise HarnessError(
            "labels file not found",
            file=labels_path,
            fix="pass corpus_path=<the MSP-Podcast folder that contains Labels/labels_consensus.csv>",
        )
    table = read_table(labels_path, MSP_COLUMNS, what="labels file")
    ids = _check_ids(table, "FileName")
    splits = _msp_splits(table)
    labelled = [s not in MSP_HIDDEN_SPLITS for s in splits]
    labels = _na(table.column("EmoClass"))
    i = _first(lab is None and req for lab, req in zip(labels, labelled))
    if i is not None:
        raise HarnessError(
            f"EmoClass is empty in split {splits[i]}",
            file=labels_path,
            row=table.lines[i],
            fix="give the class code (X for no agreement), or remove the row",
        )
    _check_codes(table, "EmoClass", labels, CHALLENGE.known_labels())
    frame = pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            **{
                name: _numbers(table, column, labelled, (1.0, 7.0))
                for column, name in MSP_ATTRIBUTES.items()
            },
            "speaker": _na(table.column("SpkrID")),
            "gender": _na(table.column("Gender")),
            "split": splits,
        }
    )
    rows = [(labels_path, line) for line in table.lines]
    if test3_list is not None:
        list_path, extra = _test3_rows(test3_list, root, dict(zip(ids, zip(splits, table.lines))))
        rows += [(list_path, line) for line in extra.pop("_row")]
        frame = pd.concat([frame, extra], ignore_index=True)
    frame["path"] = [str(root / "Audios" / name) for name in frame["id"]]
    frame["duration"] = np.nan
    if check_audio:
        frame["duration"] = _msp_audio(root, frame, rows)
    info = _msp_transcripts(root, frame, rows, transcripts)
    manifest = make_manifest(frame, str(labels_path))
    info.update(_counts(manifest), labels_file=str(labels_path))
    _warn_texts(info, str(root))
    return Corpus(manifest, "msp-podcast", "msp_podcast", CHALLENGE.name, root, info)


def _corpus_root(path: str | os.PathLike | None, corpus: str, hint: str) -> Path:
    if path is None:
        raise HarnessError(
            f"no path given for the {corpus} corpus", fix=f"pass corpus_path=<{hint}>"
        )
    root = Path(path).expanduser()
    if not root.is_dir():
        raise HarnessError(
            f"{corpus} folder not found", file=root, fix=f"pass corpus_path=<{hint}>"
        )
    return root


def _msp_splits(table: Table) -> list[str]:
    canonical = {s.lower(): s for s in MSP_SPLITS}
    result = []
    for value, line in zip(table.column("Split_Set"), table.lines):
        if value.lower() not in canonical:
            raise HarnessError(
                f"unknown split {value!r}" if value else "empty Split_Set",
                file=table.path,
                row=line,
                fix=f"use one of {', '.join(MSP_SPLITS)}",
            )
        result.append(canonical[value.lower()])
    return result


def _test3_rows(
    list_path: str | os.PathLike, root: Path, known: dict[str, tuple[str, int]]
) -> tuple[Path, pd.DataFrame]:
    """Unlabelled Test3 rows from a list of FileNames (a relative path may be under the corpus)."""
    path = Path(list_path).expanduser()
    if not path.is_file() and (root / path).is_file():
        path = root / path
    names, lines = [], []
    seen: dict[str, int] = {}
    for line, raw in enumerate(_read_utf8(path, "Test3 list").splitlines(), start=1):
        name = raw.strip().split(",")[0].strip()
        if not name or (line == 1 and name == "FileName"):
            continue
        if name in seen:
            raise HarnessError(
                f"duplicate FileName {name!r} (first at row {seen[name]})",
                file=path,
                row=line,
                fix="list every Test3 file once",
            )
        seen[name] = line
        if name in known:
            split, labels_line = known[name]
            if split != "Test3":
                raise HarnessError(
                    f"{name} is already in the labels file as {split} (row {labels_line})",
                    file=path,
                    row=line,
                    fix="a Test3 file cannot also be in another split",
                )
            continue
        names.append(name)
        lines.append(line)
    return path, pd.DataFrame({"id": names, "split": "Test3", "_row": lines})


def _msp_audio(root: Path, frame: pd.DataFrame, rows: Sequence[tuple[Path, int]]) -> np.ndarray:
    audio_dir = root / "Audios"
    present = _list_dir(audio_dir)
    missing = [i for i, name in enumerate(frame["id"]) if name not in present]
    if missing:
        i = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise HarnessError(
            f"audio file {audio_dir / frame['id'].iloc[i]} not found{more}",
            file=rows[i][0],
            row=rows[i][1],
            fix=f"put the audio in {audio_dir}, or pass check_audio=false for text-only use",
        )
    return _audio_durations(list(frame["path"]), rows)


def _msp_transcripts(
    root: Path,
    frame: pd.DataFrame,
    rows: Sequence[tuple[Path, int]],
    mode: str | os.PathLike | bool,
) -> dict:
    folder = _transcript_folder(root, mode)
    frame["text"] = pd.NA
    frame["text_source"] = pd.NA
    if folder is None:
        return {"transcripts": "none"}
    present = _list_dir(folder)
    texts: list[str | None] = []
    missing = empty = 0
    for name, (source, row) in zip(frame["id"], rows):
        file = f"{Path(name).stem}.txt"
        if file not in present:
            missing += 1
            texts.append(None)
            continue
        text = _read_transcript(folder / file, row, source)
        empty += text is None
        texts.append(text)
    frame["text"] = pd.array(texts, dtype="string")
    frame["text_source"] = pd.array(
        ["reference" if t is not None else None for t in texts], dtype="string"
    )
    return {
        "transcripts": str(folder),
        "missing_transcripts": missing,
        "empty_transcripts": empty,
    }


def _transcript_folder(root: Path, mode: str | os.PathLike | bool) -> Path | None:
    if mode is False or str(mode).lower() in ("none", "false", "no"):
        return None
    default = root / "Transcripts"
    if mode is True or str(mode).lower() in ("reference", "true", "yes"):
        if not default.is_dir():
            raise HarnessError(
                "transcript folder not found",
                file=default,
                fix="put <stem>.txt transcripts there, or pass transcripts=none (or auto)",
            )
        return default
    if mode == "auto":
        return default if default.is_dir() else None
    folder = Path(mode).expanduser()
    if not folder.is_dir():
        raise HarnessError(
            "transcript folder not found",
            file=folder,
            fix=f"pass transcripts=<a folder of <stem>.txt files> or one of {', '.join(TRANSCRIPT_MODES)}",
        )
    return folder


def _counts(manifest: pd.DataFrame) -> dict:
    return {
        "n_utterances": len(manifest),
        "splits": {str(k): int(v) for k, v in manifest["split"].value_counts(sort=False).items()},
    }


# -- EmoSpeech 2024 and MEACorpus 2023 -------------------------------------------------------------


def read_emospeech(
    path: str | os.PathLike | None = None,
    *,
    train_csv: str = "train.csv",
    test_csv: str | None = "test.csv",
    test_labels_csv: str | bool | None = None,
    audio_dir: str = "audios",
    dev_fraction: float = 0.2,
    seed: int = 0,
    check_audio: bool = True,
) -> Corpus:
    """Read the EmoSpeech @ IberLEF 2024 CSVs at ``path``.

    Development is carved out of Train (``dev_fraction``, stratified by class, seeded), because
    the challenge ships none and Dev_bal is drawn from it. ``test_labels_csv`` (``id,label``)
    attaches gold labels to the test rows for scoring; ``None`` uses ``test_labels.csv`` when it
    exists, ``False`` never. Audio is ``<path>/<audio_dir>/<id>`` where that file exists;
    without audio the corpus still serves text-only systems.
    """
    from harness.challenges.emospeech2024 import CHALLENGE

    root = _corpus_root(path, "EmoSpeech", "the folder that holds train.csv and test.csv")
    _check_fraction(dev_fraction)
    train = read_table(_file(root, train_csv, "train_csv"), ("id", "label", "transcription"))
    frames = [_labelled_rows(train, "id", CHALLENGE.known_labels(), "Train")]
    if test_csv is not None:
        test = read_table(_file(root, test_csv, "test_csv"), ("id", "transcription"))
        test_frame = _test_rows(test, root, test_labels_csv, CHALLENGE.known_labels())
        frames.append(test_frame)
    frame = _join_splits(frames)
    frame = _carve_development(frame, dev_fraction, seed)
    info = _attach_audio(frame, root, [audio_dir], check_audio)
    return _finish(frame, root, info, "emospeech", CHALLENGE.name, train.path)


def read_meacorpus(
    path: str | os.PathLike | None = None,
    *,
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
    from harness.challenges.emospeech2024 import CHALLENGE

    csv_path = _meacorpus_csv(path, csv_name)
    root = csv_path.parent
    _check_fraction(dev_fraction)
    table = read_table(csv_path, ("filename", "label", "transcription", "split"))
    splits = _mea_splits(table)
    frame = _labelled_rows(table, "filename", CHALLENGE.known_labels(), splits)
    if not (frame["split"] == "Development").any():
        frame = _carve_development(frame, dev_fraction, seed)
    info = _attach_audio(frame, root, [audio_dir, "."], check_audio)
    return _finish(frame, root, info, "meacorpus", CHALLENGE.name, csv_path)


def _check_fraction(dev_fraction: float) -> None:
    if not 0.0 <= dev_fraction < 1.0:
        raise HarnessError(
            f"dev_fraction={dev_fraction} is outside [0, 1)", fix="use e.g. dev_fraction=0.2"
        )


def _file(root: Path, name: str, option: str) -> Path:
    path = Path(name).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise HarnessError(
            "CSV file not found",
            file=path,
            fix=f"pass corpus_path=<the folder that holds it> or {option}=<its file name>",
        )
    return path


def _labelled_rows(
    table: Table, id_column: str, known: Iterable[str], split: str | Sequence[str]
) -> pd.DataFrame:
    ids = _check_ids(table, id_column)
    labels = [v.lower() for v in table.column("label")]
    i = _first(not v for v in labels)
    if i is not None:
        raise HarnessError(
            "empty label",
            file=table.path,
            row=table.lines[i],
            fix="give every training row a class, or remove the row",
        )
    _check_codes(table, "label", labels, known)
    return pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            "text": _na(table.column("transcription")),
            "split": split,
            "_file": str(table.path),
            "_row": table.lines,
        }
    )


def _test_rows(
    table: Table, root: Path, labels_csv: str | bool | None, known: Iterable[str]
) -> pd.DataFrame:
    ids = _check_ids(table, "id")
    frame = pd.DataFrame(
        {
            "id": ids,
            "label": None,
            "text": _na(table.column("transcription")),
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
    gold = read_table(_file(root, str(labels_csv), "test_labels_csv"), ("id", "label"))
    gold_ids = _check_ids(gold, "id")
    gold_labels = [v.lower() or None for v in gold.column("label")]
    _check_codes(gold, "label", gold_labels, known)
    index = {utt: i for i, utt in enumerate(ids)}
    i = _first(utt not in index for utt in gold_ids)
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
    root = _corpus_root(path, "MEACorpus", "the folder that holds the MEACorpus CSV")
    if csv_name is not None:
        return _file(root, csv_name, "csv_name")
    candidates = []
    for csv_path in sorted(root.glob("*.csv")):
        with open(csv_path, encoding="utf-8-sig", errors="replace") as handle:
            header = {h.strip() for h in handle.readline().split(",")}
        if {"filename", "label", "transcription", "split"} <= header:
            candidates.append(csv_path)
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise HarnessError(
            f"expected one CSV with columns filename,label,transcription,split; found {found}",
            file=root,
            fix="pass csv_name=<the MEACorpus CSV file name>",
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
    listings = [(root / folder, _list_dir(root / folder)) for folder in folders]
    paths: list[str | None] = []
    for name in frame["id"]:
        paths.append(next((str(d / name) for d, names in listings if name in names), None))
    frame["path"] = paths
    frame["duration"] = np.nan
    missing = sum(p is None for p in paths)
    if check:
        rows = [(Path(f), int(r)) for f, r in zip(frame["_file"], frame["_row"])]
        frame["duration"] = _audio_durations(paths, rows)
    if missing and any(d.is_dir() for d, _ in listings):
        log.warning(
            "%s: %d of %d utterances have no audio file in %s; they are text-only",
            root,
            missing,
            len(paths),
            ", ".join(str(d) for d, _ in listings),
        )
    return {"missing_audio": missing, "audio_dir": str(listings[0][0])}


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
    info.update(_counts(manifest), empty_transcripts=empty, missing_transcripts=0)
    _warn_texts(info, str(root))
    return Corpus(manifest, kind, kind, challenge, root, info)
