"""Training pieces of a speech emotion system: one chunked training stage, augmentation set-up,
parameter choices and class weights.

Why a component: a stage (random chunks of each utterance, speed perturbation, optional noise and
reverberation, then the shared training loop) is the same for any system that fine-tunes a speech
encoder; only the model, targets and loss change. torch is imported inside functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.errors import HarnessError

log = logging.getLogger(__name__)
_warned_no_augmentation: set[str] = set()


def check_choice(param: str, value: Any, allowed: Sequence[str]) -> None:
    """One clear line for a parameter outside its allowed values."""
    if value not in allowed:
        raise HarnessError(f"unknown {param} {value!r}", fix=f"use {' or '.join(allowed)}")


def make_augmenter(noise_dir, rir_dir, *, prob: float, snr_db: Sequence[float], who: str):
    """Noise/RIR augmenter, or None; says once per process (and system) when there is none. A
    wrong directory fails here, before any work."""
    from systems.components.augment import Augmenter

    augmenter = Augmenter(noise_dir, rir_dir, noise_prob=prob, rir_prob=prob, snr_db=tuple(snr_db))
    if augmenter.active or who not in _warned_no_augmentation:
        log.info("%s: %s", who, augmenter.describe())
        _warned_no_augmentation.add(who)
    return augmenter if augmenter.active else None


def inverse_frequency_weights(targets: np.ndarray, n_outputs: int) -> np.ndarray:
    """The Odyssey baseline's class weights N / (K * count): every class weighs the same."""
    counts = np.bincount(targets, minlength=n_outputs).astype(float)
    return np.where(counts > 0, counts.sum() / (n_outputs * np.maximum(counts, 1)), 0.0)


def train_on_chunks(
    model,
    source,
    targets: np.ndarray,
    loss_fn: Callable,
    evaluate: Callable | None,
    *,
    frontend,
    augmenter,
    chunk_seconds: Sequence[float],
    speed_prob: float,
    speed_factors: Sequence[float],
    config,
    seed: int,
    balance: np.ndarray | None,
    target_dtype,
    description: str,
) -> dict[str, Any]:
    """One training stage on random chunks; returns the history's summary."""
    from systems.components.audio_data import ChunkCollate, ChunkConfig, ChunkDataset
    from systems.components.training import train

    dataset = ChunkDataset(source, targets, balance=balance, seed=seed)
    chunking = ChunkConfig(
        chunk_seconds=(float(chunk_seconds[0]), float(chunk_seconds[1])),
        speed_prob=speed_prob,
        speed_factors=tuple(speed_factors),
        seed=seed,
    )
    collate = ChunkCollate(dataset, frontend, chunking, augmenter, target_dtype=target_dtype)
    history = train(
        model,
        dataset,
        collate,
        loss_fn,
        config,
        evaluate=evaluate,
        on_epoch_start=dataset.set_epoch,
        description=description,
    )
    keys = ("loss", "dev", "best_epoch", "steps", "num_processes", "accumulation_steps")
    return {key: history[key] for key in keys}


def training_rows(train, task: str, classes: Sequence[str], *, extra_classes: bool, who: str):
    """Rows with a usable reference; other codes (O/X) are kept only as extra training classes."""
    from harness.data.manifest import ATTRIBUTES

    if task == "categorical":
        keep = train["label"].notna()
        if not extra_classes:
            keep &= train["label"].isin(classes)
    else:
        keep = train[list(ATTRIBUTES)].notna().all(axis=1)
    rows = train[keep].reset_index(drop=True)
    if len(rows) < 2:
        raise HarnessError(
            f"{who} needs labelled training utterances for {task}; found {len(rows)}"
        )
    return rows


def output_codes(train, task: str, classes: Sequence[str]) -> tuple[str, ...]:
    """The network's outputs: A/V/D, or the scored classes then any extra training codes."""
    from harness.data.manifest import ATTRIBUTES

    if task == "attributes":
        return ATTRIBUTES
    extra = sorted(set(train["label"].astype(str)) - set(classes))
    return (*classes, *extra)


def scored_softmax(
    logits: np.ndarray, n_scored: int, *, from_prior: np.ndarray | None = None
) -> np.ndarray:
    """Softmax over the first ``n_scored`` outputs (extra classes dropped, renormalised); moved
    from ``from_prior`` to a uniform prior when given."""
    from harness.prior import correct

    scored = logits[:, :n_scored].astype(np.float64)
    scored = np.exp(scored - scored.max(axis=1, keepdims=True))
    scored /= scored.sum(axis=1, keepdims=True)
    if from_prior is not None:
        scored = correct(scored, from_prior, np.full(n_scored, 1.0 / n_scored))
    return scored
