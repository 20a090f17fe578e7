"""Transcribe a whole corpus with one ASR model, resumably, and swap the transcripts in.

Why every split: the paper runs the same ASR over train, development and evaluation, so a text
model is trained on the kind of errors it will meet at test time. Mixing reference text for
training with ASR text for evaluation would overstate nothing and understate everything.

Layout of the cache (one directory per corpus and model, so two models never mix)::

    <cache_dir>/transcripts/<corpus.name>-<location hash>/<model_id>/
        model.json               how the transcripts were made (back-end, parameters, versions)
        <id>.txt                 one transcript per utterance, written atomically
        <id>.audio               size and mtime (ns) of the audio file it was made from
        manifest_with_asr.csv    id,text,text_source for every transcribed utterance

The location hash is that of the corpus root (resolved), so two folders of the same layout with
the same file names never share transcripts. A transcript is reused only while its audio file
has the size and mtime recorded beside it: an edited or re-exported file is transcribed again.
A transcript file either exists whole or not at all (its fingerprint is written first), so a run
killed at any point resumes by skipping the files that exist; deleting one file re-transcribes
exactly that utterance.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from harness.asr.base import ASRBackend, make_backend, safe_name
from harness.asr.wer import WERResult, word_error_rate
from harness.data.audio import file_stamp
from harness.data.corpus import Corpus
from harness.errors import HarnessError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called once at the start (with the resumed count) and per batch."""

MANIFEST_NAME = "manifest_with_asr.csv"
MODEL_INFO_NAME = "model.json"


@dataclass
class TranscriptionResult:
    """What :func:`transcribe_corpus` did, and the transcripts of the requested utterances."""

    corpus: str
    asr: str
    model_id: str
    directory: Path
    transcripts: dict[str, str]
    n_transcribed: int
    n_skipped: int
    audio_seconds: float
    """Audio decoded in this call (resumed utterances are not counted)."""
    seconds: float
    """Wall time of reading and decoding that audio, without loading the model."""
    load_seconds: float = 0.0
    wer: WERResult | None = None
    wer_by_split: dict[str, WERResult] = field(default_factory=dict)

    @property
    def n_utterances(self) -> int:
        return len(self.transcripts)

    @property
    def n_empty(self) -> int:
        """Empty transcripts (silence, or nothing recognised): kept in the corpus and the WER."""
        return sum(1 for text in self.transcripts.values() if not text)

    @property
    def rtf(self) -> float | None:
        """Real-time factor: processing seconds per second of audio (below 1 is faster)."""
        return self.seconds / self.audio_seconds if self.audio_seconds > 0 else None

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_NAME

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for the CLI and the run record."""
        return {
            "corpus": self.corpus,
            "asr": self.asr,
            "model_id": self.model_id,
            "directory": str(self.directory),
            "manifest": str(self.manifest_path),
            "n_utterances": self.n_utterances,
            "n_transcribed": self.n_transcribed,
            "n_skipped": self.n_skipped,
            "n_empty": self.n_empty,
            "audio_seconds": round(self.audio_seconds, 3),
            "seconds": round(self.seconds, 3),
            "load_seconds": round(self.load_seconds, 3),
            "rtf": None if self.rtf is None else round(self.rtf, 4),
            "wer": None if self.wer is None else self.wer.as_dict()["wer"],
            "wer_detail": None if self.wer is None else self.wer.as_dict(),
            "wer_by_split": {k: v.as_dict()["wer"] for k, v in self.wer_by_split.items()},
        }


def transcribe_corpus(
    corpus: Corpus,
    asr_name: str | ASRBackend,
    *,
    asr_params: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
    splits: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> TranscriptionResult:
    """Transcribe every utterance of ``corpus`` (or of ``splits``) that is not cached yet.

    ``asr_name`` is a registry name (``whisper``, ``canary``) built with ``asr_params``, or a
    ready back-end instance. The WER is computed where the corpus has reference transcripts.
    """
    backend = _backend(asr_name, _with_corpus_language(corpus, asr_name, asr_params))
    backend.check()
    rows = _select_splits(corpus.manifest, splits)
    directory = transcript_dir(corpus, backend, cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    _write_model_info(directory, backend)

    ids = rows["id"].tolist()
    needs = _needs_transcript(corpus, rows, directory)
    todo = rows[needs]
    total, skipped = len(rows), len(rows) - len(todo)
    if progress is not None:
        progress(skipped, total)

    load_seconds = 0.0
    if len(todo):
        # The bar shows only on a terminal; a log says what the minutes are spent on.
        log.info(
            "%s: transcribing %d of %d utterances (%d already in %s)",
            backend.model_id,
            len(todo),
            total,
            skipped,
            directory,
        )
        start = time.perf_counter()
        backend.load()
        load_seconds = time.perf_counter() - start
    audio_seconds, seconds = _transcribe_rows(
        corpus, rows, needs, backend, directory, skipped, total, progress
    )

    transcripts = {i: read_transcript(directory, i) for i in ids}
    if len(todo) or not (directory / MANIFEST_NAME).exists():
        _write_asr_manifest(corpus.manifest, directory, backend.model_id, transcripts)
    wer, by_split = _score(rows, transcripts, english=corpus_language(corpus) in (None, "en"))
    return TranscriptionResult(
        corpus=corpus.name,
        asr=backend.name,
        model_id=backend.model_id,
        directory=directory,
        transcripts=transcripts,
        n_transcribed=len(todo),
        n_skipped=skipped,
        audio_seconds=audio_seconds,
        seconds=seconds,
        load_seconds=load_seconds,
        wer=wer,
        wer_by_split=by_split,
    )


def missing_transcripts(
    corpus: Corpus,
    asr_name: str | ASRBackend,
    asr_params: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> int:
    """How many utterances :func:`transcribe_corpus` would transcribe now (none cached, or
    cached from other audio), without loading the model; its weights are checked to be local."""
    backend = _backend(asr_name, _with_corpus_language(corpus, asr_name, asr_params))
    backend.check()
    directory = transcript_dir(corpus, backend, cache_dir)
    if not directory.is_dir():
        return len(corpus.manifest)
    return int(sum(_needs_transcript(corpus, corpus.manifest, directory)))


def apply_transcripts(
    corpus: Corpus,
    asr_name: str | ASRBackend,
    asr_params: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> Corpus:
    """A copy of ``corpus`` whose ``text`` is the ASR output of every split.

    The reference transcripts move to ``text_reference``; ``text_source`` names the model
    (``asr:whisper-tiny.en``); ``corpus.info["asr"]`` records the model and its WER.
    """
    result = transcribe_corpus(
        corpus, asr_name, asr_params=asr_params, cache_dir=cache_dir, progress=progress
    )
    summary = result.summary()
    log.info(
        "text systems read %s transcripts%s",
        result.model_id,
        "" if summary["wer"] is None else f" (WER {summary['wer']:.4f} against the reference)",
    )
    manifest = corpus.manifest.copy()
    manifest["text_reference"] = reference_texts(corpus.manifest)
    manifest["text"] = manifest["id"].map(result.transcripts).astype("string")
    manifest["text_source"] = pd.Series(
        f"asr:{result.model_id}", index=manifest.index, dtype="string"
    )
    info = {
        **corpus.info,
        "text_source": f"asr:{result.model_id}",
        "asr": {
            key: summary[key]
            for key in (
                "asr",
                "model_id",
                "directory",
                "n_utterances",
                "n_empty",
                "wer",
                "wer_by_split",
            )
        },
    }
    return dataclasses.replace(corpus, manifest=manifest, info=info)


def main(
    asr: str,
    corpus: Corpus,
    asr_params: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    splits: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Entry point for ``harness transcribe``: transcribe and return the summary dict."""
    result = transcribe_corpus(
        corpus, asr, asr_params=asr_params, cache_dir=cache_dir, splits=splits, progress=progress
    )
    return result.summary()


