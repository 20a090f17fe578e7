"""The EmoSpeech 2024 and MEACorpus 2023 layouts (Spanish; id,label,transcription CSVs) -> Corpus.

EmoSpeech ships ``train.csv`` (``id,label,transcription``) and ``test.csv`` (``id,transcription``),
the ids being MP3 names such as ``791bce67-cf7eeadc.mp3``. MEACorpus 2023 is public in two CSV
forms: ``filename,label,transcription,split`` plus ``youtube_key``, ``gender`` and segment times
(the download script's ``public_v2.csv``, whose ``filename`` is the EmoSpeech id), and the later
``dataset.csv`` (``youtube_key,segment_id,label,gender,...,transcription,split``), where a segment
is only unique within its video. Neither layout ships a Development split, so one is carved out
of Train (seeded, stratified), because Dev_bal is drawn from it; where the CSV names each row's
video, whole videos are carved, since a video's segments share speaker, topic and, mostly, label.
The class codes are the challenge's, taken from the registry.

Only a folder shaped like the EmoSpeech 2024 release is ranked beside the challenge's published
results (:func:`identify_release`); MEACorpus never is, because its own train/test split
is not the challenge's (an EmoSpeech test utterance, ``48963710-3af5e923.mp3``, is a MEACorpus
``train`` row).
"""

from __future__ import annotations

import os
import re
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
    layout_name,
    list_dir,
    log,
    option_rules,
    warn_texts,
)
from harness.data.readers.development import (
    carve_development,
    check_fraction,
    listed_development,
)
from harness.data.readers.tables import (
    Table,
    check_codes,
    check_ids,
    check_listed,
    delimiter_of,
    first_index,
    na_cells,
    read_table,
)
from harness.errors import HarnessError
from harness.params import choice, either, flag, number, optional, text

MEA_COLUMNS = ("filename", "label", "transcription", "split")
"""The MEACorpus CSV with one file name per segment (``public_v2.csv``; extra columns allowed)."""
MEA_SEGMENT_COLUMNS = ("youtube_key", "segment_id", "label", "transcription", "split")
"""The MEACorpus CSV that names a segment by its video and its number in it (``dataset.csv``)."""
DEFAULT_AUDIO_DIR = "audios"
"""The audio folder a reader looks in first; when it is missing, the others are searched."""
MEA_AUDIO_DIRS = (".", "segments", "dataset_v1/segments")
"""Where MEACorpus audio is looked for after ``audio_dir``: beside the CSV, and where the corpus's
download script writes the segments (``dataset_v1/segments/<filename>``)."""

EMOSPEECH_AUDIO_DIRS = ("train_segments", "test_segments", "segments")
"""Where EmoSpeech audio is looked for after ``audio_dir``: the folders BSC-UPC's code reads the
challenge's audio from (``data/train_segments/``) and their test and shared counterparts."""

RELEASE_CSVS = {
    "train.csv": (
        "EmoSPeech_phase_2_train.csv",
        "EmoSPeech_phase_2_train_public.csv",
        "EmoSPeech_phase_1_train_codalab.csv",
    ),
    "test.csv": (
        "EmoSPeech_phase_2_test_public2.csv",
        "EmoSPeech_phase_2_test_public.csv",
        "EmoSPeech_phase_1_test_codalab.csv",
    ),
}
"""The names the challenge's own release gives its CSVs (``id,label,transcription`` and
``id,transcription``, audio in ``train_segments/`` and ``test_segments/``), read where the default
name is absent: the final phase's first, then the development phase's. Participants' code names
the final training CSV both ``_train.csv`` and ``_train_public.csv``. The final test CSV exists
in two versions with the same ids; ``_public2`` is the revised one, whose transcriptions no longer
hold Whisper's repetition loops (``db4fbc45-c25e9b17.mp3`` repeats one clause about 40 times in
``_public``), so it is preferred where both are present."""

EMOSPEECH_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8}\.mp3$")
EMOSPEECH_MIN_SIZES = {"training": 2_000, "Test": 300}
"""The EmoSpeech 2024 release has about 3,000 training rows (Train and the carved Development)
and several hundred test rows; a folder an order of magnitude smaller is a subset or a fixture."""
MEACORPUS_ROWS = 5_000
"""MEACorpus 2023 has 5,129 segments (4,102 train, 1,027 test); fewer is a subset."""


