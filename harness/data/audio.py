"""Audio I/O: every waveform a system sees is float32, mono, 16 kHz.

soundfile reads WAV/FLAC/OGG/MP3 (libsndfile >= 1.1) and soxr resamples, so no torchaudio (whose
registry build needs CUDA) and no ffmpeg. A file at another rate is resampled rather than
rejected, because corpora mix rates (MEACorpus ships 44.1/48 kHz mp3); the fact is logged once per
rate so a user who expected 16 kHz notices.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from harness.errors import HarnessError

SAMPLE_RATE = 16_000
log = logging.getLogger(__name__)
_warned_rates: set[int] = set()


def load_audio(
    path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE, row: int | str | None = None
) -> np.ndarray:
    """Read ``path`` as mono float32 at ``sample_rate``, or raise one error naming the file."""
    import soundfile as sf

    path = os.fspath(path)
    if not os.path.exists(path):
        raise HarnessError(
            "audio file not found",
            file=path,
            row=row,
            fix="check the corpus path (corpus_path=...) or remove the row from the labels file",
        )
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or TypeError
        raise HarnessError(
            f"cannot decode audio ({str(exc).splitlines()[0][:120]})",
            file=path,
            row=row,
            fix="re-export the file as 16 kHz WAV or remove it from the corpus",
        ) from None
    audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if audio.size == 0:
        raise HarnessError(
            "audio file is empty", file=path, row=row, fix="re-export the file or remove the row"
        )
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate)
    return np.ascontiguousarray(audio, dtype=np.float32)


def resample(audio: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    import soxr

    if rate not in _warned_rates:
        _warned_rates.add(rate)
        log.info("resampling audio from %d Hz to %d Hz", rate, target)
    return soxr.resample(audio, rate, target).astype(np.float32, copy=False)


def audio_duration(path: str | os.PathLike) -> float:
    """Duration in seconds from the header only (cheap enough for a whole corpus)."""
    import soundfile as sf

    try:
        info = sf.info(os.fspath(path))
    except Exception:
        return float("nan")
    return info.frames / info.samplerate if info.samplerate else float("nan")


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM WAV atomically."""
    import soundfile as sf

    from harness.io import atomic_path

    with atomic_path(path) as tmp:
        sf.write(
            tmp, np.asarray(audio, dtype=np.float32), sample_rate, subtype="PCM_16", format="WAV"
        )
