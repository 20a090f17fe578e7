"""Model inputs from waveforms: w2v-BERT filterbanks and normalised raw waveforms, batched in torch.

Why not call ``SeamlessM4TFeatureExtractor`` directly: it computes Kaldi filterbanks frame by frame
in a Python loop (about 45 ms per 3 s utterance on this CPU), which would dominate on-the-fly
training on random chunks. :class:`FbankFeatures` computes the same features (same Povey window,
DC removal, pre-emphasis, mel filters taken from the extractor itself, per-bin normalisation with
``ddof=1`` and stacking of two frames to 160 dims) vectorised in torch; a test checks it against
the extractor.

Both front-ends take a list of 1-D float32 waveforms at 16 kHz and return the keyword arguments
of the backbone's ``forward`` plus a frame mask of the padded batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from harness.data.audio import SAMPLE_RATE

FRAME_LENGTH = 400  # 25 ms
HOP_LENGTH = 160  # 10 ms
FFT_LENGTH = 512
MIN_SAMPLES = FRAME_LENGTH + 3 * HOP_LENGTH
"""Shortest waveform fed to a model (40 ms): shorter input is zero-padded to this length so that
the filterbank has at least two stacked frames and per-bin variances (``ddof=1``) are defined."""


def pad_min_length(wave: np.ndarray, minimum: int = MIN_SAMPLES) -> np.ndarray:
    """Zero-pad a too-short waveform at the end (a 10 ms file must not crash the front-end)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size < minimum:
        wave = np.pad(wave, (0, minimum - wave.size))
    return wave


@lru_cache(maxsize=1)
def _mel_and_window() -> tuple[torch.Tensor, torch.Tensor]:
    """The extractor's own mel matrix (257 x 80) and Povey window, so the features match exactly."""
    from transformers.audio_utils import mel_filter_bank, window_function

    mel = mel_filter_bank(
        num_frequency_bins=FFT_LENGTH // 2 + 1,
        num_mel_filters=80,
        min_frequency=20,
        max_frequency=SAMPLE_RATE // 2,
        sampling_rate=SAMPLE_RATE,
        norm=None,
        mel_scale="kaldi",
        triangularize_in_mel_space=True,
    )
    window = window_function(FRAME_LENGTH, "povey", periodic=False)
    return torch.from_numpy(np.asarray(mel, np.float32)), torch.from_numpy(
        np.asarray(window, np.float32)
    )


def log_mel_fbank(wave: torch.Tensor) -> torch.Tensor:
    """Kaldi-style 80-bin log-mel filterbank of one waveform, shape (frames, 80)."""
    mel, window = _mel_and_window()
    frames = (wave * 32768.0).unfold(0, FRAME_LENGTH, HOP_LENGTH)  # Kaldi scale: 16-bit integers
    frames = frames - frames.mean(dim=1, keepdim=True)
    emphasised = torch.cat(
        [frames[:, :1] * (1 - 0.97), frames[:, 1:] - 0.97 * frames[:, :-1]], dim=1
    )
    spectrum = torch.view_as_real(torch.fft.rfft(emphasised * window, n=FFT_LENGTH)).pow(2).sum(-1)
    return torch.clamp(spectrum @ mel, min=1.192092955078125e-07).log()


class FbankFeatures:
    """``SeamlessM4TFeatureExtractor`` in torch: 80 log-mel bins, normalised, stacked to 160 dims."""

    stride = 2
    input_name = "input_features"
    frames_per_second = SAMPLE_RATE / HOP_LENGTH / 2

    def __call__(self, waves: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        feats = [self.single(w) for w in waves]
        longest = max(f.shape[0] for f in feats)
        batch = torch.zeros(len(feats), longest, 80 * self.stride)
        mask = torch.zeros(len(feats), longest, dtype=torch.long)
        for i, f in enumerate(feats):
            batch[i, : f.shape[0]] = f
            mask[i, : f.shape[0]] = 1
        return {"input_features": batch, "attention_mask": mask}

    def single(self, wave: np.ndarray) -> torch.Tensor:
        """Features of one utterance, shape (frames // 2, 160)."""
        fbank = log_mel_fbank(torch.from_numpy(pad_min_length(wave)))
        fbank = (fbank - fbank.mean(0, keepdim=True)) / torch.sqrt(
            fbank.var(0, keepdim=True) + 1e-7
        )
        usable = fbank.shape[0] - fbank.shape[0] % self.stride
        return fbank[:usable].reshape(usable // self.stride, 80 * self.stride)

    def num_frames(self, num_samples: int) -> int:
        """Model frames for a waveform of ``num_samples`` (for bucketing and padded-fraction stats)."""
        num_samples = max(num_samples, MIN_SAMPLES)
        return (1 + (num_samples - FRAME_LENGTH) // HOP_LENGTH) // self.stride


class WaveformFeatures:
    """Raw waveform input (WavLM, wav2vec 2.0, HuBERT), as the checkpoint was pretrained to read it.

    ``normalize=True`` scales each utterance to zero mean and unit variance, which is what
    ``Wav2Vec2FeatureExtractor(do_normalize=True)`` does (XLS-R, wav2vec 2.0 large, WavLM large).
    The base models of WavLM and HuBERT were pretrained on unnormalised waveforms and say
    ``do_normalize: false``; normalising their input would feed them a signal they never saw.
    """

    input_name = "input_values"
    frames_per_second = 50.0

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def __call__(self, waves: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        waves = [pad_min_length(w) for w in waves]
        longest = max(w.size for w in waves)
        batch = torch.zeros(len(waves), longest)
        mask = torch.zeros(len(waves), longest, dtype=torch.long)
        for i, w in enumerate(waves):
            x = torch.from_numpy(w)
            if self.normalize:
                x = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
            batch[i, : x.numel()] = x
            mask[i, : x.numel()] = 1
        return {"input_values": batch, "attention_mask": mask}

    def num_frames(self, num_samples: int) -> int:
        return max(num_samples, MIN_SAMPLES) // 320


def frontend_for(model_type: str, normalize: bool = True) -> FbankFeatures | WaveformFeatures:
    """w2v-BERT reads filterbanks (always normalised per bin); the wav2vec2 family (WavLM, HuBERT,
    XLS-R) reads the waveform, normalised when the checkpoint's feature extractor says so."""
    if model_type == "wav2vec2-bert":
        return FbankFeatures()
    return WaveformFeatures(normalize)


def reads_normalised(path: str | os.PathLike | None) -> bool:
    """The checkpoint's ``do_normalize`` (``preprocessor_config.json``); True when it has none,
    as ``Wav2Vec2FeatureExtractor`` defaults, and for random encoders built from a config."""
    if path is None:
        return True
    config = Path(path) / "preprocessor_config.json"
    if not config.is_file():
        return True
    try:
        return bool(json.loads(config.read_text()).get("do_normalize", True))
    except (OSError, ValueError):
        return True
