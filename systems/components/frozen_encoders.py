"""Frozen speech and text encoders whose per-utterance states are cached by content, in safetensors.

Why: when the encoders are frozen, their outputs are a pure function of (audio or text, encoder),
so they are computed once and every later head, ablation or ensemble member trains from the
cache in seconds. Each utterance's states are one file
``<cache>/attnpool/<encoder id>/<key[:2]>/<key>.safetensors`` where the key is the SHA-256 of the
audio file's bytes (plus an augmentation tag for augmented copies) or of the text
(:func:`harness.cache.file_fingerprint`, :func:`harness.cache.text_fingerprint`). States are
stored as float16.

Encoders (all expose ``id``, ``num_layers``, ``dim`` and one ``encode`` call that returns a torch
tensor):

* :class:`SpeechStates`: every transformer layer's frames of one utterance, ``(layers, frames,
  dim)``, from the speech encoders of :mod:`systems.components.speech_encoders` (any transformers
  wav2vec 2.0 / XLS-R / WavLM / HuBERT / w2v-BERT checkpoint, with the input its feature
  extractor expects; or the Whisper tiny.en encoder through CTranslate2, one "layer", in an input
  window that may be shorter than its native 30 s). :func:`speech_states` builds one from the
  system's parameters.
* :class:`HFTextEncoder`: any transformers encoder (RoBERTa, BERT, MiniLM) from a local directory;
  its last hidden state per token. :class:`ScratchTextEncoder`: a random ``RobertaModel`` from a
  config with a UTF-8 byte tokenizer (tests: no vocabulary file needed).

Weights are never downloaded (``local_files_only=True``); a missing checkpoint is one
:class:`~harness.errors.MissingModelError` line naming the parameter to set.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.cache import digest
from harness.errors import HarnessError, first_line

log = logging.getLogger(__name__)

WHISPER_ALIASES = ("whisper-tiny.en", "whisper_tiny_en")
WHISPER_PASS_AS = "speech_backbone="
WHISPER_BUNDLED = "pass speech_backbone=whisper-tiny.en"


# -- speech ----------------------------------------------------------------------------------------
class SpeechStates:
    """One utterance's frames from every transformer layer, ``(layers, frames, dim)`` in torch.

    The embedding output (hidden state 0 of a transformers encoder) is dropped: the attention
    pooling weighs the transformer layers, as the reference weighs XLS-R's 24.
    """

    def __init__(self, encoder, *, num_layers: int, dim: int, skip_embedding: bool) -> None:
        self.encoder = encoder
        self.num_layers = int(num_layers)
        self.dim = int(dim)
        self.skip_embedding = skip_embedding
        self.id = encoder.encoder_id()

    def encode(self, wave: np.ndarray):
        import torch

        frames = self.encoder.frames([np.asarray(wave, dtype=np.float32)])[0]
        return torch.from_numpy(np.ascontiguousarray(frames[1:] if self.skip_embedding else frames))


def speech_states(
    backbone: str | None,
    *,
    scratch: dict | None = None,
    window_seconds: float | None = None,
    seed: int = 0,
    cpu: bool = False,
    num_threads: int | None = None,
) -> SpeechStates:
    """The speech encoder ``speech_backbone`` names: Whisper through CTranslate2 (an alias or a
    CTranslate2 directory), otherwise a transformers checkpoint, or a random one from ``scratch``.
    It runs on the GPU where there is one, unless ``cpu``."""
    encoder = _speech_encoder(backbone, scratch, window_seconds, seed, cpu, num_threads)
    if scratch is None and is_whisper(backbone):
        return SpeechStates(encoder, num_layers=1, dim=encoder.dim(), skip_embedding=False)
    config = encoder.config()
    return SpeechStates(
        encoder,
        num_layers=config.num_hidden_layers,
        dim=config.hidden_size,
        skip_embedding=True,
    )


def _speech_encoder(backbone, scratch, window_seconds, seed, cpu, num_threads):
    from systems.components.speech_encoders import (
        WHISPER_WINDOW_SECONDS,
        TransformersEncoder,
        WhisperEncoder,
    )

    if scratch is None and is_whisper(backbone):
        return WhisperEncoder(
            None if str(backbone).lower() in WHISPER_ALIASES else str(backbone),
            pack_seconds=0,  # one utterance per window: the states are the utterance's alone
            batch_size=1,
            compute_type="default",
            num_threads=int(num_threads or 1),
            window_seconds=window_seconds or WHISPER_WINDOW_SECONDS,
            device="cpu" if cpu else "auto",
            pass_as=WHISPER_PASS_AS,
            bundled=WHISPER_BUNDLED,
        )
    return TransformersEncoder(
        "scratch" if scratch is not None else str(backbone),
        scratch_config=scratch,
        num_threads=num_threads,
        seed=seed,
        device="cpu" if cpu else "auto",
        param="speech_backbone",
    )


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
        self.id = f"{Path(resolved).name}-" + digest(
            [str(resolved), config.to_dict(), self.max_length], 16
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
        self.id = "scratch-text-" + digest([config.to_dict(), seed, self.max_length], 16)

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
        """float16 states for ``key``: from memory, from disk, or computed (and stored).

        ``compute`` runs under :func:`harness.interrupts.deferred_interrupts`: a Ctrl-C that the
        encoder's native code swallowed is raised when it returns, before anything is stored.
        """
        from harness.interrupts import deferred_interrupts

        if key in self.memory:
            return self.memory[key]
        if self.has(key):
            states = self.load(key)
            self.loaded += 1
            if self.keep_in_memory:
                self.memory[key] = states
            return states
        with deferred_interrupts():
            states = compute()
        self.put(key, states)
        self.computed += 1
        return self.load(key)


def encode_all(
    store: FeatureStore, keys: Sequence[str], compute: Callable[[int], Any], description: str
) -> list:
    """States of every row, ``compute(i)`` for the rows the store lacks, with a progress bar over
    those rows on a terminal (a real corpus's encoding takes minutes to hours on a CPU)."""
    from harness.progress import counting

    todo = {key for key in keys if not store.has(key)}
    if todo:  # the bar shows only on a terminal; a log says what the time is spent on
        log.info("%s: %d of %d not cached", description, len(todo), len(set(keys)))
    out = []
    with counting(description, len(todo)) as advance:
        for i, key in enumerate(keys):
            before = store.computed
            out.append(store.get_or_compute(key, lambda i=i: compute(i)))
            advance(store.computed - before)
    return out


def _local_dir(path: str | None, param: str) -> str:
    """An alias's directory, a local directory, or a hub id's snapshot in the local cache;
    nothing is downloaded."""
    from systems.components.local_weights import local_model

    return local_model(path, param)


def check_encoders(
    speech: str | None,
    speech_scratch: dict | None,
    text: str | None,
    text_scratch: dict | None,
    *,
    window_seconds: float | None = None,
) -> None:
    """What the encoders will need, checked without loading any weights (``None``: not used)."""
    from systems.components.model_checks import check_tokenizer, check_weights, read_config

    if speech is not None and speech_scratch is None:
        _speech_encoder(speech, None, window_seconds, 0, True, None).check()
    if text is not None and text_scratch is None:
        path = _local_dir(text, "text_backbone")
        read_config(path, param="text_backbone", what="a text encoder")
        check_tokenizer(path, param="text_backbone")
        check_weights(path, param="text_backbone", what="a text encoder")
