"""Training batches and augmentation for multimodal_attnpool (frozen encoders, cached states).

Why a component: the batch logic is where the feature cache and the augmentation meet, and it is
easier to test and to reason about on its own:

* :class:`OneEffectAugmenter`: the reference's recipe: ONE effect per augmented utterance, drawn
  uniformly from those available: speed perturbation (0.9 or 1.1), reverberation with a room
  impulse response from ``rir_dir``, background noise from ``noise_dir`` at a random SNR. It
  reuses the signal functions of :mod:`systems.components.augment`.
* :class:`TrainCollate`: per item, the clean cached states or one of the cached augmented copies
  (cache on; the crop is then cut from the frames), or a freshly perturbed waveform crop
  re-encoded by the frozen encoder (cache off). Randomness comes from ``(seed, epoch, indices)``
  so that a resumed run sees the same batches.
* :func:`batch_inputs`: padded float32 tensors and masks for the head.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.data.audio import load_audio
from systems.components.attention_fusion import crop_indices, pad_sequences
from systems.components.augment import add_noise, find_audio_files, reverberate, speed_perturb


class OneEffectAugmenter:
    """Speed, reverberation or noise: one of those available, chosen uniformly."""

    def __init__(
        self,
        *,
        speed_factors: Sequence[float],
        noise_dir: str | os.PathLike | None,
        rir_dir: str | os.PathLike | None,
        snr_db: Sequence[float],
    ) -> None:
        self.speed_factors = [float(f) for f in speed_factors]
        self.files = {
            "noise": find_audio_files(noise_dir, "noise", "noise_dir") if noise_dir else [],
            "reverb": (
                find_audio_files(rir_dir, "room impulse response", "rir_dir") if rir_dir else []
            ),
        }
        self.snr_db = (float(snr_db[0]), float(snr_db[1]))
        self.effects = [e for e, files in self.files.items() if files]
        self.effects += ["speed"] if self.speed_factors else []

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.effects:
            return wave
        effect = self.effects[int(rng.integers(len(self.effects)))]
        if effect == "speed":
            return speed_perturb(
                wave, self.speed_factors[int(rng.integers(len(self.speed_factors)))]
            )
        files = self.files[effect]
        other = load_audio(files[int(rng.integers(len(files)))])
        if effect == "reverb":
            return reverberate(wave, other)
        if other.size > wave.size:
            start = int(rng.integers(other.size - wave.size + 1))
            other = other[start : start + wave.size]
        return add_noise(wave, other, float(rng.uniform(*self.snr_db)))


class Indices:
    """A dataset of row indices; the collate function builds the batch."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class TrainCollate:
    """Random crops (repetition-padded) of cached states, or of re-encoded augmented waveforms."""

    def __init__(self, system, params, train, states, targets) -> None:
        self.system, self.params, self.states = system, params, states
        self.targets = targets
        self.epoch = 0
        self.crop_frames = int(round(float(params["crop_seconds"] or 0) / 0.02))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, indices: list[int]) -> dict[str, Any]:
        import torch

        rng = np.random.default_rng([int(self.params["seed"]), self.epoch, *indices])
        batch_states = dict(self.states)
        crops = None
        if "audio_paths" in self.states:
            batch_states["speech"] = {i: self._speech(i, rng) for i in indices}
            crops = {i: self._crop(batch_states, i, rng) for i in indices}
        inputs = batch_inputs(batch_states, indices, crops=crops, device="cpu")
        dtype = torch.long if self.system.task_ == "categorical" else torch.float32
        target = torch.as_tensor(np.stack([self.targets[i] for i in indices]), dtype=dtype)
        return {"inputs": inputs, "target": target}

    def _speech(self, i: int, rng: np.random.Generator):
        """States of one training utterance: clean or an augmented copy (cache on), or a
        freshly augmented and encoded crop (cache off)."""
        s = self.system
        augment = rng.random() < float(self.params["augment_prob"])
        path = self.states["audio_paths"][i]
        if s.feature_cache:
            if augment and int(s.augment_copies) > 0:
                return s.augmented_states(path, int(rng.integers(int(s.augment_copies))))
            return self.states["speech"][i]
        wave = load_audio(path)
        if augment:
            wave = s.augmenter_(wave, rng)
        if self.crop_frames > 0:
            wave = wave[crop_indices(wave.size, self.crop_frames * 320, rng)]
        return s.inputs_.speech.encode(wave)

    def _crop(self, states, i: int, rng: np.random.Generator):
        frames = int(states["speech"][i].shape[1])
        if not self.system.feature_cache or self.crop_frames <= 0:
            return None
        return crop_indices(frames, self.crop_frames, rng)


def batch_inputs(states: dict[str, Any], index, *, crops, device) -> dict[str, Any]:
    """Padded float32 speech ``(B, L, T, D)`` and text ``(B, N, D)`` with their masks."""
    import torch

    inputs: dict[str, Any] = {}
    index = list(index)
    if "speech" in states:
        items = []
        for i in index:
            x = states["speech"][i].float()
            crop = None if crops is None else crops.get(i)
            items.append(x if crop is None else x[:, torch.as_tensor(crop)])
        speech, mask = pad_sequences(items, time_axis=1)
        inputs["speech"], inputs["speech_mask"] = speech.to(device), mask.to(device)
    if "text" in states:
        text, mask = pad_sequences([states["text"][i].float() for i in index], time_axis=0)
        inputs["text"], inputs["text_mask"] = text.to(device), mask.to(device)
    return inputs
