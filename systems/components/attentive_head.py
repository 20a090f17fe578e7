"""Attentive statistics pooling trained on frozen encoder frames (``audio_embed pooling=attentive_stats``).

Why: mean and standard deviation weigh every frame alike, while emotion often sits in a few
salient stretches (a laugh, a raised syllable). Attentive statistics pooling (Okabe et al. 2018,
the Odyssey 2024 baseline's pooling) learns which frames matter: a small MLP scores each frame,
and the softmax of those scores weights a mean and a standard deviation. The weights need
supervision, so the pooling is trained with a linear head on Train (cross-entropy for classes,
1 - CCC for attributes) and the epoch is chosen on Dev_bal. The encoder stays frozen, so
training reads cached frames and takes seconds to minutes on a CPU.

Training starts from the mean + standard deviation solution: the frame scores start at zero
(uniform weights, so the pooled vector is exactly the mean and standard deviation), and the
linear layer starts as a logistic regression (ridge for attributes) fit on those pooled vectors.
Gradient steps then move the attention only as far as Train supports, and the epoch (the
starting point included) is chosen on Dev_bal. Why: trained from scratch on a few hundred
utterances, the attention and the head overfit together and end far below the plain pooling with
a regularised linear model; warm-started, the attentive option is never worse on Dev_bal than
the statistics it starts from.

Frames and pooled vectors are standardised with Train statistics inside the module (buffers), so
a saved head carries everything it needs to pool new frames. Padding never moves a pooled vector
(masked softmax, see :mod:`systems.components.pooling`), so results do not depend on batching.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from systems.components.pooling import AttentiveStatisticsPooling


class AttentiveStatsHead(nn.Module):
    """Standardise frames, attentive statistics pooling, one linear layer."""

    def __init__(self, dim: int, hidden: int, outputs: int) -> None:
        super().__init__()
        self.register_buffer("frame_mean", torch.zeros(dim))
        self.register_buffer("frame_scale", torch.ones(dim))
        self.pool = AttentiveStatisticsPooling(dim, hidden)
        nn.init.zeros_(self.pool.score[-1].weight)  # uniform weights: mean + std to start
        nn.init.zeros_(self.pool.score[-1].bias)
        self.register_buffer("pooled_mean", torch.zeros(self.pool.output_dim))
        self.register_buffer("pooled_scale", torch.ones(self.pool.output_dim))
        self.out = nn.Linear(self.pool.output_dim, outputs)

    def pooled(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Standardised attentive statistics, ``(batch, 2 * dim)``."""
        frames = (frames.float() - self.frame_mean) / self.frame_scale
        return (self.pool(frames, mask) - self.pooled_mean) / self.pooled_scale

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.pooled(frames, mask))


