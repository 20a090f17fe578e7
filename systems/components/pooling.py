"""Poolings from frame sequences (batch, time, dim) to one vector per utterance, honouring padding.

Why masks everywhere: utterances in a batch have different lengths, and padded frames must not
move the pooled vector. Otherwise a prediction would depend on which other utterances share its
batch, and length bucketing, batch size or DDP sharding would change results. Every pooling here
gives the same vector for an utterance however much padding follows it (tested).

* :class:`AttentivePooling` (TalTech Odyssey 2024): a small MLP scores each frame, softmax over
  the valid frames, weighted mean.
* :class:`AttentiveStatisticsPooling` (the Odyssey 2024 baseline; Okabe et al. 2018): the same
  weights give a weighted mean and a weighted standard deviation, concatenated.
* :class:`MeanPooling`: the plain masked mean, for ablations and for text encoders.
"""

from __future__ import annotations

import torch
from torch import nn


def _mask(frames: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A (batch, time) float mask; all ones when none is given."""
    if mask is None:
        return frames.new_ones(frames.shape[:2])
    return mask.to(frames.dtype)


def masked_mean(frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the valid frames of each utterance (an all-padding row gives a zero vector)."""
    weights = _mask(frames, mask)
    total = (frames * weights.unsqueeze(-1)).sum(1)
    return total / weights.sum(1, keepdim=True).clamp(min=1.0)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over time that gives padded frames exactly zero weight.

    Scores of padded frames are set to the dtype's minimum rather than ``-inf`` so that a row with
    no valid frame yields uniform weights instead of NaN.
    """
    if mask is not None:
        scores = scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores.float(), dim=1).to(scores.dtype)
    if mask is not None:
        weights = weights * mask.to(weights.dtype)
        weights = weights / weights.sum(1, keepdim=True).clamp(min=torch.finfo(weights.dtype).tiny)
    return weights


class MeanPooling(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.output_dim = dim

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mean(frames, mask)


class AttentivePooling(nn.Module):
    """Weighted mean with learned frame weights: emotion is carried by a few salient frames."""

    def __init__(self, dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.output_dim = dim

    def weights(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, time) attention weights, zero on padding and summing to one over valid frames."""
        return masked_softmax(self.score(frames).squeeze(-1), mask)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        weights = self.weights(frames, mask)
        return torch.einsum("bt,btd->bd", weights, frames)


class AttentiveStatisticsPooling(AttentivePooling):
    """Weighted mean and standard deviation (2 x dim): spread over time carries arousal cues."""

    def __init__(self, dim: int, hidden: int = 128, eps: float = 1e-5) -> None:
        super().__init__(dim, hidden)
        self.eps = eps
        self.output_dim = 2 * dim

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        weights = self.weights(frames, mask)
        mean = torch.einsum("bt,btd->bd", weights, frames)
        second = torch.einsum("bt,btd->bd", weights, frames * frames)
        std = torch.sqrt((second - mean * mean).clamp(min=self.eps))
        return torch.cat([mean, std], dim=-1)


POOLINGS: dict[str, type[nn.Module]] = {
    "mean": MeanPooling,
    "attentive": AttentivePooling,
    "attentive_stats": AttentiveStatisticsPooling,
}


def build_pooling(kind: str, dim: int, hidden: int = 128) -> nn.Module:
    """A pooling by name; the module's ``output_dim`` says how wide its output is."""
    if kind not in POOLINGS:
        raise ValueError(f"unknown pooling {kind!r}; use one of {', '.join(POOLINGS)}")
    if kind == "mean":
        return MeanPooling(dim)
    return POOLINGS[kind](dim, hidden)