@option_rules(
    challenge=text(),
    train_csv=text(),
    test_csv=optional(text()),
    test_labels_csv=either(choice(None, False), text()),
    audio_dir=text(),
    dev_fraction=number(ge=0, lt=1),
    check_audio=flag(),
    videos_csv=optional(text()),
    dev_csv=optional(text()),
)
def read_emospeech(
    path: str | os.PathLike | None = None,
    *,
    challenge: str = "emospeech2024",
    train_csv: str = "train.csv",
    test_csv: str | None = "test.csv",
    test_labels_csv: str | bool | None = None,
    audio_dir: str = DEFAULT_AUDIO_DIR,
    dev_fraction: float = 0.2,
    seed: int = 0,
    check_audio: bool = True,
    videos_csv: str | None = None,
    dev_csv: str | None = None,
) -> Corpus:
    """Read the EmoSpeech @ IberLEF 2024 CSVs at ``path`` for the registered ``challenge``.

    Development is carved out of Train (``dev_fraction``, stratified by class, seeded), because
    the challenge ships none and Dev_bal is drawn from it. The challenge's CSVs do not say which
    video a segment comes from; ``videos_csv`` (a CSV with ``filename`` and ``youtube_key``, such
    as MEACorpus's ``public_v2.csv``, whose file names are the EmoSpeech ids) does, and then
    Development takes whole videos and out-of-fold stacking keeps a video in one fold.
    ``dev_csv`` (any CSV with an ``id`` column, such as BSC-UPC's ``dev_split.csv``) names the
    Train rows that form Development instead, so that a published split is reproduced exactly.
    ``test_labels_csv`` (``id,label``) attaches gold labels to the test rows for scoring; ``None``
    uses ``test_labels.csv`` when it exists, else the test CSV's own ``label`` column when it has
    one, ``False`` never. Audio is ``<path>/<audio_dir>/<id>``, or the same name in one of
    :data:`EMOSPEECH_AUDIO_DIRS`, where that file exists; without audio the corpus still serves
    text-only systems.
    """
    spec = challenge_for(challenge, "emospeech")
    root = corpus_root(
        path,
        "EmoSpeech",
        "the folder that holds train.csv (or EmoSPeech_phase_2_train.csv)",
        holds=lambda folder: _present_csv(folder, train_csv) is not None,
    )
    check_fraction(dev_fraction)
    train_path = _release_csv(root, train_csv, "train_csv")
    train = read_table(train_path, ("id", "label", "transcription"))
    if not train.rows:
        raise HarnessError(
            "the training CSV has no rows",
            file=train.path,
            fix="pass corpus_path=<the folder whose train.csv holds the training rows> "
            "or corpus_options.train_csv=<that file>",
        )
    frames = [_labelled_rows(train, "id", spec.known_labels(), "Train")]
    if test_csv is not None:
        test = read_table(_release_csv(root, test_csv, "test_csv"), ("id", "transcription"))
        test_frame = _test_rows(test, root, test_labels_csv, spec.known_labels())
        frames.append(test_frame)
    frame = _join_splits(frames)
    videos = None if videos_csv is None else _attach_videos(frame, root, videos_csv)
    if dev_csv is None:
        frame, carved = carve_development(frame, dev_fraction, seed)
    else:
        carved = listed_development(frame, root, dev_csv)
    _check_audio_dir(root, audio_dir)
    info = _attach_audio(frame, root, [audio_dir, *EMOSPEECH_AUDIO_DIRS], check_audio)
    info["development"] = carved
    if videos is not None:
        info["videos"] = videos
    return _finish(frame, root, info, "emospeech", spec.name, train.path)


def _release_csv(root: Path, name: str, option: str) -> Path:
    """``name``, or, where the default name is absent, the file the challenge's release ships
    under its own name (:data:`RELEASE_CSVS`), so the release folder reads as it is."""
    present = _present_csv(root, name)
    if present is None:
        return find_file(root, name, option)  # the error names the option
    if present.name != name:
        log.info("EmoSpeech: reading %s (no %s in %s)", present.name, name, root)
    return present


