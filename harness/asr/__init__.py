"""Automatic speech recognition: transcribe every split with one model, then score the text.

Kept import-light: the names below are loaded on first use, so ``import harness.asr`` pulls in
neither pandas nor an ASR library (faster-whisper, NeMo) until something is transcribed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ASRBackend": "harness.asr.base",
    "make_backend": "harness.asr.base",
    "TranscriptionResult": "harness.asr.transcribe",
    "apply_transcripts": "harness.asr.transcribe",
    "transcribe_corpus": "harness.asr.transcribe",
    "WERResult": "harness.asr.wer",
    "normalize": "harness.asr.wer",
    "word_error_rate": "harness.asr.wer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