# -- cache layout -------------------------------------------------------------------------------
def transcript_dir(
    corpus: Corpus, backend: ASRBackend, cache_dir: str | os.PathLike | None = None
) -> Path:
    """``<cache_dir>/transcripts/<corpus.name>-<hash of its location>/<model_id>``."""
    from harness.cache import digest

    if cache_dir is None:
        from harness.config import default_cache_dir

        cache_dir = default_cache_dir()
    name = safe_name(corpus.name)
    location = corpus_location(corpus)
    if location is not None:
        name = f"{name}-{digest(str(location), 12)}"
    return Path(cache_dir).expanduser() / "transcripts" / name / backend.model_id


def corpus_location(corpus: Corpus) -> Path | None:
    """Where the corpus lives: its root, resolved, or else the folder holding all its audio."""
    if corpus.root is not None:
        return Path(corpus.root).expanduser().resolve()
    parents = {
        os.path.dirname(os.path.abspath(audio))
        for audio in (_audio_path(corpus, p) for p in corpus.manifest["path"])
        if audio is not None
    }
    return Path(os.path.commonpath(sorted(parents))) if parents else None


def fingerprint_filename(utterance_id: str) -> str:
    return transcript_filename(utterance_id)[: -len(".txt")] + ".audio"


def transcript_filename(utterance_id: str) -> str:
    """A file name that maps back to exactly one id (ids may hold ``/`` or start with ``.``)."""
    name = quote(str(utterance_id), safe="-_.+=@,")
    if name.startswith("."):  # hidden files are the atomic writer's temporaries
        name = "%2E" + name[1:]
    return name + ".txt"


