"""Length-sorted batching and dynamic padding for token sequences."""

from __future__ import annotations

import numpy as np
import pytest

from systems.components.text_batching import (
    BatchedTextDataset,
    first,
    inference_batches,
    pad,
    padding_efficiency,
    position_ids,
    random_batches,
    training_batches,
)

LENGTHS = np.random.default_rng(0).integers(1, 60, size=203)


def _flat(batches) -> list[int]:
    return sorted(int(i) for b in batches for i in b)


def test_inference_batches_are_sorted_longest_first_and_cover_everything():
    batches = inference_batches(LENGTHS, 16)
    assert _flat(batches) == list(range(len(LENGTHS)))
    ordered = np.concatenate([LENGTHS[b] for b in batches])
    assert (np.diff(ordered) <= 0).all()
    assert all(len(b) == 16 for b in batches[:-1]) and 0 < len(batches[-1]) <= 16


def test_training_batches_cover_every_index_once_with_balanced_sizes():
    batches = training_batches(LENGTHS, 16, seed=0)
    assert _flat(batches) == list(range(len(LENGTHS)))
    assert len(batches) == -(-len(LENGTHS) // 16)
    sizes = {len(b) for b in batches}
    assert max(sizes) - min(sizes) <= 1 and min(sizes) > 1  # never a batch of one


def test_training_batches_depend_only_on_seed_and_epoch():
    a = training_batches(LENGTHS, 16, seed=3, epoch=2)
    b = training_batches(LENGTHS, 16, seed=3, epoch=2)
    c = training_batches(LENGTHS, 16, seed=3, epoch=3)
    assert all((x == y).all() for x, y in zip(a, b))
    assert any(len(x) != len(y) or (x != y).any() for x, y in zip(a, c))


def test_length_grouping_pads_far_less_than_random_or_fixed_batches():
    grouped = padding_efficiency(LENGTHS, training_batches(LENGTHS, 16, seed=0))
    shuffled = padding_efficiency(LENGTHS, random_batches(len(LENGTHS), 16, seed=0))
    fixed = padding_efficiency(LENGTHS, random_batches(len(LENGTHS), 16, seed=0), pad_to=128)
    assert grouped > 0.9 > shuffled > fixed
    assert padding_efficiency(LENGTHS, inference_batches(LENGTHS, 16)) > 0.9


def test_small_pool_keeps_batches_random():
    one = training_batches(LENGTHS, 8, seed=0, pool=1)
    # pool=1: each batch is a random draw, only sorted inside itself
    assert padding_efficiency(LENGTHS, one) < 0.8


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_builds_ids_and_mask_on_either_side(side):
    batch = pad([[5, 6, 7], [8], []], pad_id=0, side=side)
    ids, mask = batch["input_ids"].tolist(), batch["attention_mask"].tolist()
    if side == "right":
        assert ids == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
        assert mask == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    else:
        assert ids == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
        assert mask == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_pad_to_a_fixed_length_and_reject_bad_arguments():
    batch = pad([[1, 2]], pad_id=9, pad_to=4)
    assert batch["input_ids"].tolist() == [[1, 2, 9, 9]]
    with pytest.raises(ValueError, match="shorter"):
        pad([[1, 2, 3]], pad_id=0, pad_to=2)
    with pytest.raises(ValueError, match="padding side"):
        pad([[1]], pad_id=0, side="middle")
    with pytest.raises(ValueError, match="batch size"):
        inference_batches([1, 2], 0)


def test_position_ids_count_real_tokens_only():
    left = pad([[5, 6, 7], [8]], pad_id=0, side="left")
    right = pad([[5, 6, 7], [8]], pad_id=0, side="right")
    assert position_ids(left["attention_mask"]).tolist() == [[0, 1, 2], [0, 0, 0]]
    assert position_ids(right["attention_mask"]).tolist() == [[0, 1, 2], [0, 0, 0]]
    # the real tokens get the same positions whichever side pads
    assert position_ids(left["attention_mask"])[1, 2] == position_ids(right["attention_mask"])[1, 0]


def test_batched_dataset_yields_padded_batches_and_redraws_per_epoch():
    import torch

    sequences = [[1] * int(n) for n in LENGTHS[:50]]
    targets = np.arange(50)
    dataset = BatchedTextDataset(sequences, targets, batch_size=8, pad_id=0, seed=1)
    assert len(dataset) == 7
    seen = []
    for i in range(len(dataset)):
        batch = first([dataset[i]])
        assert batch["input_ids"].shape == batch["attention_mask"].shape
        assert batch["input_ids"].shape[1] == int(batch["attention_mask"].sum(1).max())
        assert batch["labels"].dtype == torch.long
        seen.extend(batch["labels"].tolist())
    assert sorted(seen) == list(range(50))
    before = [b.copy() for b in dataset.batches]
    dataset.set_epoch(1)
    assert len(dataset) == 7
    assert any(len(x) != len(y) or (x != y).any() for x, y in zip(before, dataset.batches))

    floats = BatchedTextDataset(sequences, np.zeros((50, 3), np.float32), batch_size=8, pad_id=0)
    assert floats[0]["labels"].dtype == torch.float32
    with pytest.raises(ValueError):
        first([dataset[0], dataset[1]])
    with pytest.raises(ValueError):
        BatchedTextDataset(sequences, targets[:3], batch_size=8, pad_id=0)
