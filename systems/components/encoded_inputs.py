"""The frozen encoders of the modalities a head reads, each with its content-keyed state store.

Why a class of its own: a system that trains heads over frozen states (``multimodal_attnpool``)
needs, from its encoders, only "the states of these rows" and "the states of augmented copy k of
this utterance". Building the encoders, keying the cache by audio content and augmentation,
counting cache use and showing progress are one job, kept here so the system is left with its
heads, their training and their ensemble.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from systems.components import frozen_encoders as fe

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class EncodedInputs:
    """Speech and/or text encoders with their stores; ``speech_layers``, ``speech_dim`` and
    ``text_dim`` size the head (a missing modality takes the other's width, as the head ignores
    it)."""

    def __init__(
        self,
        modalities: Sequence[str],
        *,
        who: str,
        speech_backbone: str | None,
        speech_scratch: dict | None,
        whisper_window_seconds: float | None,
        text_backbone: str | None,
        text_scratch: dict | None,
        text_max_length: int,
        cache_root: Path | None,
        seed: int,
        cpu: bool,
        num_threads: int | None,
        device: str,
    ) -> None:
        self.who = who
        self.seed = seed
        self.speech: fe.SpeechStates | None = None
        self.text: fe.HFTextEncoder | None = None
        self.speech_store: fe.FeatureStore | None = None
        self.text_store: fe.FeatureStore | None = None
        self._digests: dict[str, str] = {}
        if "audio" in modalities:
            self.speech = fe.speech_states(
                speech_backbone,
                scratch=speech_scratch,
                window_seconds=whisper_window_seconds,
                seed=seed,
                cpu=cpu,
                num_threads=num_threads,
            )
            self.speech_store = fe.FeatureStore(cache_root, self.speech.id)
        if "text" in modalities:
            if text_scratch is not None:
                self.text = fe.ScratchTextEncoder(
                    text_scratch, seed=seed, max_length=text_max_length
                )
            else:
                self.text = fe.HFTextEncoder(
                    text_backbone, max_length=text_max_length, device=device
                )
            self.text_store = fe.FeatureStore(cache_root, self.text.id)
        speech_dim = self.speech.dim if self.speech else None
        text_dim = self.text.dim if self.text else None
        self.speech_layers = self.speech.num_layers if self.speech else 1
        self.speech_dim = speech_dim or text_dim or 1
        self.text_dim = text_dim or self.speech_dim

    # -- keys -------------------------------------------------------------------------------------
    def audio_key(self, path: str, augmentation: Sequence[Any] | None = None) -> str:
        """The audio file's content digest; with ``augmentation`` (copy number and the settings
        that shape it), the digest of both, so a changed setting never reuses a copy."""
        from harness.cache import digest, file_fingerprint

        if path not in self._digests:
            self._digests[path] = file_fingerprint(path)
        content = self._digests[path]
        return content if augmentation is None else digest([content, *augmentation])

    # -- states -----------------------------------------------------------------------------------
    def states(self, frame: pd.DataFrame, *, speech: bool = True) -> dict[str, list]:
        """Whole-utterance states of every row: ``speech`` ``(L, T, D)`` (and the rows'
        ``audio_paths``) and ``text`` ``(N, D)``; ``speech=False`` gives the paths alone."""
        from harness.cache import text_fingerprint
        from harness.data.audio import load_audio
        from systems.components.features import audio_paths, texts

        out: dict[str, list] = {}
        if self.speech is not None:
            paths = audio_paths(
                frame,
                who=self.who,
                fix="modalities=[text] runs without audio; audio needs a corpus with audio files",
            )
            out["audio_paths"] = paths
            if speech:
                out["speech"] = fe.encode_all(
                    self.speech_store,
                    [self.audio_key(p) for p in paths],
                    lambda i: self.speech.encode(load_audio(paths[i])),
                    f"{self.who}: encoding speech",
                )
        if self.text is not None:
            strings, _ = texts(frame, who=self.who)
            out["text"] = fe.encode_all(
                self.text_store,
                [text_fingerprint(s) for s in strings],
                lambda i: self.text.encode(strings[i]),
                f"{self.who}: encoding text",
            )
        return out

    def augmented(self, path: str, copy: int, settings: Sequence[Any], augment: Augment):
        """Cached states of augmented copy ``copy`` of one utterance. ``settings`` are the
        augmentation's parameters (the run's seed first): they key the copy, and the copy's
        random draw depends on the seed, the copy and the audio alone."""
        from harness.data.audio import load_audio

        key = self.audio_key(path, [copy, *settings])

        def compute():
            rng = np.random.default_rng([self.seed, copy, int(self.audio_key(path)[:8], 16)])
            return self.speech.encode(augment(load_audio(path), rng))

        return self.speech_store.get_or_compute(key, compute)

    # -- report -----------------------------------------------------------------------------------
    def ids(self) -> dict[str, str | None]:
        return {
            "speech_encoder": self.speech.id if self.speech else None,
            "text_encoder": self.text.id if self.text else None,
        }

    def cache_use(self) -> dict[str, dict[str, int]]:
        """States computed and read back, per modality (a re-run that computes none reused all)."""
        use = {}
        for name, store in (("speech_cache", self.speech_store), ("text_cache", self.text_store)):
            if store is not None:
                use[name] = {"computed": store.computed, "loaded": store.loaded}
        return use