def read_transcript(directory: Path, utterance_id: str) -> str:
    return (directory / transcript_filename(utterance_id)).read_text(encoding="utf-8").strip()


def _existing_transcripts(directory: Path) -> set[str]:
    with os.scandir(directory) as entries:
        return {e.name for e in entries if e.name.endswith(".txt") and not e.name.startswith(".")}


def _needs_transcript(corpus: Corpus, rows: pd.DataFrame, directory: Path) -> list[bool]:
    """Rows without a transcript, or whose audio file is not the one it was made from.

    The audio's size and mtime are compared with those recorded beside the transcript, which
    catches a corpus rebuilt in place (a new demo generator, re-exported or edited audio) whose
    old transcripts would otherwise be silently reused.
    """
    with os.scandir(directory) as entries:
        written = {e.name for e in entries if not e.name.startswith(".")}
    needs = []
    for utterance_id, path in zip(rows["id"], rows["path"], strict=True):
        if transcript_filename(utterance_id) not in written:
            needs.append(True)
            continue
        current = file_stamp(_audio_path(corpus, path))
        if current is None:  # no or missing audio: keep the transcript; reading would fail
            needs.append(False)
            continue
        stamp = fingerprint_filename(utterance_id)
        recorded = (directory / stamp).read_text().strip() if stamp in written else None
        needs.append(recorded != current)
    return needs


def _write_model_info(directory: Path, backend: ASRBackend) -> None:
    from harness.io import write_json

    if not (directory / MODEL_INFO_NAME).exists():
        write_json(directory / MODEL_INFO_NAME, backend.describe())


def _write_asr_manifest(
    manifest: pd.DataFrame, directory: Path, model_id: str, known: dict[str, str]
) -> Path:
    """id,text,text_source for every utterance of the corpus transcribed so far (any split).

    Other splits may have been transcribed by earlier calls, so the file is rebuilt from the
    directory rather than from this call's ``known`` transcripts alone.
    """
    from harness.io import write_csv

    done = _existing_transcripts(directory)
    ids = [i for i in manifest["id"].tolist() if transcript_filename(i) in done]
    frame = pd.DataFrame(
        {
            "id": ids,
            "text": [known[i] if i in known else read_transcript(directory, i) for i in ids],
            "text_source": f"asr:{model_id}",
        }
    )
    return write_csv(directory / MANIFEST_NAME, frame, index=False)