def _present_csv(folder: Path, name: str) -> Path | None:
    """``folder/name``, else the first of its release names there, else None."""
    for candidate in (name, *RELEASE_CSVS.get(name, ())):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


@option_rules(
    challenge=text(),
    csv_name=optional(text()),
    audio_dir=text(),
    dev_fraction=number(ge=0, lt=1),
    check_audio=flag(),
)
def read_meacorpus(
    path: str | os.PathLike | None = None,
    *,
    challenge: str = "emospeech2024",
    csv_name: str | None = None,
    audio_dir: str = DEFAULT_AUDIO_DIR,
    dev_fraction: float = 0.2,
    seed: int = 0,
    check_audio: bool = True,
) -> Corpus:
    """Read a public MEACorpus 2023 CSV, in either of its forms (see the module docstring).

    ``path`` is the CSV itself or its folder; in a folder, ``csv_name`` names the CSV, and
    without it the one CSV whose header has either form's columns is used. Split values
    train/test (any case; dev/development/val become Development) map to Train/Test; without a
    Development split one is carved out of Train as for EmoSpeech, by whole videos. A row's id is
    its ``filename``, or ``<youtube_key>/<segment_id>`` in the form without file names; its audio
    is looked for under ``audio_dir``, then :data:`MEA_AUDIO_DIRS`, all relative to the CSV. The
    video (``youtube_key``) stands in for the speaker, which the corpus does not name, so that
    out-of-fold stacking keeps a video's segments in one fold.
    """
    spec = challenge_for(challenge, "meacorpus")
    csv_path = _meacorpus_csv(path, csv_name)
    root = csv_path.parent
    check_fraction(dev_fraction)
    table = _mea_table(csv_path)
    splits = _mea_splits(table)
    id_column = "filename" if "filename" in table.header else "youtube_key/segment_id"
    frame = _labelled_rows(table, id_column, spec.known_labels(), splits)
    if "youtube_key" in table.header:
        frame["speaker"] = na_cells(table.column("youtube_key"))
    if "gender" in table.header:
        frame["gender"] = [g.lower() or None for g in table.column("gender")]
    carved = "given in the CSV"
    if not (frame["split"] == "Development").any():
        frame, carved = carve_development(frame, dev_fraction, seed)
    _check_audio_dir(root, audio_dir)
    info = _attach_audio(frame, root, [audio_dir, *MEA_AUDIO_DIRS], check_audio)
    info["development"] = carved
    return _finish(frame, root, info, "meacorpus", spec.name, csv_path)


def _attach_videos(frame: pd.DataFrame, root: Path, videos_csv: str) -> dict:
    """Each row's video (``youtube_key``) as its speaker, from a CSV keyed by ``filename``."""
    table = read_table(
        find_file(root, videos_csv, "videos_csv"), ("filename", "youtube_key"), what="videos CSV"
    )
    videos = dict(zip(check_ids(table, "filename"), na_cells(table.column("youtube_key"))))
    frame["speaker"] = [videos.get(utterance) for utterance in frame["id"]]
    matched = int(frame["speaker"].notna().sum())
    if matched == 0:
        raise HarnessError(
            f"none of the {len(frame)} ids is a filename in the videos CSV",
            file=table.path,
            fix="pass corpus_options.videos_csv=<MEACorpus public_v2.csv, whose filename column "
            "holds the EmoSpeech ids>",
        )
    if matched < len(frame):
        log.warning(
            "%s: %d of %d utterances have no video there; each is a group of its own",
            table.path,
            len(frame) - matched,
            len(frame),
        )
    return {"csv": str(table.path), "matched": matched, "rows": len(frame)}


