"""What every corpus reader shares: the challenge it reads for, folders, audio headers, transcripts.

A reader takes its challenge by registry name, so the classes, splits and attribute scale it
checks against are the challenge object's, and a new challenge on an existing corpus layout needs
no edit here. Missing or empty transcripts are not errors: the row keeps ``text=NA``, the count
goes into ``Corpus.info`` and one warning is logged, because a text system must never silently
train on fewer rows than the user thinks.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import HarnessError

log = logging.getLogger("harness.data.readers")


def option_rules(**rules):
    """Declare what each keyword option of a reader accepts (:mod:`harness.params`), so that
    ``corpus_options.*`` values are checked with the run's other values, before the corpus is
    read, and a wrong one is one line rather than a traceback from deep in the reader."""

    def declare(reader):
        reader.option_rules = rules
        return reader

    return declare


def challenge_for(name: str, layout: str):
    """The registered :class:`~harness.challenges.base.Challenge` ``name``, which must list the
    corpus ``layout`` among its ``corpora``."""
    from harness import registry

    challenge = registry.get("challenges", name)
    if layout not in challenge.corpora:
        accepted = ", ".join(challenge.corpora) or "none"
        raise HarnessError(
            f"challenge {challenge.name} is not scored on the {layout} corpus "
            f"(its corpora: {accepted})",
            fix=f"pass challenge=<a challenge whose corpora include {layout}>",
        )
    return challenge


def layout_name(kind: str, root: Path) -> str:
    """``<kind>-layout-<folder>``: the name of a folder in a corpus's layout that is not the
    release itself, so that runs on different folders are never ranked in one table."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-") or "corpus"
    return f"{kind}-layout-{safe}"


def corpus_root(
    path: str | os.PathLike | None,
    corpus: str,
    hint: str,
    holds: Callable[[Path], bool] | None = None,
) -> Path:
    """The corpus folder, which must exist.

    ``holds`` says whether a folder is this corpus's root (it has the labels file). When
    ``path`` is not one but is close to one (the labels file itself, ``Labels/``, an audio folder,
    or the folder just above the corpus), the error's fix names that folder, so that pasting it
    runs: the likely slips when a corpus is pointed at for the first time.
    """
    if path is None:
        raise HarnessError(
            f"no path given for the {corpus} corpus", fix=f"pass corpus_path=<{hint}>"
        )
    root = Path(path).expanduser()
    if holds is not None and not (root.is_dir() and holds(root)):
        near = _nearby_root(root, holds)
        if near is not None:
            what = "a file in" if root.is_file() else "not the top of"
            raise HarnessError(
                f"this is {what} the {corpus} folder, which is {near}",
                file=root,
                fix=f"pass {shlex.quote(f'corpus_path={near}')}",
            )
    if not root.is_dir():
        raise HarnessError(
            f"{corpus} folder not found", file=root, fix=f"pass corpus_path=<{hint}>"
        )
    return root


def _nearby_root(path: Path, holds: Callable[[Path], bool]) -> Path | None:
    """The one folder near ``path`` that ``holds`` the corpus: up to three levels above it, or,
    for a folder, one level below it."""
    above = [p for p in list(path.absolute().parents)[:3] if p.is_dir() and holds(p)]
    if above:
        return above[0]
    if path.is_dir():
        try:
            below = sorted(e.path for e in os.scandir(path) if e.is_dir())
        except OSError:
            return None
        found = [Path(p) for p in below if holds(Path(p))]
        if len(found) == 1:
            return found[0]
    return None


def find_file(root: Path, name: str, option: str) -> Path:
    """``name`` (absolute, or relative to ``root``), which must be a file; ``option`` is the
    reader option that names it, quoted in the fix as it is passed on the command line."""
    path = Path(name).expanduser()
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise HarnessError(
            "CSV file not found",
            file=path,
            fix=f"pass corpus_path=<the folder that holds it> or "
            f"corpus_options.{option}=<its file name>",
        )
    return path


def list_dir(path: Path) -> set[str]:
    """File names in ``path`` (one ``scandir`` instead of a ``stat`` per utterance)."""
    try:
        return {entry.name for entry in os.scandir(path)}
    except FileNotFoundError:
        return set()


def listed_at(source: Path, row: int | None) -> str:
    """Where an utterance comes from: a row of a labels file, or (row 0) a folder it was found in."""
    return f"listed at row {row} of {source}" if row else f"found in {source}"


def audio_durations(paths: Sequence[str | None], rows: Sequence[tuple[Path, int]]) -> np.ndarray:
    """Header-only check of every file (cheap; threads overlap the I/O); corrupt files raise."""
    from concurrent.futures import ThreadPoolExecutor

    import soundfile as sf

    from harness.progress import counting

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

    # Threads overlap the header reads where the files are slow to open (network file systems);
    # they get chunks, not files, as one future per file costs more than a cached header read
    # (152,000 cached files on 2 cores: 7.9 s against 14.2 s; benchmarks/reader_scale.py).
    size = 1024
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    workers = min(8, len(chunks)) or 1
    results: list[tuple[float, str | None]] = []
    # A full MSP-Podcast folder takes seconds to minutes (more on a network file system).
    bar = counting("checking audio headers", len(paths), show=len(chunks) > 8)
    with ThreadPoolExecutor(max_workers=workers) as pool, bar as advance:
        for chunk in pool.map(lambda c: [probe(p) for p in c], chunks):
            results += chunk
            advance(len(chunk))
    for (_, problem), path, (source, row) in zip(results, paths, rows):
        if problem is not None:
            raise HarnessError(
                f"cannot decode audio ({problem}); {listed_at(source, row)}",
                file=path,
                fix="re-export the file as 16 kHz WAV, or "
                + ("remove its row from the labels file" if row else "move it out of that folder"),
            )
    return np.array([duration for duration, _ in results], dtype=float)


def read_transcript(path: Path, row: int, source: Path) -> str | None:
    """UTF-8 text joined onto one line; None when the file is empty."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HarnessError(
            f"transcript is not UTF-8 text (byte 0x{data[exc.start]:02x} at position "
            f"{exc.start}); {listed_at(source, row)}",
            file=path,
            row=data[: exc.start].count(b"\n") + 1,
            fix="re-save the transcript as UTF-8",
        ) from None
    text = " ".join(text.split())
    return text or None


def warn_texts(info: dict, where: str) -> None:
    """One warning when some utterances have no (or an empty) transcript."""
    missing, empty = info.get("missing_transcripts", 0), info.get("empty_transcripts", 0)
    if missing or empty:
        log.warning(
            "%s: %d utterances have no transcript and %d an empty one; they are kept with "
            "text=NA (text systems cannot use them)",
            where,
            missing,
            empty,
        )


def counts(manifest: pd.DataFrame) -> dict:
    """Utterances in all and per split, for ``Corpus.info``."""
    return {
        "n_utterances": len(manifest),
        "splits": {str(k): int(v) for k, v in manifest["split"].value_counts(sort=False).items()},
    }