def frame_statistics(frames: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation over every frame of every utterance
    (float64 running sums, so that a long corpus is not one big array)."""
    total = square = None
    count = 0
    for item in frames:
        x = torch.as_tensor(np.asarray(item), dtype=torch.float64)
        total = x.sum(0) if total is None else total + x.sum(0)
        square = (x * x).sum(0) if square is None else square + (x * x).sum(0)
        count += x.shape[0]
    mean = total / count
    std = torch.sqrt(torch.clamp(square / count - mean * mean, min=1e-12))
    return mean.float(), std.float()


class FrameDataset(torch.utils.data.Dataset):
    """Utterances as frame sequences, read on demand through ``load(i)``, with their targets."""

    def __init__(self, load: Callable[[int], Any], targets: np.ndarray) -> None:
        self.load = load
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        return torch.as_tensor(np.asarray(self.load(i)), dtype=torch.float32), self.targets[i]


def collate_frames(items: list) -> dict[str, torch.Tensor]:
    """Zero-pad to the longest utterance of the batch, with a (batch, time) validity mask."""
    frames = [f for f, _ in items]
    longest = max(f.shape[0] for f in frames)
    batch = torch.zeros(len(frames), longest, frames[0].shape[1])
    mask = torch.zeros(len(frames), longest)
    for j, f in enumerate(frames):
        batch[j, : f.shape[0]] = f
        mask[j, : f.shape[0]] = 1.0
    targets = torch.as_tensor(np.stack([t for _, t in items]))
    return {"frames": batch, "mask": mask, "targets": targets}


def _batches(load: Callable[[int], Any], n: int, batch_size: int):
    """Consecutive padded batches of the first ``n`` utterances (no targets needed)."""
    items = FrameDataset(load, np.zeros(n))
    for start in range(0, n, batch_size):
        yield collate_frames([items[i] for i in range(start, min(n, start + batch_size))])


@torch.inference_mode()
def apply_head(
    head: AttentiveStatsHead, load: Callable[[int], Any], n: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled vectors ``(n, 2 * dim)`` and head outputs ``(n, outputs)`` of ``n`` utterances."""
    head.eval()
    device = head.frame_mean.device
    pooled, outputs = [], []
    for batch in _batches(load, n, batch_size):
        vectors = head.pooled(batch["frames"].to(device), batch["mask"].to(device))
        pooled.append(vectors.float().cpu().numpy())
        outputs.append(head.out(vectors).float().cpu().numpy())
    return np.concatenate(pooled).astype(np.float64), np.concatenate(outputs).astype(np.float64)


def train_head(
    load: Callable[[int], Any],
    targets: np.ndarray,
    *,
    task: str,
    n_classes: int,
    dim: int,
    params: dict[str, Any],
    seed: int,
    linear_start: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    dev: tuple[Callable[[int], Any], np.ndarray] | None = None,
    score: Callable[[np.ndarray, np.ndarray], float] | None = None,
    checkpoint_dir: str | None = None,
    progress: bool = False,
) -> tuple[AttentiveStatsHead, dict[str, Any]]:
    """Train an :class:`AttentiveStatsHead` on ``targets`` (class indices, or ``(n, 3)``
    attributes). ``linear_start(pooled)`` gives the linear layer's starting weight and bias from
    the standardised mean + std vectors. With ``dev`` and ``score(truth, outputs)``, the best
    epoch on Dev_bal is kept, the starting point (epoch 0) included."""
    from systems.components.ccc_loss import one_minus_ccc_loss
    from systems.components.training import TrainConfig, train

    torch.manual_seed(seed)
    outputs = n_classes if task == "categorical" else 3
    head = AttentiveStatsHead(dim, int(params["hidden"]), outputs)
    mean, scale = frame_statistics(load(i) for i in range(len(targets)))
    head.frame_mean.copy_(mean)
    head.frame_scale.copy_(scale)
    if task == "categorical":
        targets = np.asarray(targets, dtype=np.int64)
    else:
        targets = np.asarray(targets, dtype=np.float32)
    batch_size = int(params["batch_size"])
    start, _ = apply_head(head, load, len(targets), batch_size)  # mean + std of each utterance
    centre, spread = start.mean(0), np.maximum(start.std(0), 1e-6)
    head.pooled_mean.copy_(torch.as_tensor(centre, dtype=torch.float32))
    head.pooled_scale.copy_(torch.as_tensor(spread, dtype=torch.float32))
    weight, bias = linear_start((start - centre) / spread)
    with torch.no_grad():
        head.out.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        head.out.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    def loss_fn(model, batch):
        predicted = model(batch["frames"], batch["mask"])
        if task == "categorical":
            return nn.functional.cross_entropy(predicted, batch["targets"])
        return one_minus_ccc_loss(predicted, batch["targets"])

    evaluate = None
    start_score = None
    if dev is not None and score is not None and len(dev[1]):
        dev_load, dev_truth = dev

        def evaluate(model) -> float:
            _, predicted = apply_head(model, dev_load, len(dev_truth), batch_size)
            return float(score(dev_truth, predicted))

        start_score = evaluate(head)
    start_state = {k: v.detach().clone() for k, v in head.state_dict().items()}

    config = TrainConfig(
        epochs=int(params["epochs"]),
        lr=float(params["lr"]),
        weight_decay=float(params["weight_decay"]),
        optimizer="adamw",
        batch_size=batch_size,
        effective_batch=batch_size,
        warmup_fraction=0.1,
        schedule="cosine",
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        bf16=False,  # a few thousand parameters: full precision costs nothing
        cpu=not torch.cuda.is_available(),
        progress=progress,
    )
    history = train(
        head,
        FrameDataset(load, targets),
        collate_frames,
        loss_fn,
        config,
        evaluate=evaluate,
        description="attentive pooling",
    )
    head.to("cpu")  # pooling for the back-ends and saving happen on the CPU
    history["start_dev"] = start_score
    trained = [d for d in history["dev"] if d is not None]
    if start_score is not None and (not trained or max(trained) <= start_score):
        head.load_state_dict(start_state)  # no epoch beat plain mean + std on Dev_bal
        history["best_epoch"] = 0
    head.eval()
    return head, history