def _mea_table(csv_path: Path) -> Table:
    """The CSV in either public form; the form without file names gets a ``youtube_key/segment_id``
    id column, so that a duplicate segment is reported like a duplicate file name."""
    table = read_table(csv_path, ("label", "transcription", "split"), what="MEACorpus CSV")
    if set(MEA_COLUMNS) <= set(table.header):
        return table
    missing = [c for c in MEA_SEGMENT_COLUMNS if c not in table.header]
    if missing:
        raise HarnessError(
            f"missing column(s) {', '.join(missing)}; the header has {','.join(table.header)}",
            file=csv_path,
            row=1,
            fix=f"the header must contain {','.join(MEA_COLUMNS)} or {','.join(MEA_SEGMENT_COLUMNS)}",
        )
    video, segment = table.header.index("youtube_key"), table.header.index("segment_id")
    for row, line in zip(table.rows, table.lines):
        if not row[video] or not row[segment]:
            raise HarnessError(
                "empty youtube_key" if not row[video] else "empty segment_id",
                file=csv_path,
                row=line,
                fix="give every row its video and segment, or remove the row",
            )
    rows = [[*row, f"{row[video]}/{row[segment]}"] for row in table.rows]
    return Table(table.path, [*table.header, "youtube_key/segment_id"], rows, table.lines)


