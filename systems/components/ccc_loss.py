"""Concordance correlation loss for attribute regression (imports torch; use from neural systems)."""

from __future__ import annotations

import torch


def ccc(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """CCC per column of (batch, k) tensors, population variances as in the challenge scorer."""
    pred_mean, target_mean = pred.mean(0), target.mean(0)
    pred_var = pred.var(0, unbiased=False)
    target_var = target.var(0, unbiased=False)
    cov = ((pred - pred_mean) * (target - target_mean)).mean(0)
    return 2 * cov / (pred_var + target_var + (pred_mean - target_mean) ** 2 + eps)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative mean CCC: the batch-level objective used by the TalTech attribute models.

    CCC is not decomposable over samples, so the batch must be large enough (>= 16) for the
    estimate to mean anything; the loss is still differentiable for any batch of 2 or more.
    """
    return -ccc(pred.float(), target.float()).mean()


def one_minus_ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - mean CCC``: the Odyssey 2024 baseline's form (same gradient, non-negative value)."""
    return 1.0 + ccc_loss(pred, target)
