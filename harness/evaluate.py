"""Score every split x variant of a task with ``scoring/``, with bootstrap CIs.

Variants are the same predictions seen different ways (``raw``, ``prior`` corrected, a system's
extra back-ends). Attribute predictions are clipped to the challenge's scale *before* scoring, so
the scores reported are the scores of the file that is submitted.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from harness.data.manifest import ATTRIBUTES, has_labels
from harness.prior import class_prior, correct_frame, describe_target, target_prior
from harness.splits import Splits

log = logging.getLogger("harness")


def run_target(config: dict[str, Any], challenge, splits: Splits, task: str) -> np.ndarray | None:
    """The prior a run corrects categorical posteriors to (``None``: no correction)."""
    if task != "categorical":
        return None
    return target_prior(
        config.get("target_prior", "auto"),
        challenge.classes,
        challenge_prior=splits.eval_prior,
        train_prior=class_prior(splits.train["label"], challenge.classes),
    )


def target_report(config: dict[str, Any], challenge, splits: Splits) -> dict[str, Any]:
    """What metrics.json records about the prior correction: the setting and what it meant."""
    weights = run_target(config, challenge, splits, "categorical")
    return {
        "setting": config.get("target_prior", "auto"),
        "used": describe_target(config.get("target_prior", "auto"), splits.eval_prior),
        "challenge_eval_prior": describe_target(challenge.eval_prior, challenge.eval_prior),
        "weights": None if weights is None else [round(float(w), 6) for w in weights],
    }


def as_submitted(predictions: pd.DataFrame, task: str, challenge) -> pd.DataFrame:
    """What the submission will hold, as Predictions: attributes clipped to the challenge scale."""
    if task != "attributes" or challenge.attribute_range is None:
        return predictions
    low, high = challenge.attribute_range
    clipped = predictions.copy()
    clipped[list(ATTRIBUTES)] = np.clip(clipped[list(ATTRIBUTES)].to_numpy(dtype=float), low, high)
    return clipped


def output_variants(
    predictions: pd.DataFrame,
    task: str,
    challenge,
    *,
    train_prior: np.ndarray | None,
    target: np.ndarray | None,
    absent: tuple[str, ...] = (),
    extra: dict[str, pd.DataFrame] | None = None,
) -> tuple[dict[str, pd.DataFrame], str]:
    """``raw``, ``prior`` (when a target prior applies) and any extra variants; and which one is
    the system's output. Every categorical result is reported both raw and prior corrected."""
    variants = {"raw": predictions}
    main = "raw"
    if task == "categorical" and target is not None and train_prior is not None:
        variants["prior"] = correct_frame(predictions, train_prior, target, absent=absent)
        main = "prior"
    variants.update(extra or {})
    return {name: as_submitted(frame, task, challenge) for name, frame in variants.items()}, main


def score_split(
    predictions: pd.DataFrame, reference: pd.DataFrame, task: str, classes, n_boot: int, seed: int
) -> dict[str, Any]:
    """Metrics and bootstrap CIs of ``predictions`` on the labelled rows of ``reference``."""
    from scoring import attribute_report, bootstrap_ci, ccc, classification_report, macro_f1

    frame = predictions.loc[reference["id"].tolist()]
    ci: dict[str, list[float]] = {}
    if task == "categorical":
        truth = reference["label"].to_numpy(dtype=object)
        predicted = np.asarray(frame.columns)[frame.to_numpy().argmax(axis=1)]
        metrics = classification_report(truth, predicted, labels=list(classes))
        if n_boot:
            ci["macro_f1"] = list(
                bootstrap_ci(
                    lambda t, p: macro_f1(t, p, labels=list(classes)),
                    truth,
                    predicted,
                    n_boot=n_boot,
                    seed=seed,
                )
            )
        return {"metrics": metrics, "ci": ci}
    truth = reference[list(ATTRIBUTES)].to_numpy(dtype=float)
    predicted = frame[list(ATTRIBUTES)].to_numpy(dtype=float)
    metrics = attribute_report(truth, predicted)
    if n_boot:
        ci["ccc_mean"] = list(
            bootstrap_ci(
                lambda t, p: float(np.mean([ccc(p[:, j], t[:, j]) for j in range(t.shape[1])])),
                truth,
                predicted,
                n_boot=n_boot,
                seed=seed,
            )
        )
    return {"metrics": metrics, "ci": ci}


def score_variants(
    variants: dict[str, pd.DataFrame], splits: Splits, task: str, classes, n_boot: int, seed: int
) -> list[dict[str, Any]]:
    """One result row per labelled split x variant."""
    results = []
    for split_name, reference in splits.scored().items():
        if task == "categorical":
            reference = reference[reference["label"].isin(list(classes))]
        if not has_labels(reference, task):
            continue
        for variant, predictions in variants.items():
            scored = score_split(predictions, reference, task, classes, n_boot, seed)
            results.append(
                {
                    "task": task,
                    "split": split_name,
                    "variant": variant,
                    "n": int(len(reference)),
                    **scored,
                }
            )
    return results


def primary_split(challenge, splits: Splits) -> str:
    """The split a task is ranked on: the submission split, else the last evaluation split."""
    if challenge.submission_split in splits.evaluation:
        return challenge.submission_split
    return list(splits.evaluation)[-1] if splits.evaluation else "Dev_bal"
