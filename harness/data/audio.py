"""Audio I/O: every waveform a system sees is float32, mono, 16 kHz.

soundfile reads WAV/FLAC/OGG/MP3 (libsndfile >= 1.1) and soxr resamples, so no torchaudio (whose
registry build needs CUDA) and no ffmpeg. A file at another rate is resampled rather than
rejected, because corpora mix rates (MEACorpus ships 44.1/48 kHz mp3); the fact is logged once per
rate, with the first file, so a user who expected 16 kHz notices.

Bad input is never passed on silently: float samples that are NaN or infinite are an error naming
the file (a model would compute on them and return garbage); a WAV whose data chunk is cut short
(the header promises more than the file holds) is read as far as it goes, with a warning naming
the file, since the audio present is usable; multi-channel files are averaged to mono, logged
once per process with the first file, and a file that this averaging turns (nearly) silent, as an
antiphase stereo recording, is warned about by name. :func:`audio_report` counts all of these.
"""

from __future__ import annotations

import logging
import os
import struct

import numpy as np

from harness.errors import HarnessError

SAMPLE_RATE = 16_000
log = logging.getLogger(__name__)
_warned_rates: set[int] = set()
_MAX_LISTED = 10
"""Truncated or cancelled-out files warned about by name; beyond that they are only counted."""
_report: dict = {"multichannel": 0, "first_multichannel": None, "truncated": 0, "cancelled": 0}


def audio_report() -> dict:
    """What the loader changed or doubted since :func:`reset_audio_report` (or process start):
    counts of multi-channel files averaged to mono (and the first), truncated WAVs, and files the
    averaging made nearly silent."""
    return dict(_report)


def reset_audio_report() -> None:
    _report.update(multichannel=0, first_multichannel=None, truncated=0, cancelled=0)
    _warned_rates.clear()


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
            fix=_decode_fix(path),
        ) from None
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise HarnessError(
            f"audio has {bad} NaN or infinite samples",
            file=path,
            row=row,
            fix="re-export the file as 16-bit PCM WAV (clean the float samples) or remove its row",
        )
    _check_wav_length(path)
    audio = _to_mono(audio, path)
    if audio.size == 0:
        raise HarnessError(
            "audio file is empty", file=path, row=row, fix="re-export the file or remove the row"
        )
    if rate != sample_rate:
        audio = resample(audio, rate, sample_rate, source=path)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _decode_fix(path: str) -> str:
    import soundfile as sf

    version = tuple(int(v) for v in sf.__libsndfile_version__.split(".")[:2] if v.isdigit())
    if path.lower().endswith(".mp3") and version < (1, 1):
        return (
            f"MP3 needs libsndfile >= 1.1 (this soundfile has {sf.__libsndfile_version__}): "
            "pip install -U soundfile, or convert the files to WAV"
        )
    return "re-export the file as 16 kHz WAV or remove it from the corpus"


def _to_mono(audio: np.ndarray, path: str) -> np.ndarray:
    """Average the channels; say so once, and name any file the average cancels out."""
    if audio.shape[1] == 1:
        return audio[:, 0]
    mono = audio.mean(axis=1)
    _report["multichannel"] += 1
    if _report["first_multichannel"] is None:
        _report["first_multichannel"] = path
        log.warning(
            "multi-channel audio is averaged to mono (first: %s, %d channels); "
            "audio_report() counts such files",
            path,
            audio.shape[1],
        )
    channel_rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if channel_rms > 1e-4 and float(np.sqrt(np.mean(mono.astype(np.float64) ** 2))) < (
        0.1 * channel_rms
    ):
        _report["cancelled"] += 1
        if _report["cancelled"] <= _MAX_LISTED:
            log.warning(
                "%s: its channels cancel out when averaged to mono (antiphase?); the mono signal "
                "is at least 20 dB quieter than the channels",
                path,
            )
    return mono


def _check_wav_length(path: str) -> None:
    """Warn when a WAV's data chunk holds fewer bytes than its header declares."""
    shortfall = wav_data_shortfall(path)
    if shortfall is None:
        return
    declared, present = shortfall
    _report["truncated"] += 1
    if _report["truncated"] <= _MAX_LISTED:
        log.warning(
            "%s: WAV data chunk is cut short (header declares %d bytes, file holds %d, %.0f%%); "
            "reading the audio that is there",
            path,
            declared,
            present,
            100 * present / declared,
        )


def wav_data_shortfall(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of a RIFF/WAVE file's data chunk when fewer are present,
    else None (not a WAV, complete, or a streamed header of unknown length)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = os.fstat(handle.fileno()).st_size
            position = 12
            while position + 8 <= size:
                handle.seek(position)
                chunk, length = struct.unpack("<4sI", handle.read(8))
                if chunk == b"data":
                    present = size - position - 8
                    unknown = length in (0, 0xFFFFFFFF)
                    return None if unknown or present >= length else (length, present)
                position += 8 + length + (length & 1)
    except OSError:
        return None
    return None


def resample(
    audio: np.ndarray, rate: int, target: int = SAMPLE_RATE, source: str | None = None
) -> np.ndarray:
    """``audio`` at ``target`` Hz; the first file at each other rate is named in the log, so that
    one odd file in a 16 kHz corpus can be found."""
    import soxr

    if rate not in _warned_rates:
        _warned_rates.add(rate)
        first = f" (first: {source})" if source else ""
        log.info("resampling audio from %d Hz to %d Hz%s", rate, target, first)
    return soxr.resample(audio, rate, target).astype(np.float32, copy=False)


def file_stamp(path: str | os.PathLike | None) -> str | None:
    """``"<size> <mtime_ns>"`` of a file, None when it cannot be read: a file rewritten in place
    gets a new stamp, at the cost of a stat rather than reading the bytes."""
    if path is None:
        return None
    try:
        info = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return f"{info.st_size} {info.st_mtime_ns}"


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
