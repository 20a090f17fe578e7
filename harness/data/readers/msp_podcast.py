"""The MSP-Podcast layout (Odyssey 2024 and later MSP-Podcast challenges) -> Corpus.

``Labels/labels_consensus.csv`` (``labels_concensus.csv`` in releases before 1.11, whose
``Validation`` split is read as Development) with ``FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,
Split_Set``, audio in ``Audios/<FileName>``, optional transcripts in ``Transcripts/<stem>.txt``.
The layout is the corpus's; the class codes, split names, hidden splits and attribute scale are
the challenge's, taken from the registry, so a new MSP-Podcast challenge reuses this reader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
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
    layout_name,
    list_dir,
    log,
    option_rules,
    read_transcript,
    warn_texts,
)
from harness.data.readers.tables import (
    Table,
    check_codes,
    check_ids,
    first_index,
    na_cells,
    numbers,
    read_table,
    read_utf8,
)
from harness.errors import HarnessError
from harness.params import either, flag, optional, text

LAYOUT = "msp_podcast"
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
LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv")
"""The labels file, by the name of v1.11 (the Odyssey 2024 corpus) and later, then by the name
releases up to 1.10 gave it (``labels_concensus.csv``: 1.6 and 1.8 in public code)."""
SPLIT_ALIASES = {"validation": "Development"}
"""Split names of older releases: 1.6 and 1.8 call Development ``Validation``."""
TRANSCRIPT_MODES = ("auto", "reference", "none")


@option_rules(
    challenge=text(),
    transcripts=either(flag(), text()),
    test3_list=optional(text()),
    check_audio=flag(),
)
def read_msp_podcast(
    path: str | os.PathLike | None = None,
    *,
    challenge: str = "odyssey2024",
    transcripts: str | os.PathLike | bool = "auto",
    test3_list: str | os.PathLike | None = "auto",
    check_audio: bool = True,
) -> Corpus:
    """Read MSP-Podcast (Odyssey 2024 layout) at ``path`` for the registered ``challenge``.

    ``transcripts``: ``"auto"`` reads ``Transcripts/<stem>.txt`` when that folder exists,
    ``"reference"`` requires it, ``"none"`` skips it; any other string is a folder of
    ``<stem>.txt`` files. ``test3_list`` is a text file of FileNames (one per line) added as
    unlabelled rows of the challenge's submission split (Test3); ``"auto"`` (the default) adds
    the audio files the challenge ships for it instead, ``Audios/MSP-PODCAST_test3_<n>.wav``
    (found as the organisers' baseline finds them), and ``"none"`` adds nothing. ``check_audio``
    reads every audio header (for durations and to catch missing or corrupt files before
    training).
    """
    spec = challenge_for(challenge, LAYOUT)
    root = corpus_root(
        path,
        "MSP-Podcast",
        "the folder that holds Labels/ and Audios/",
        holds=lambda folder: _labels_file(folder) is not None,
    )
    labels_path = _labels_file(root) or root / "Labels" / LABEL_FILES[0]
    if not labels_path.is_file():
        raise HarnessError(
            "labels file not found",
            file=labels_path,
            fix="pass corpus_path=<the MSP-Podcast folder that contains Labels/labels_consensus.csv>",
        )
    table = read_table(labels_path, MSP_COLUMNS, what="labels file")
    frame = _labelled_frame(table, spec)
    rows = [(labels_path, line) for line in table.lines]
    info: dict = {}
    if str(test3_list).lower() == "auto":
        frame, rows, info["test3"] = _shipped_test3(root, frame, rows, spec)
    elif test3_list is not None and str(test3_list).lower() != "none":
        known = dict(zip(frame["id"], zip(frame["split"], table.lines)))
        list_path, extra = _test3_rows(test3_list, root, known, spec.submission_split)
        rows += [(list_path, line) for line in extra.pop("_row")]
        frame = pd.concat([frame, extra], ignore_index=True)
    frame["path"] = [str(root / "Audios" / name) for name in frame["id"]]
    frame["duration"] = np.nan
    if check_audio:
        frame["duration"] = _msp_audio(root, frame, rows)
    info.update(_msp_transcripts(root, frame, rows, transcripts))
    manifest = make_manifest(frame, str(labels_path))
    info.update(
        counts(manifest),
        labels_file=str(labels_path),
        language="en",
        development_fix="give rows of the labels file Split_Set=Development",
    )
    warn_texts(info, str(root))
    name, official = identify_release(manifest, root)
    if labels_path.name != LABEL_FILES[0]:
        # an older release: its splits and labels are not the Odyssey 2024 corpus's (v1.11)
        name, official = layout_name("msp", root), False
        log.info(
            "%s: %s is the labels file of an MSP-Podcast release before 1.11; its scores are "
            "not comparable with the published Odyssey 2024 results",
            root,
            labels_path.name,
        )
    info["release"] = name if official else None
    return Corpus(manifest, name, LAYOUT, spec.name, root, info, official=official)


RELEASE_FILE = re.compile(r"^MSP-PODCAST_(\d{4}_\d{4}(_\d{4})?|test3_\d{4})\.wav$")
"""File names of the release: ``MSP-PODCAST_<podcast>_<segment>.wav``, and the Odyssey 2024
Test3 files ``MSP-PODCAST_test3_0001.wav`` ... ``_3200.wav``, which no labels file lists."""
SHIPPED_TEST3 = re.compile(r"^MSP-PODCAST_test3_\d+\.wav$", re.IGNORECASE)
RELEASE_MIN_SIZES = {"Train": 50_000, "Development": 10_000, "Test1": 10_000}
"""The released corpus has tens of thousands of utterances per split (MSP-Podcast v1.11: about
150k labelled turns); a folder in the same layout that is an order of magnitude smaller is a
subset, a fixture or another corpus, and its scores mean nothing beside the published ones."""
V1_11_LABELLED = 84_030 + 19_815 + 30_647 + 14_815
"""Train, Development, Test1 and Test2 of MSP-Podcast v1.11, the Odyssey 2024 corpus (151,654
speaking turns with Test3's 2,347, as the corpus's page at UT Dallas gives them)."""
LATER_RELEASE_GROWTH = 1.15
"""A folder whose four labelled splits hold more than this many times v1.11's turns is a later
release (1.12 has 207,136 turns): same layout and file names, more data, so its scores do not
stand beside the published Odyssey 2024 results. The bound is loose on purpose, so that the
real v1.11 is never mistaken for another release."""


def identify_release(manifest: pd.DataFrame, root: Path) -> tuple[str, bool]:
    """``("msp-podcast", True)`` for the released corpus, else ``("msp-layout-<folder>", False)``.

    The release is recognised by its shape: the Train / Development / Test1 / Test2 splits, each
    at least the size in :data:`RELEASE_MIN_SIZES` and together not much larger than v1.11's
    (:data:`LATER_RELEASE_GROWTH`), and every FileName in the release's
    ``MSP-PODCAST_<podcast>_<segment>.wav`` pattern.
    """
    sizes = manifest["split"].value_counts()
    shaped = all(sizes.get(split, 0) >= n for split, n in RELEASE_MIN_SIZES.items())
    shaped = shaped and sizes.get("Test2", 0) > 0
    labelled = sum(int(sizes.get(split, 0)) for split in ("Train", "Development", "Test1", "Test2"))
    if shaped and labelled > LATER_RELEASE_GROWTH * V1_11_LABELLED:
        log.info(
            "%s: %d labelled turns, more than MSP-Podcast v1.11 (%d): a later release, not the "
            "Odyssey 2024 corpus; ranked in its own table",
            root,
            labelled,
            V1_11_LABELLED,
        )
        shaped = False
    if shaped and manifest["id"].astype(str).str.match(RELEASE_FILE).all():
        return "msp-podcast", True
    return layout_name("msp", root), False


def _labelled_frame(table: Table, challenge) -> pd.DataFrame:
    """The labels file as Manifest columns; hidden splits may leave class and attributes empty."""
    ids = check_ids(table, "FileName")
    splits = _msp_splits(table, challenge.splits)
    labelled = [s not in challenge.hidden_splits for s in splits]
    labels = na_cells(table.column("EmoClass"))
    i = first_index(lab is None and req for lab, req in zip(labels, labelled))
    if i is not None:
        raise HarnessError(
            f"EmoClass is empty in split {splits[i]}",
            file=table.path,
            row=table.lines[i],
            fix="give the class code (X for no agreement), or remove the row",
        )
    check_codes(table, "EmoClass", labels, challenge.known_labels())
    scale = challenge.attribute_range or (1.0, 7.0)
    return pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            **{
                name: numbers(table, column, labelled, scale)
                for column, name in MSP_ATTRIBUTES.items()
            },
            "speaker": na_cells(table.column("SpkrID")),
            "gender": na_cells(table.column("Gender")),
            "split": splits,
        }
    )


def _labels_file(root: Path) -> Path | None:
    """The folder's labels file under either name of :data:`LABEL_FILES`, or None."""
    return next((root / "Labels" / n for n in LABEL_FILES if (root / "Labels" / n).is_file()), None)


def _msp_splits(table: Table, names: Sequence[str]) -> list[str]:
    canonical = {s.lower(): s for s in names}
    canonical.update({k: v for k, v in SPLIT_ALIASES.items() if v in names})
    result = []
    for value, line in zip(table.column("Split_Set"), table.lines):
        if value.lower() not in canonical:
            raise HarnessError(
                f"unknown split {value!r}" if value else "empty Split_Set",
                file=table.path,
                row=line,
                fix=f"use one of {', '.join(names)}",
            )
        result.append(canonical[value.lower()])
    return result


def _shipped_test3(root: Path, frame: pd.DataFrame, rows: list, spec) -> tuple:
    """The frame and rows with the Test3 audio the challenge ships in ``Audios/`` added as
    unlabelled rows of its submission split, and a line saying what was found. Files the
    labels file already lists keep their row; nothing is added for a challenge without a hidden
    submission split."""
    if spec.submission_split not in spec.hidden_splits:
        return frame, rows, "none (the submission split has labels)"
    listed = set(frame["id"])
    names = sorted(n for n in list_dir(root / "Audios") if SHIPPED_TEST3.match(n))
    extra = [n for n in names if n not in listed]
    if not extra:
        return frame, rows, "none found in Audios/ (MSP-PODCAST_test3_*.wav)"
    log.info(
        "%s: %d %s files in Audios/ (MSP-PODCAST_test3_*.wav) are its unlabelled rows",
        root,
        len(extra),
        spec.submission_split,
    )
    added = pd.DataFrame({"id": extra, "split": spec.submission_split})
    rows = [*rows, *((root / "Audios", 0) for _ in extra)]  # row 0: found, not listed
    what = f"{len(extra)} files MSP-PODCAST_test3_*.wav in Audios/"
    return pd.concat([frame, added], ignore_index=True), rows, what


def _test3_rows(
    list_path: str | os.PathLike, root: Path, known: dict[str, tuple[str, int]], split: str
) -> tuple[Path, pd.DataFrame]:
    """Unlabelled ``split`` rows from a list of FileNames (a relative path may be under the corpus)."""
    path = Path(list_path).expanduser()
    if not path.is_file() and (root / path).is_file():
        path = root / path
    names, lines = [], []
    seen: dict[str, int] = {}
    for line, raw in enumerate(read_utf8(path, f"{split} list").splitlines(), start=1):
        name = raw.strip().split(",")[0].strip()
        if not name or (line == 1 and name == "FileName"):
            continue
        if name in seen:
            raise HarnessError(
                f"duplicate FileName {name!r} (first at row {seen[name]})",
                file=path,
                row=line,
                fix=f"list every {split} file once",
            )
        seen[name] = line
        if name in known:
            other, labels_line = known[name]
            if other != split:
                raise HarnessError(
                    f"{name} is already in the labels file as {other} (row {labels_line})",
                    file=path,
                    row=line,
                    fix=f"a {split} file cannot also be in another split",
                )
            continue
        names.append(name)
        lines.append(line)
    return path, pd.DataFrame({"id": names, "split": split, "_row": lines})


def _msp_audio(root: Path, frame: pd.DataFrame, rows: Sequence[tuple[Path, int]]) -> np.ndarray:
    audio_dir = root / "Audios"
    present = list_dir(audio_dir)
    missing = [i for i, name in enumerate(frame["id"]) if name not in present]
    if missing:
        i = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise HarnessError(
            f"audio file {audio_dir / frame['id'].iloc[i]} not found{more}",
            file=rows[i][0],
            row=rows[i][1],
            fix=f"put the audio in {audio_dir}, or pass corpus_options.check_audio=false for text-only use",
        )
    return audio_durations(list(frame["path"]), rows)


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
    present = list_dir(folder)
    texts: list[str | None] = []
    missing = empty = 0
    for name, (source, row) in zip(frame["id"], rows):
        file = f"{Path(name).stem}.txt"
        if file not in present:
            missing += 1
            texts.append(None)
            continue
        text = read_transcript(folder / file, row, source)
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
                fix="put <stem>.txt transcripts there, or pass corpus_options.transcripts=none (or auto)",
            )
        return default
    if mode == "auto":
        return default if default.is_dir() else None
    folder = Path(mode).expanduser()
    if not folder.is_dir():
        raise HarnessError(
            "transcript folder not found",
            file=folder,
            fix=f"pass corpus_options.transcripts=<a folder of <stem>.txt files> or one of {', '.join(TRANSCRIPT_MODES)}",
        )
    return folder
