"""Length-sorted batches with dynamic padding for token sequences.

Why: transcripts are short and their lengths vary a lot (MSP-Podcast: 1 to ~100 words). Padding
every sequence to the model's maximum length (512) wastes most of the compute on pad tokens, and
even padding to the longest sequence of a *random* batch wastes a good share. Grouping texts of
similar length into one batch and padding only to that batch's longest sequence keeps nearly every
processed token a real one (see ``benchmarks/bench_text_tokens.py`` for the measured gain).

* Inference: sort by length, cut into contiguous batches, restore the original order afterwards.
* Training: keep batches random but length-homogeneous, like ``group_by_length`` in the HF
  Trainer: shuffle, cut the shuffled order into pools of ``pool`` batches, sort each pool by
  length, and cut it into batches. The batch order is then shuffled by the caller's loader. The
  result depends only on ``(seed, epoch)``, so a resumed run rebuilds the same batches.

The index helpers are pure numpy; only :func:`pad` and :class:`BatchedTextDataset` build torch
tensors, and they import torch themselves, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PADDING_SIDES: tuple[str, ...] = ("right", "left")


def inference_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices sorted by length (longest first), cut into batches of at most ``batch_size``.

    Longest first so that an out-of-memory error, if any, happens on the first batch rather than
    after most of the work is done.
    """
    _check_batch_size(batch_size)
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def training_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int = 0, pool: int = 50
) -> list[np.ndarray]:
    """Random, length-grouped batches that cover every index exactly once.

    The number of batches is ``ceil(n / batch_size)`` whatever the seed, and sizes differ by at
    most one, so no batch is left with a single example (a batch-level loss such as CCC is
    meaningless on one sample). ``pool`` trades randomness (small) for less padding (large).
    """
    _check_batch_size(batch_size)
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return []
    rng = np.random.default_rng([int(seed), int(epoch)])
    order = rng.permutation(n)
    pool_size = max(1, pool) * batch_size
    grouped = [
        chunk[np.argsort(-lengths[chunk], kind="stable")]
        for chunk in (order[i : i + pool_size] for i in range(0, n, pool_size))
    ]
    n_batches = -(-n // batch_size)
    return list(np.array_split(np.concatenate(grouped), n_batches))


def random_batches(n: int, batch_size: int, *, seed: int) -> list[np.ndarray]:
    """Plain shuffled batches (the naive baseline the benchmark compares against)."""
    _check_batch_size(batch_size)
    order = np.random.default_rng(seed).permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def padding_efficiency(
    lengths: Sequence[int], batches: Sequence[np.ndarray], pad_to: int | None = None
) -> float:
    """Real tokens / processed tokens over ``batches`` (1.0 means no padding at all)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    real = sum(int(lengths[b].sum()) for b in batches)
    processed = sum(len(b) * (pad_to or int(lengths[b].max())) for b in batches if len(b))
    return real / processed if processed else 1.0


def pad(
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    *,
    side: str = "right",
    pad_to: int | None = None,
) -> dict[str, Any]:
    """``input_ids`` and ``attention_mask`` tensors, padded to the longest sequence (or ``pad_to``).

    ``side="left"`` puts pads before the text; decoder models then need :func:`position_ids` so
    that the first real token still gets position 0.
    """
    import torch

    if side not in PADDING_SIDES:
        raise ValueError(f"padding side must be one of {PADDING_SIDES}, got {side!r}")
    width = max((len(s) for s in sequences), default=0)
    if pad_to is not None:
        if pad_to < width:
            raise ValueError(f"pad_to={pad_to} is shorter than the longest sequence ({width})")
        width = pad_to
    input_ids = torch.full((len(sequences), width), int(pad_id), dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        n = len(sequence)
        if n == 0:
            continue
        columns = slice(0, n) if side == "right" else slice(width - n, width)
        input_ids[row, columns] = torch.as_tensor(list(sequence), dtype=torch.long)
        attention_mask[row, columns] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def position_ids(attention_mask):
    """Positions counted over real tokens only (0 for the first real token, also under left pads)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class BatchedTextDataset:
    """A map-style dataset whose items are whole, already padded, length-grouped batches.

    Why items are batches: the shared training loop builds a plain ``DataLoader(shuffle=True)``.
    Handing it one pre-formed batch per item (loader batch size 1, ``collate=first``) gives
    length-grouped dynamic padding without a custom sampler, and the loader still shuffles the
    batch order and shards it across processes. ``set_epoch`` (called by accelerate's loader and
    by the loop's ``on_epoch_start``) re-draws the batch composition for each epoch.
    """

    def __init__(
        self,
        sequences: Sequence[Sequence[int]],
        targets: np.ndarray,
        *,
        batch_size: int,
        pad_id: int,
        side: str = "right",
        seed: int = 0,
        pool: int = 50,
    ) -> None:
        if len(sequences) != len(targets):
            raise ValueError(f"{len(sequences)} sequences but {len(targets)} targets")
        self.sequences = [list(s) for s in sequences]
        self.targets = np.asarray(targets)
        self.lengths = np.array([len(s) for s in self.sequences], dtype=np.int64)
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.side = side
        self.seed = seed
        self.pool = pool
        self.epoch = -1
        self.batches: list[np.ndarray] = []
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch = epoch
            self.batches = training_batches(
                self.lengths, self.batch_size, seed=self.seed, epoch=epoch, pool=self.pool
            )

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        rows = self.batches[index]
        batch = pad([self.sequences[i] for i in rows], self.pad_id, side=self.side)
        labels = self.targets[rows]
        dtype = torch.long if np.issubdtype(labels.dtype, np.integer) else torch.float32
        batch["labels"] = torch.as_tensor(labels, dtype=dtype)
        return batch


def first(items: list[Any]) -> Any:
    """Collate for :class:`BatchedTextDataset`: the loader's 'batch' of one item is that item."""
    if len(items) != 1:
        raise ValueError("BatchedTextDataset needs a loader batch size of 1")
    return items[0]


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
