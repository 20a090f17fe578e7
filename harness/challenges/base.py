"""What a challenge is: its class set, splits, metrics and the exact submission format.

The writer and the validator live side by side in one object so they can never disagree: every
file the writer produces is checked by the same rules the organisers' portal would apply, before
one of the (few) allowed submissions is spent.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError


@dataclass(frozen=True)
class Track:
    """One ranked entry of a challenge: a task, and which modalities a system may read for it.

    EmoSpeech 2024 ranks the same 6-class task twice, text only (Task 1) and audio + text
    (Task 2); Odyssey 2024 has one track per task and lets a system read anything."""

    name: str
    """Short name for ``track=`` and for submission file names (``task1``)."""
    title: str
    """As the organisers and ``leaderboards/reference.csv`` name it (``Task 1 (text only)``)."""
    task: str
    modalities: tuple[str, ...] | None = None
    """What a system may read to enter; ``None``: anything."""


@dataclass(frozen=True)
class Challenge:
    name: str
    title: str
    classes: tuple[str, ...]
    """Scored class codes, in the order of posterior columns."""
    class_names: dict[str, str]
    train_only_classes: tuple[str, ...] = ()
    """Codes that may appear in training labels but are never scored (MSP-Podcast O and X)."""
    tasks: tuple[str, ...] = ("categorical",)
    attribute_range: tuple[float, float] | None = None
    splits: tuple[str, ...] = ("Train", "Development", "Test")
    eval_splits: tuple[str, ...] = ("Test",)
    submission_split: str = "Test"
    hidden_splits: tuple[str, ...] = ()
    """Splits whose labels the organisers withhold: a corpus may leave their labels empty."""
    id_column: str = "id"
    label_column: str = "label"
    attribute_columns: dict[str, str] = field(default_factory=dict)
    """Submission column for each Manifest attribute (arousal -> EmoAct, ...)."""
    corpora: tuple[str, ...] = ()
    """Corpus kinds (reader names in the registry) whose readers accept this challenge. A run is
    shown beside its published results (the rows of ``leaderboards/reference.csv`` whose
    ``challenge`` is :attr:`name`) only on a corpus of these kinds that its reader identified as
    the release those results were scored on (``Corpus.official``)."""
    tracks: tuple[Track, ...] = ()
    """Ranked entries; a task without one is its own single track."""
    eval_prior: str | tuple[float, ...] = "uniform"
    """Class distribution of the evaluation set, the target of ``target_prior=auto``: ``uniform``
    (a balanced test set), ``train`` (the test set follows the corpus's natural distribution,
    estimated by Train), or one weight per class."""

    # -- tracks ---------------------------------------------------------------------------------
    def tracks_for(self, task: str) -> tuple[Track, ...]:
        own = tuple(t for t in self.tracks if t.task == task)
        return own or (Track(task, task, task),)

    def track_for(
        self, task: str, modalities: Sequence[str], requested: str | None = None
    ) -> Track:
        """The track a system that reads ``modalities`` enters for ``task``: the narrowest one that
        admits it. Asking for another (``track=``) is refused, so that a text-only system is
        never entered as the multimodal track by mistake, nor a multimodal one as text only."""
        reads = set(modalities)
        tracks = self.tracks_for(task)
        admitting = [t for t in tracks if t.modalities is None or reads <= set(t.modalities)]
        if not admitting:
            raise HarnessError(
                f"no {self.name} track for {task} admits a system that reads {', '.join(sorted(reads))}",
                fix="choose a system whose modalities fit: "
                + "; ".join(f"{t.title}: {', '.join(t.modalities or ('any',))}" for t in tracks),
            )
        own = min(admitting, key=lambda t: len(t.modalities) if t.modalities else 99)
        if requested in (None, "auto", own.name):
            return own
        names = [t.name for t in tracks]
        if requested not in names:
            raise HarnessError(
                f"challenge {self.name} has no track {requested!r} for {task}",
                fix=f"pass track=auto or one of track={', track='.join(names)}",
            )
        wanted = next(t for t in tracks if t.name == requested)
        raise HarnessError(
            f"a system that reads {', '.join(sorted(reads)) or 'nothing'} belongs in {own.title}, "
            f"not {wanted.title}",
            fix=f"pass track={own.name} (or track=auto), or choose a system that reads "
            f"{', '.join(wanted.modalities or ('anything',))}",
        )

    def submission_name(self, task: str, track: Track, split: str) -> str:
        """``<challenge>_<task>_<split>.csv``; ``<challenge>_<track>_<split>.csv`` where one task
        is ranked in several tracks, so each track gets its own file."""
        entry = track.name if len(self.tracks_for(task)) > 1 else task
        return f"{self.name}_{entry}_{split}.csv"

    # -- format ---------------------------------------------------------------------------------
    def submission_columns(self, task: str) -> list[str]:
        self._check_task(task)
        if task == "categorical":
            return [self.id_column, self.label_column]
        return [self.id_column, *(self.attribute_columns[a] for a in ATTRIBUTES)]

    def primary_metric(self, task: str) -> str:
        return "macro_f1" if task == "categorical" else "ccc_mean"

    def known_labels(self) -> tuple[str, ...]:
        return (*self.classes, *self.train_only_classes)

    # -- writing --------------------------------------------------------------------------------
    def submission_frame(self, predictions: pd.DataFrame, task: str) -> pd.DataFrame:
        """Turn Predictions into the organisers' table: hard labels or clipped attributes, sorted by id."""
        self._check_task(task)
        ids = predictions.index.astype(str)
        values = predictions.to_numpy(dtype=float)
        bad = ~np.isfinite(values).all(axis=1)
        if task == "categorical" and bad.any():  # arg-max would silently turn NaN into a class
            raise HarnessError(
                f"prediction for id {ids[int(np.flatnonzero(bad)[0])]!r} is NaN or infinite",
                fix="every utterance needs a finite prediction before a submission is written",
            )
        if task == "categorical":
            columns = list(predictions.columns)
            unknown = [c for c in columns if c not in self.classes]
            if unknown:
                raise HarnessError(
                    f"prediction columns {unknown} are not scored classes of {self.name}"
                )
            labels = np.asarray(columns)[values.argmax(axis=1)]
            frame = pd.DataFrame({self.id_column: ids, self.label_column: labels})
        else:
            low, high = self.attribute_range or (-math.inf, math.inf)
            frame = pd.DataFrame({self.id_column: ids})
            for attribute in ATTRIBUTES:
                frame[self.attribute_columns[attribute]] = np.clip(
                    predictions[attribute].to_numpy(dtype=float), low, high
                )
        return frame.sort_values(self.id_column, kind="stable").reset_index(drop=True)

    def write_submission(
        self,
        predictions: pd.DataFrame,
        task: str,
        path: str | os.PathLike,
        expected_ids: Iterable[str] | None = None,
    ) -> Path:
        """Write and validate a submission; a file that fails validation is never left behind."""
        from harness.io import atomic_path

        frame = self.submission_frame(predictions, task)
        path = Path(path)
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6f")
            problems = self.validate_submission(tmp, task, expected_ids, display_name=str(path))
            if problems:
                raise HarnessError(
                    f"refusing to write an invalid submission ({problems[0]})"
                    + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                    file=path,
                )
        return path

    # -- validation -----------------------------------------------------------------------------
    def validate_submission(
        self,
        path: str | os.PathLike,
        task: str,
        expected_ids: Iterable[str] | None = None,
        *,
        display_name: str | None = None,
    ) -> list[str]:
        """Every problem in the file, one line each with its row; an empty list means it is valid.

        Rows are numbered as lines of the file (the header is line 1), so that a user can jump to
        them in an editor.
        """
        self._check_task(task)
        name = display_name or str(path)
        expected_header = self.submission_columns(task)
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
        except FileNotFoundError:
            return [f"{name}: file not found"]
        except UnicodeDecodeError as exc:
            return [f"{name}: not UTF-8 text ({exc.reason})"]
        if not rows:
            return [f"{name}: empty file (fix: the first line must be {','.join(expected_header)})"]
        problems: list[str] = []
        header = rows[0]
        if header and header[0].startswith("\ufeff"):
            header = [header[0][1:], *header[1:]]  # a UTF-8 byte-order mark is not part of the name
        if header != expected_header:
            return [
                f"{name}: line 1: header is {','.join(rows[0])!r}, expected {','.join(expected_header)!r}"
            ]
        seen: dict[str, int] = {}
        for line_no, row in enumerate(rows[1:], start=2):
            if not row or all(not cell.strip() for cell in row):
                problems.append(f"{name}: line {line_no}: empty line")
                continue
            if len(row) != len(expected_header):
                problems.append(
                    f"{name}: line {line_no}: {len(row)} fields, expected {len(expected_header)}"
                )
                continue
            utt = row[0]
            if not utt.strip():
                problems.append(f"{name}: line {line_no}: id '' is empty")
                continue
            if utt != utt.strip():
                problems.append(f"{name}: line {line_no}: id {utt!r} has surrounding spaces")
                continue
            if utt in seen:
                problems.append(
                    f"{name}: line {line_no}: duplicate id {utt!r} (first at line {seen[utt]})"
                )
                continue
            seen[utt] = line_no
            problems += [f"{name}: line {line_no}: {p}" for p in self._value_problems(row, task)]
        if expected_ids is not None:
            problems += self._id_problems(name, seen, expected_ids)
        return problems

    def _value_problems(self, row: Sequence[str], task: str) -> list[str]:
        """Problems with the class code or the attribute values of one well-formed row."""
        utt = row[0]
        if task == "categorical":
            code = row[1]
            if code in self.classes:
                return []
            return [
                f"unknown class {code!r} for id {utt!r} (fix: use one of {','.join(self.classes)})"
            ]
        problems = []
        low, high = self.attribute_range or (-math.inf, math.inf)
        for column, cell in zip(self.submission_columns(task)[1:], row[1:]):
            try:
                value = float(cell)
            except ValueError:
                problems.append(f"{column} {cell!r} is not a number")
                continue
            if math.isnan(value) or math.isinf(value):
                problems.append(
                    f"{column} is {cell.strip()} for id {utt!r} (fix: predict a finite value)"
                )
            elif not low <= value <= high:
                problems.append(f"{column}={value} is outside [{low:g}, {high:g}]")
        return problems

    def _id_problems(
        self, name: str, seen: dict[str, int], expected_ids: Iterable[str]
    ) -> list[str]:
        """Expected ids the file lacks, and ids it has that the submission split lacks."""
        problems = []
        expected = {str(i) for i in expected_ids}
        missing = sorted(expected - seen.keys())
        extra = sorted(seen.keys() - expected)
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            problems.append(
                f"{name}: {len(missing)} expected ids are missing: {shown} (fix: predict every utterance of the {self.submission_split} split)"
            )
        for utt in extra:
            problems.append(
                f"{name}: line {seen[utt]}: id {utt!r} is not in the {self.submission_split} split"
            )
        return problems

    def read_submission(self, path: str | os.PathLike, task: str) -> pd.DataFrame:
        """Read a submission back as Predictions-like columns (labels or attributes), indexed by id."""
        frame = pd.read_csv(path, dtype={self.id_column: str})
        frame = frame.rename(columns={self.id_column: "id", self.label_column: "label"})
        frame = frame.rename(columns={v: k for k, v in self.attribute_columns.items()})
        return frame.set_index("id")

    def _check_task(self, task: str) -> None:
        if task not in self.tasks:
            raise HarnessError(
                f"challenge {self.name} has no task {task!r}",
                fix=f"use task={' or task='.join(self.tasks)}",
            )


def label_codes(values: Sequence[str], challenge: Challenge) -> list[str]:
    """Validate class codes, returning them unchanged (helper for readers)."""
    known = set(challenge.known_labels())
    for value in values:
        if value not in known:
            raise HarnessError(
                f"unknown class code {value!r}", fix=f"use one of {', '.join(sorted(known))}"
            )
    return list(values)