# -- the work -----------------------------------------------------------------------------------
def _with_corpus_language(
    corpus: Corpus, asr: str | ASRBackend, params: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Default the ASR ``language`` to the corpus's own, where the corpus says it.

    A Spanish corpus must not be decoded as English by default; with an English-only model this
    turns a silent garbage transcript into a clear error.
    """
    language = corpus_language(corpus)
    if isinstance(asr, ASRBackend) or not language or "language" in (params or {}):
        return params
    from harness import registry

    accepted = inspect.signature(registry.get("asr", asr).__init__).parameters
    return {**(params or {}), "language": language} if "language" in accepted else params


def corpus_language(corpus: Corpus) -> str | None:
    """``info["language"]``, ``info["lang"]`` or the demo's ``info["demo"]["lang"]``."""
    info = corpus.info or {}
    demo = info.get("demo") if isinstance(info.get("demo"), dict) else {}
    language = info.get("language") or info.get("lang") or demo.get("lang")
    return str(language) if language else None


def _backend(asr: str | ASRBackend, params: dict[str, Any] | None) -> ASRBackend:
    if isinstance(asr, ASRBackend):
        if params:
            raise ValueError(
                "pass asr_params only with a registry name, not with a back-end instance"
            )
        return asr
    return make_backend(asr, params)


def _select_splits(manifest: pd.DataFrame, splits: Sequence[str] | None) -> pd.DataFrame:
    if splits is None:
        return manifest
    if isinstance(splits, str):
        splits = [splits]
    known = set(manifest["split"].dropna().unique())
    unknown = [s for s in splits if s not in known]
    if unknown:
        raise HarnessError(
            f"the corpus has no split {', '.join(map(repr, unknown))}",
            fix=f"choose from {', '.join(sorted(known))}",
        )
    return manifest[manifest["split"].isin(list(splits))]


def _transcribe_rows(
    corpus: Corpus,
    rows: pd.DataFrame,
    needs: list[bool],
    backend: ASRBackend,
    directory: Path,
    done: int,
    total: int,
    progress: Progress | None,
) -> tuple[float, float]:
    """Decode the rows that ``needs`` a transcript, writing each transcript as it arrives.

    Batches are cut from all of ``rows`` (in corpus order), not from the missing ones, and a
    batch without a missing row is not read: a packing back-end plans its windows over the
    whole batch and decodes only the windows that hold a missing row. So an interrupted run,
    resumed, decodes each utterance beside the neighbours an uninterrupted run gave it and
    writes the same text. The back-end reports every transcript through ``on_result`` as soon
    as it has it (a packing back-end finishes a batch window by window), so an interrupted run
    keeps all of them.
    """
    from harness.io import write_text

    audio_seconds = seconds = 0.0
    size = max(1, int(backend.batch_size))
    records = rows[["id", "path"]].to_dict("records")
    for start in range(0, len(records), size):
        batch, wanted = records[start : start + size], needs[start : start + size]
        if not any(wanted):
            continue
        began = time.perf_counter()
        for record, want in zip(batch, wanted):  # fingerprint first: a stale transcript never
            if not want:  # outlives its stamp
                continue
            (directory / transcript_filename(record["id"])).unlink(missing_ok=True)
            stamp = file_stamp(_audio_path(corpus, record["path"]))
            if stamp is not None:
                write_text(directory / fingerprint_filename(record["id"]), stamp + "\n")
        audios = [
            _batch_audio(corpus, record, want, backend.packs_batch)
            for record, want in zip(batch, wanted)
        ]

        def save(i: int, text: str, batch: list[dict[str, Any]] = batch) -> None:
            nonlocal done
            write_text(directory / transcript_filename(batch[i]["id"]), text + "\n")
            done += 1
            if progress is not None:
                progress(done, total)

        backend.transcribe_batch(audios, on_result=save, wanted=wanted)
        seconds += time.perf_counter() - began
        audio_seconds += sum(len(a) for a, want in zip(audios, wanted) if want) / 16_000
    return audio_seconds, seconds


def _read_audio(corpus: Corpus, record: dict[str, Any]) -> np.ndarray:
    """The utterance as 16 kHz float32; a zero-length file is an empty array, not an error."""
    from harness.data.audio import audio_duration, load_audio

    path = _audio_path(corpus, record["path"])
    if path is None:
        raise HarnessError(
            "utterance has no audio path; ASR needs audio",
            row=record["id"],
            fix="give every row an audio file, or run without asr= to keep the corpus text",
        )
    if audio_duration(path) == 0:
        return np.zeros(0, dtype=np.float32)
    return load_audio(path, row=record["id"])


def _batch_audio(corpus: Corpus, record: dict[str, Any], wanted: bool, packs: bool) -> np.ndarray:
    """A batch row's audio: read where it is to be transcribed, read as context where the
    back-end packs it with the rows to transcribe, and not read (silence) otherwise."""
    if wanted:
        return _read_audio(corpus, record)
    if packs:
        return _context_audio(corpus, record)
    return np.zeros(0, dtype=np.float32)


def _context_audio(corpus: Corpus, record: dict[str, Any]) -> np.ndarray:
    """A transcribed neighbour's audio, read only as context for a packed window: where it is
    gone or unreadable (its transcript was kept), it is silence, not an error."""
    path = _audio_path(corpus, record["path"])
    if path is None or not path.is_file():
        return np.zeros(0, dtype=np.float32)
    try:
        return _read_audio(corpus, record)
    except HarnessError:
        return np.zeros(0, dtype=np.float32)


def _audio_path(corpus: Corpus, path: Any) -> Path | None:
    """The row's audio file; a relative path is tried against the corpus root too."""
    if path is None or pd.isna(path) or not str(path).strip():
        return None
    resolved = Path(str(path)).expanduser()
    if not resolved.is_absolute() and not resolved.exists() and corpus.root is not None:
        resolved = Path(corpus.root) / resolved
    return resolved


# -- scoring ------------------------------------------------------------------------------------
def reference_texts(manifest: pd.DataFrame) -> pd.Series:
    """The reference transcript per row, NA where the corpus has none.

    Prefers an existing ``text_reference`` column (a corpus that was already transcribed), then
    ``text`` where ``text_source`` is ``reference``; without a ``text_source`` column, any
    ``text`` is taken to be the reference.
    """
    if "text_reference" in manifest.columns:
        return manifest["text_reference"].astype("string")
    text = manifest["text"].astype("string")
    if "text_source" in manifest.columns:
        return text.where(manifest["text_source"].astype("string") == "reference", pd.NA)
    return text


def _score(
    rows: pd.DataFrame, transcripts: dict[str, str], *, english: bool = True
) -> tuple[WERResult | None, dict[str, WERResult]]:
    references = reference_texts(rows)
    scored = rows[references.notna().to_numpy()]
    if scored.empty:
        return None, {}
    refs = references[references.notna()]
    overall = word_error_rate(
        refs.tolist(), [transcripts[i] for i in scored["id"]], english=english
    )
    by_split: dict[str, WERResult] = {}
    for name, group in scored.groupby("split", sort=True, dropna=True):
        by_split[str(name)] = word_error_rate(
            refs.loc[group.index].tolist(), [transcripts[i] for i in group["id"]], english=english
        )
    return overall, by_split
