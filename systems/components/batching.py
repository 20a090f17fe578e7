"""Length-bucketed batching for variable-length inputs (audio samples, frames or text tokens).

Why: a batch costs as much as its longest member times its size. Taking utterances in random
order pads short ones up to the longest; sorting by length first and cutting batches under a
*padded-size* budget (longest x count) keeps padding small and lets short utterances go in big
batches and long ones in small ones, with a bounded peak memory. Predictions do not depend on the
batching because every model downstream masks padding (see :mod:`systems.components.pooling`).

Torch-free: a :class:`BucketBatchSampler` is an iterable of index lists, which is all
``torch.utils.data.DataLoader(batch_sampler=...)`` needs, and text systems can use it for tokens.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def bucket_batches(
    lengths: Sequence[float] | np.ndarray,
    *,
    max_batch_size: int = 64,
    max_padded: float | None = None,
    shuffle: bool = False,
    seed: int = 0,
) -> list[list[int]]:
    """Group indices into batches of similar length.

    ``lengths`` are in any unit (samples, frames, tokens). A batch holds at most ``max_batch_size``
    items and, if ``max_padded`` is given, at most ``max_padded`` units once padded to its longest
    member (an item longer than the budget gets a batch of its own). Without ``shuffle`` the
    batches run from longest to shortest, so the largest allocation happens first and an
    out-of-memory error shows at once rather than at the end. With ``shuffle`` items of equal
    length are taken in random order and the order of the batches is randomised, for training.
    """
    lengths = np.asarray(lengths, dtype=float)
    if max_batch_size < 1:
        raise ValueError("max_batch_size must be at least 1")
    rng = np.random.default_rng(seed)
    tie_break = rng.random(len(lengths)) if shuffle else np.arange(len(lengths))
    order = np.lexsort((tie_break, -lengths))  # longest first
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        full = len(current) >= max_batch_size
        over = max_padded is not None and current and longest * (len(current) + 1) > max_padded
        if current and (full or over):
            batches.append(current)
            current = []
        current.append(int(index))
    if current:
        batches.append(current)
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def padding_fraction(
    lengths: Sequence[float] | np.ndarray, batches: Sequence[Sequence[int]]
) -> float:
    """Share of the padded batch cells that are padding (0 = no waste)."""
    lengths = np.asarray(lengths, dtype=float)
    padded = sum(lengths[list(b)].max() * len(b) for b in batches if len(b))
    real = sum(lengths[list(b)].sum() for b in batches if len(b))
    return 0.0 if padded == 0 else float(1.0 - real / padded)


class BucketBatchSampler:
    """A re-iterable batch sampler over :func:`bucket_batches`; reshuffles every epoch if asked.

    Call :meth:`set_epoch` (as ``DistributedSampler`` users do) to get a different but
    reproducible order per epoch.
    """

    def __init__(
        self,
        lengths: Sequence[float] | np.ndarray,
        *,
        max_batch_size: int = 64,
        max_padded: float | None = None,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=float)
        self.max_batch_size = max_batch_size
        self.max_padded = max_padded
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        return bucket_batches(
            self.lengths,
            max_batch_size=self.max_batch_size,
            max_padded=self.max_padded,
            shuffle=self.shuffle,
            seed=self.seed + self.epoch,
        )

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.batches())
