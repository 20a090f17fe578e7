"""Poolings must ignore padding: the same utterance padded two ways gives the same vector."""

from __future__ import annotations

import pytest
import torch

from systems.components.pooling import (
    AttentivePooling,
    AttentiveStatisticsPooling,
    MeanPooling,
    build_pooling,
    masked_mean,
    masked_softmax,
)


def _padded(frames: torch.Tensor, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One utterance (T, D) followed by ``pad`` frames of large junk, with its mask."""
    length, dim = frames.shape
    batch = torch.cat([frames, torch.randn(pad, dim) * 100]).unsqueeze(0)
    mask = torch.cat([torch.ones(length), torch.zeros(pad)]).long().unsqueeze(0)
    return batch, mask


@pytest.mark.parametrize("kind", ["mean", "attentive", "attentive_stats"])
def test_same_utterance_padded_two_ways_pools_the_same(kind: str) -> None:
    torch.manual_seed(0)
    pooling = build_pooling(kind, 16, hidden=8).eval()
    frames = torch.randn(23, 16)
    short = pooling(*_padded(frames, 3))
    long = pooling(*_padded(frames, 40))
    alone = pooling(frames.unsqueeze(0), None)
    assert short.shape == (1, pooling.output_dim)
    torch.testing.assert_close(short, long, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(short, alone, rtol=1e-5, atol=1e-5)


def test_attention_weights_are_zero_on_padding_and_sum_to_one() -> None:
    torch.manual_seed(0)
    pooling = AttentivePooling(8, hidden=4)
    frames = torch.randn(3, 10, 8)
    mask = torch.tensor([[1] * 10, [1] * 4 + [0] * 6, [1] + [0] * 9])
    weights = pooling.weights(frames, mask)
    assert torch.all(weights[mask == 0] == 0)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    torch.testing.assert_close(pooling(frames, mask)[2], frames[2, 0])  # one valid frame: itself


def test_attentive_statistics_pooling_is_weighted_mean_and_std() -> None:
    torch.manual_seed(0)
    pooling = AttentiveStatisticsPooling(4, hidden=4)
    torch.nn.init.zeros_(pooling.score[2].weight)  # constant scores: uniform weights
    frames = torch.randn(1, 50, 4)
    pooled = pooling(frames, None)
    torch.testing.assert_close(pooled[0, :4], frames[0].mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        pooled[0, 4:], frames[0].std(0, unbiased=False), rtol=1e-4, atol=1e-4
    )


def test_all_padding_row_is_finite() -> None:
    frames = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    assert torch.isfinite(masked_softmax(torch.randn(2, 5), mask)).all()
    assert torch.isfinite(masked_mean(frames, mask)).all()
    assert torch.isfinite(AttentiveStatisticsPooling(3, 2)(frames, mask)).all()


def test_mean_pooling_matches_manual_mean() -> None:
    frames = torch.arange(12.0).reshape(1, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0]])
    torch.testing.assert_close(MeanPooling(3)(frames, mask)[0], frames[0, :2].mean(0))


def test_unknown_pooling_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown pooling"):
        build_pooling("max", 4)
