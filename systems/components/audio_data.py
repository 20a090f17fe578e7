"""Feeding utterances to a speech model: audio access, random-chunk training batches, inference.

Why chunks: emotion is assumed constant over an utterance, so a random 2-4 s window of it is a
fresh training example every epoch (cheap augmentation), and batches of similar short chunks cost
far less than whole utterances of up to 12 s. At inference the whole utterance is used.

An utterance shorter than the chunk length is used **whole** (padded in the batch and masked),
never repeated: repetition would create an artificial periodicity at the loop point that a
convolutional front-end can hear, while masking makes padding invisible to the pooling.

Randomness is derived from ``(seed, epoch, utterance indices)`` rather than from a shared global
generator, so chunk positions, speed factors and noise do not depend on the process count, on
data-loader workers or on whether training was resumed from a checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from harness.data.audio import SAMPLE_RATE, audio_duration, load_audio
from harness.errors import HarnessError
from systems.components.augment import speed_perturb
from systems.components.batching import bucket_batches

log = logging.getLogger(__name__)


class AudioSource:
    """Waveforms of a Manifest's rows, kept in memory when the total is small (the demo corpus)."""

    def __init__(self, frame: pd.DataFrame, *, max_cache_hours: float = 2.0) -> None:
        missing = frame["path"].isna()
        if missing.any():
            position = int(np.flatnonzero(missing.to_numpy())[0])
            raise HarnessError(
                f"utterance {frame['id'].iloc[position]!r} has no audio path",
                row=position + 1,
                fix="audio systems need audio; use a text system for text-only corpora",
            )
        self.ids = frame["id"].astype(str).tolist()
        self.paths = frame["path"].astype(str).tolist()
        durations = pd.to_numeric(frame["duration"], errors="coerce").to_numpy(dtype=float)
        for i in np.flatnonzero(~np.isfinite(durations)):
            durations[i] = audio_duration(self.paths[i])
        self.durations = np.nan_to_num(durations, nan=1.0)
        self.cache = float(self.durations.sum()) <= max_cache_hours * 3600
        self._waves: dict[int, np.ndarray] = {}
        self._features: dict[tuple[int, float | None], dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def wave(self, index: int) -> np.ndarray:
        if index in self._waves:
            return self._waves[index]
        wave = load_audio(self.paths[index], row=self.ids[index])
        if self.cache:
            self._waves[index] = wave
        return wave

    def features(
        self, index: int, frontend, max_seconds: float | None = None
    ) -> dict[str, torch.Tensor]:
        """Front-end output of one whole utterance (unbatched), memoised when audio is cached.

        Inference features are deterministic, and Dev_bal is scored after every epoch, so they are
        computed once instead of once per epoch.
        """
        key = (index, max_seconds)
        if key in self._features:
            return self._features[key]
        wave = self.wave(index)
        if max_seconds is not None:
            wave = wave[: int(max_seconds * SAMPLE_RATE)]
        single = {name: value[0] for name, value in frontend([wave]).items()}
        if self.cache:
            self._features[key] = single
        return single


@dataclass
class ChunkConfig:
    """How training batches are cut and perturbed."""

    chunk_seconds: tuple[float, float]
    speed_prob: float
    speed_factors: tuple[float, ...]
    seed: int


class ChunkDataset(torch.utils.data.Dataset):
    """Utterance indices with targets; optionally re-drawn each epoch to balance categories.

    The waveform is cut in :class:`ChunkCollate`, which picks one chunk length per batch (less
    padding than one length per item).
    """

    def __init__(
        self,
        source: AudioSource,
        targets: np.ndarray,
        *,
        balance: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        self.source = source
        self.targets = targets
        self.balance = None if balance is None else np.asarray([str(v) for v in balance])
        self.seed = seed
        self.epoch = 0
        self.order = np.arange(len(targets))

    def set_epoch(self, epoch: int) -> None:
        """Called at each epoch start: new chunk randomness, and a new balanced draw if balancing."""
        self.epoch = epoch
        if self.balance is not None:
            self.order = balanced_draw(
                self.balance, len(self.targets), np.random.default_rng([self.seed, epoch, 7])
            )

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, position: int) -> tuple[int, np.ndarray, np.ndarray]:
        index = int(self.order[position])
        return index, self.source.wave(index), self.targets[index]


def balanced_draw(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` indices with every category equally often (rare ones repeat, frequent ones subsample)."""
    groups = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    per_group = int(np.ceil(size / len(groups)))
    drawn = np.concatenate([rng.choice(g, per_group, replace=len(g) < per_group) for g in groups])
    return rng.permutation(drawn)[:size]


class ChunkCollate:
    """Random chunks -> speed perturbation (on ``speed_prob`` of the batches) -> noise/RIR -> features."""

    def __init__(
        self,
        dataset: ChunkDataset,
        frontend,
        config: ChunkConfig,
        augmenter: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
        target_dtype: torch.dtype = torch.long,
    ) -> None:
        self.dataset = dataset
        self.frontend = frontend
        self.config = config
        self.augmenter = augmenter
        self.target_dtype = target_dtype

    def __call__(self, items: list[tuple[int, np.ndarray, np.ndarray]]) -> dict:
        indices = [index for index, _, _ in items]
        rng = np.random.default_rng([self.config.seed, self.dataset.epoch, *indices])
        length = int(rng.uniform(*self.config.chunk_seconds) * SAMPLE_RATE)
        factor = 1.0
        if self.config.speed_factors and rng.random() < self.config.speed_prob:
            factor = float(rng.choice(self.config.speed_factors))
        waves = []
        for _, wave, _ in items:
            chunk = random_chunk(wave, length, rng)
            chunk = speed_perturb(chunk, factor)
            if self.augmenter is not None:
                chunk = self.augmenter(chunk, rng)
            waves.append(chunk)
        targets = torch.as_tensor(np.stack([t for _, _, t in items]), dtype=self.target_dtype)
        return {"inputs": self.frontend(waves), "target": targets}


def random_chunk(wave: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of ``length`` samples; the whole utterance if it is shorter (no repetition)."""
    if wave.size <= length:
        return wave
    start = int(rng.integers(0, wave.size - length + 1))
    return wave[start : start + length]


def pad_features(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack unbatched front-end outputs, zero-padding the time axis (masks pad with 0)."""
    batch = {}
    for name in items[0]:
        longest = max(item[name].shape[0] for item in items)
        padded = items[0][name].new_zeros((len(items), longest, *items[0][name].shape[1:]))
        for row, item in enumerate(items):
            padded[row, : item[name].shape[0]] = item[name]
        batch[name] = padded
    return batch


@torch.no_grad()
def run_model(
    model: torch.nn.Module,
    frontend,
    source: AudioSource,
    *,
    max_seconds: float | None = None,
    batch_seconds: float = 120.0,
    max_batch_size: int = 32,
    device: torch.device | str = "cpu",
    description: str = "running the model",
    show_progress: bool = True,
) -> dict[str, np.ndarray]:
    """Outputs and embeddings of every utterance (whole, or its first ``max_seconds``), in order.

    Utterances are length-bucketed under a padded budget of ``batch_seconds`` per batch; masking
    makes the result independent of the bucketing. On a terminal, a bar over the utterances (a
    real corpus's Development set is tens of thousands of them).
    """
    from harness.progress import counting

    was_training = model.training
    model.eval()
    durations = (
        source.durations if max_seconds is None else np.minimum(source.durations, max_seconds)
    )
    batches = bucket_batches(durations, max_batch_size=max_batch_size, max_padded=batch_seconds)
    results: dict[str, list] = {"output": [None] * len(source), "embedding": [None] * len(source)}
    with counting(description, len(source), show=show_progress and len(batches) > 1) as advance:
        for batch in batches:
            inputs = {
                k: v.to(device)
                for k, v in pad_features(
                    [source.features(i, frontend, max_seconds) for i in batch]
                ).items()
            }
            out = model(**inputs)
            for key in results:
                values = out[key].float().cpu().numpy()
                for row, index in enumerate(batch):
                    results[key][index] = values[row]
            advance(len(batch))
    model.train(was_training)
    return {
        key: np.stack(values) if values else np.zeros((0, 0), np.float32)
        for key, values in results.items()
    }