def _check_audio_dir(root: Path, audio_dir: str) -> None:
    """An ``audio_dir`` the user named must exist: falling back to the folders searched by
    default would hide the typo and train a text-only corpus where audio was meant."""
    if audio_dir != DEFAULT_AUDIO_DIR and not (root / audio_dir).is_dir():
        raise HarnessError(
            "audio folder not found",
            file=root / audio_dir,
            fix=f"pass corpus_options.audio_dir=<the folder under {root} that holds the audio>",
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
    if labels_csv is None and (root / "test_labels.csv").is_file():
        labels_csv = "test_labels.csv"
    if labels_csv is not None:
        gold = read_table(find_file(root, str(labels_csv), "test_labels_csv"), ("id", "label"))
    elif "label" in table.header:
        # A test CSV that carries its gold labels itself (id,label,transcription, as a
        # post-challenge release or a researcher's merged file has it) is scored with them.
        log.info("EmoSpeech: test labels read from the label column of %s", table.path.name)
        gold = table
    else:
        return frame
    gold_ids = check_ids(gold, "id")
    gold_labels = [v.lower() or None for v in gold.column("label")]
    check_codes(gold, "label", gold_labels, known)
    index = {utt: i for i, utt in enumerate(ids)}
    check_listed(
        gold,
        gold_ids,
        index,
        f"in {table.path.name}",
        "the gold labels must belong to the test rows",
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
    root = corpus_root(
        path,
        "MEACorpus",
        "the folder that holds the MEACorpus CSV",
        holds=lambda folder: bool(_mea_candidates(folder)),
    )
    if csv_name is not None:
        return find_file(root, csv_name, "csv_name")
    candidates = _mea_candidates(root)
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise HarnessError(
            f"expected one CSV with the columns {','.join(MEA_COLUMNS)} or "
            f"{','.join(MEA_SEGMENT_COLUMNS)}; found {found}",
            file=root,
            fix="pass corpus_options.csv_name=<the MEACorpus CSV file name>",
        )
    return candidates[0]


def _mea_candidates(folder: Path) -> list[Path]:
    """The CSVs in ``folder`` with either MEACorpus form's header, else those in its ``output/``,
    where the corpus's repository keeps its CSV (and the download script writes the audio)."""
    candidates = [p for p in sorted(folder.glob("*.csv")) if _is_meacorpus_header(p)]
    return candidates or [p for p in sorted(folder.glob("output/*.csv")) if _is_meacorpus_header(p)]


def _is_meacorpus_header(csv_path: Path) -> bool:
    """Whether the first line names either form's columns (quoted or not, as ``dataset.csv``;
    separated as :func:`~harness.data.readers.tables.delimiter_of` reads it)."""
    import csv

    with open(csv_path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        first = handle.readline()
    header = {h.strip() for h in next(csv.reader([first], delimiter=delimiter_of(first)), [])}
    return set(MEA_COLUMNS) <= header or set(MEA_SEGMENT_COLUMNS) <= header


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


AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
"""Audio formats soundfile decodes; an id's file may carry any of them (see :func:`_by_stem`)."""


def _by_stem(names: set[str]) -> dict[str, list[str]]:
    """Audio file names by their stem, to find ``<stem>.wav`` for an id ``<stem>.mp3``."""
    stems: dict[str, list[str]] = {}
    for name in names:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in AUDIO_SUFFIXES:
            stems.setdefault(stem, []).append(name)
    return stems


def _other_extension(folder: Path, stem: str) -> Path | None:
    """The one file ``<folder>/<stem>.<audio extension>`` (``stem`` may hold a subfolder), or
    None when there is none or more than one to choose from."""
    hits = [folder / (stem + x) for x in AUDIO_SUFFIXES if (folder / (stem + x)).is_file()]
    return hits[0] if len(hits) == 1 else None


def _attach_audio(frame: pd.DataFrame, root: Path, folders: Sequence[str], check: bool) -> dict:
    """Audio paths where the files exist; text-only use keeps working without them.

    An id is looked up as it is written first. Failing that, a single file with the id's stem and
    another audio extension is taken: the release names MP3 files, and a researcher who converts
    them to WAV once (decoding MP3 dominates a cold feature pass; the harness's own error for an
    undecodable file suggests re-exporting it as WAV) keeps the official ids in the CSV, which
    the submission must carry. The ids themselves never change.
    """
    listings = [(root / folder, list_dir(root / folder)) for folder in folders]
    stems = [(d, _by_stem(names)) for d, names in listings]
    paths: list[str | None] = []
    renamed: list[tuple[str, Path]] = []
    for name in frame["id"]:
        if "/" in name:  # <video>/<segment>: a file in a per-video subfolder
            found = (d / name for d, _names in listings if (d / name).is_file())
        else:
            found = (d / name for d, names in listings if name in names)
        path = next(found, None)
        stem = os.path.splitext(name)[0] if name.lower().endswith(AUDIO_SUFFIXES) else name
        if path is None and "/" not in name:
            other = (d / hits[0] for d, by in stems if len(hits := by.get(stem, [])) == 1)
            path = next(other, None)
        elif path is None:  # <video>/<segment> converted, or written without the id's extension
            path = next(filter(None, (_other_extension(d, stem) for d, _names in listings)), None)
        if path is not None and os.path.basename(path) != os.path.basename(name):
            renamed.append((name, path))
        paths.append(None if path is None else str(path))
    if renamed:
        log.info(
            "%s: %d of %d ids matched a file of another audio extension (first: %s -> %s)",
            root,
            len(renamed),
            len(paths),
            renamed[0][0],
            renamed[0][1],
        )
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
    searched = [str(d) for d, _ in listings if d.is_dir()] or [str(listings[0][0])]
    info: dict = {"missing_audio": missing, "audio_dir": ", ".join(searched)}
    if renamed:
        info["audio_other_extension"] = len(renamed)
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
    info["language"] = "es"  # EmoSpeech and MEACorpus are Spanish: ASR must not run English-only
    info["development_fix"] = (
        "pass corpus_options.dev_fraction=0.2 (Development carved from Train, stratified) or "
        "corpus_options.dev_csv=FILE (a list of Train ids)"
    )
    warn_texts(info, str(root))
    name, official = identify_release(manifest, root, kind)
    info["release"] = name if official else None
    return Corpus(manifest, name, kind, challenge, root, info, official=official)


def identify_release(manifest: pd.DataFrame, root: Path, kind: str) -> tuple[str, bool]:
    """The corpus's name, and whether its runs stand beside the challenge's published results.

    ``("emospeech", True)`` only for a folder shaped like the EmoSpeech 2024 release: the sizes
    of :data:`EMOSPEECH_MIN_SIZES` and every id an :data:`EMOSPEECH_ID` file name. MEACorpus is
    never ranked beside them, as its split is not the challenge's; the whole corpus is
    ``meacorpus-2023``. Anything else is ``<kind>-layout-<folder>``, so that runs on different
    folders are never ranked in one table.
    """
    sizes = manifest["split"].value_counts()
    if kind == "emospeech":
        training = sizes.get("Train", 0) + sizes.get("Development", 0)
        shaped = training >= EMOSPEECH_MIN_SIZES["training"]
        shaped = shaped and sizes.get("Test", 0) >= EMOSPEECH_MIN_SIZES["Test"]
        if shaped and manifest["id"].astype(str).str.match(EMOSPEECH_ID).all():
            return "emospeech", True
    elif kind == "meacorpus" and len(manifest) >= MEACORPUS_ROWS:
        return "meacorpus-2023", False
    return layout_name(kind, root), False
