"""Prior correction: move posteriors from the training prior to a target prior.

A classifier trained on neutral-dominant data (MSP-Podcast Train) under-predicts rare classes on a
balanced test set (Test3). Bayes' rule gives the fix without retraining:
``p'(y|x) ∝ p(y|x) * target(y) / train(y)``. For a logistic regression this is just a shift of the
bias by ``log target - log train``, which is what :func:`bias_shift` returns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

_EPS = 1e-12


def class_prior(
    labels: Sequence[str] | pd.Series, classes: Sequence[str], smoothing: float = 1.0
) -> np.ndarray:
    """Relative frequency of each scored class (add-``smoothing`` so an absent class stays finite)."""
    labels = pd.Series(labels).dropna()
    counts = labels.value_counts().reindex(list(classes), fill_value=0).to_numpy(dtype=float)
    counts += smoothing
    return counts / counts.sum()


def target_prior(
    kind: str | Sequence[float] | None,
    classes: Sequence[str],
    *,
    challenge_prior: str | Sequence[float] = "uniform",
    train_prior: np.ndarray | None = None,
) -> np.ndarray | None:
    """Resolve a ``target_prior`` value to weights over ``classes`` (``None``: no correction).

    ``auto`` is the challenge's evaluation prior; ``uniform`` a balanced test set; ``train`` the
    training distribution (a test set drawn like Train); a list gives explicit weights.
    """
    if kind is None or (isinstance(kind, str) and kind.lower() in ("none", "off", "false")):
        return None
    if isinstance(kind, str) and kind.lower() == "auto":
        return target_prior(challenge_prior, classes, train_prior=train_prior)
    if isinstance(kind, str):
        if kind.lower() == "uniform":
            return np.full(len(classes), 1.0 / len(classes))
        if kind.lower() == "train":
            if train_prior is None:
                raise ValueError("target_prior=train needs the training prior")
            weights = np.asarray(train_prior, dtype=float)
            return weights / weights.sum()
        raise ValueError(
            f"unknown target prior {kind!r}; use 'auto', 'uniform', 'train', 'none' or weights"
        )
    weights = np.asarray(kind, dtype=float)
    if weights.shape != (len(classes),) or (weights <= 0).any():
        raise ValueError(f"target prior needs {len(classes)} positive weights, got {list(kind)}")
    return weights / weights.sum()


def describe_target(kind: str | Sequence[float] | None, challenge_prior) -> str:
    """Which prior a setting resolves to, in words, for metrics.json."""
    if isinstance(kind, str) and kind.lower() == "auto":
        return f"auto -> {describe_target(challenge_prior, challenge_prior)}"
    if kind is None or (isinstance(kind, str) and kind.lower() in ("none", "off", "false")):
        return "none"
    return kind if isinstance(kind, str) else "weights " + ",".join(f"{float(w):g}" for w in kind)


def bias_shift(train: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Additive shift of log-posteriors (or logits) that realises the correction."""
    return np.log(np.asarray(target, float) + _EPS) - np.log(np.asarray(train, float) + _EPS)


def correct(
    posteriors: np.ndarray,
    train: np.ndarray,
    target: np.ndarray,
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """Apply ``p'(y|x) ∝ p(y|x) * target(y) / train(y)`` row-wise.

    ``keep`` (a boolean mask over classes) marks the classes the correction applies to; the
    others keep their posterior unchanged (ratio 1). A class that Train never saw has no
    meaningful training prior: dividing by its smoothed, near-zero prior would send every
    prediction to it, so the caller leaves it out.
    """
    posteriors = np.asarray(posteriors, dtype=float)
    ratio = np.asarray(target, float) / (np.asarray(train, float) + _EPS)
    if keep is not None:
        ratio = np.where(np.asarray(keep, dtype=bool), ratio, 1.0)
    weighted = posteriors * ratio
    return weighted / weighted.sum(axis=1, keepdims=True)


def correct_frame(
    predictions: pd.DataFrame,
    train: np.ndarray,
    target: np.ndarray,
    absent: Sequence[str] = (),
) -> pd.DataFrame:
    """:func:`correct` for a Predictions frame (columns are the classes, in the prior's order);
    classes in ``absent`` (no training utterance) are left out of the correction."""
    keep = None
    if absent:
        keep = np.array([c not in set(absent) for c in predictions.columns])
    return pd.DataFrame(
        correct(predictions.to_numpy(), train, target, keep),
        index=predictions.index,
        columns=predictions.columns,
    )


def absent_classes(labels: Sequence[str] | pd.Series, classes: Sequence[str]) -> tuple[str, ...]:
    """Scored classes with no training utterance (left out of prior correction, with a warning)."""
    seen = set(pd.Series(labels).dropna().astype(str))
    return tuple(c for c in classes if c not in seen)
