"""Out-of-fold member predictions on Train, the training set of a stacked fusion.

Why: a fusion's meta-learner fit on Dev_bal alone overfits a small Dev_bal (its cross-validated
Dev_bal score falls far below its fit score). The standard remedy, scikit-learn's
``StackingClassifier``, is k-fold cross-fitting: Train is split into ``folds`` parts, each member
is refit on all parts but one and predicts the part it did not see, so every Train row gets a
prediction from a model that never saw it. Those out-of-fold posteriors are as honest as
predictions on unseen data, and there are as many of them as Train rows, so the meta-learner can
be trained on them; Dev_bal then only chooses its regularisation strength.

Folds are stratified by label for categorical tasks (rows without a scored label, such as O and
X, are spread over the folds like a class of their own), plain shuffled folds for attributes;
both are seeded. With ``groups="speaker"`` a speaker's rows all fall in one fold
(scikit-learn's ``StratifiedGroupKFold`` / ``GroupKFold``): the test sets of both challenges have
speakers Train has not, and a member that has heard a speaker's other utterances gives that
speaker's held-out rows posteriors more confident than it will on test, so an audio member
would look better to the meta-learner than it is. Rows without a known speaker (missing, or
MSP-Podcast's ``Unknown``) are groups of one. Where the speakers cannot fill every fold, or a
grouped fold would leave a scored class out of a fold model's training rows, the folds are not
grouped, and :func:`fold_assignment` says so.

Each fold's predictions can be moved to a ``target`` prior from that fold model's own training
prior, exactly as the harness corrects a member's Dev_bal and test predictions, so that the
fusion sees Train and Dev_bal inputs on the same footing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.system import System

GROUPINGS = ("speaker", "none")
"""What ``stacking_groups`` may be: the Train column whose values never straddle two folds."""

_UNKNOWN_SPEAKERS = {"", "unknown", "<na>", "nan", "none"}


def check_grouping(groups: str | None) -> None:
    """One error line for a ``stacking_groups`` that is not one of :data:`GROUPINGS`."""
    if groups is not None and groups not in GROUPINGS:
        raise HarnessError(
            f"stacking_groups={groups!r} is not known",
            fix="pass stacking_groups=speaker or stacking_groups=none",
        )


def _group_ids(
    train: pd.DataFrame, groups: str | None, folds: int
) -> tuple[np.ndarray | None, str]:
    """One group id per row (unknown speakers are groups of one), or None and the reason."""
    check_grouping(groups)
    if groups in (None, "none"):
        return None, "not grouped (stacking_groups=none)"
    if groups not in train.columns:
        return None, f"not grouped (Train has no {groups} column)"
    values = train[groups].astype("string").fillna("").str.strip().to_numpy(dtype=str)
    unknown = np.isin(np.char.lower(values), list(_UNKNOWN_SPEAKERS))
    known = sorted(set(values[~unknown]))
    if not known:
        return None, f"not grouped (no Train row has a {groups})"
    if len(known) < folds:
        return None, f"not grouped ({len(known)} known {groups}s for {folds} folds)"
    ids = np.where(unknown, [f"<row {i}>" for i in range(len(values))], values)
    return ids, f"by {groups}"


def fold_assignment(
    train: pd.DataFrame,
    *,
    task: str,
    classes: Sequence[str],
    folds: int,
    seed: int,
    groups: str | None = None,
) -> tuple[np.ndarray, str]:
    """Fold number (0 .. folds-1) of every Train row, in row order, and how the folds were made:
    ``by speaker``, or why they are not grouped."""
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(train)
    if folds < 2 or folds > n:
        raise HarnessError(
            f"out-of-fold stacking needs 2 <= folds <= Train rows, got folds={folds} for {n} rows",
            fix="pass stacking_folds=5 (or stacking=devbal)",
        )
    group_ids, how = _group_ids(train, groups, folds)
    strata = None
    if task == "categorical":
        strata = train["label"].astype("string").fillna("<none>").to_numpy(dtype=str)
        strata = np.where(np.isin(strata, list(classes)), strata, "<unscored>")
    if group_ids is not None:
        grouped = _grouped(strata, group_ids, folds, seed)
        if strata is not None and not _every_fold_trains_every_class(grouped, strata, classes):
            how = f"not grouped (a {groups}-grouped fold would train without a class)"
        else:
            return grouped, how
    assignment = np.full(n, -1, dtype=int)
    if strata is not None:
        smallest = pd.Series(strata).value_counts().min()
        if smallest >= folds:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            parts = splitter.split(np.zeros(n), strata)
        else:  # a class rarer than the fold count cannot be stratified: deal it round-robin
            parts = _dealt(strata, folds, seed)
    else:
        parts = KFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(n))
    for k, (_fit, held_out) in enumerate(parts):
        assignment[held_out] = k
    return assignment, how


def _grouped(strata: np.ndarray | None, group_ids: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Folds that keep each group whole (stratified by label where there are labels)."""
    import warnings

    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    n = len(group_ids)
    assignment = np.full(n, -1, dtype=int)
    if strata is None:
        splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        parts = splitter.split(np.zeros(n), groups=group_ids)
    else:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # a class rarer than the folds is spread as it can be
            warnings.simplefilter("ignore", UserWarning)
            parts = list(splitter.split(np.zeros(n), strata, groups=group_ids))
    for k, (_fit, held_out) in enumerate(parts):
        assignment[held_out] = k
    return assignment


def _every_fold_trains_every_class(
    assignment: np.ndarray, strata: np.ndarray, classes: Sequence[str]
) -> bool:
    present = set(strata) & set(classes)
    return all(present <= set(strata[assignment != k]) for k in range(assignment.max() + 1))


def _dealt(strata: np.ndarray, folds: int, seed: int):
    """Stratified folds by dealing each stratum's shuffled rows round-robin over the folds."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(strata), dtype=int)
    offset = 0
    for value in sorted(set(strata)):
        rows = rng.permutation(np.flatnonzero(strata == value))
        assignment[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)
    for k in range(folds):
        yield np.flatnonzero(assignment != k), np.flatnonzero(assignment == k)


def out_of_fold_predictions(
    make_system: Callable[[], System],
    train: pd.DataFrame,
    *,
    task: str,
    classes: Sequence[str],
    folds: int,
    seed: int,
    dev: pd.DataFrame | None = None,
    target: Sequence[float] | np.ndarray | None = None,
    groups: str | None = None,
) -> pd.DataFrame:
    """Predictions for every Train row by a model fit on the other folds, indexed by id.

    ``make_system()`` returns a fresh, unfitted system (with its workspace set) for each fold.
    ``dev`` is what each fold model gets as its Dev_bal (pass the run's Dev_bal, which is disjoint
    from Train); without it a fold model gets its own training rows, so no held-out label reaches
    it. With ``target`` (categorical), each fold's posteriors are moved from that fold model's
    training prior to ``target``. ``groups`` is passed to :func:`fold_assignment`.
    """
    from harness.prior import class_prior, correct_frame

    classes = tuple(classes)
    train = train.reset_index(drop=True)
    if train["id"].duplicated().any():
        raise HarnessError("out-of-fold stacking needs unique Train ids")
    assignment, _how = fold_assignment(
        train, task=task, classes=classes, folds=folds, seed=seed, groups=groups
    )
    pieces = []
    for k in range(folds):
        fit_rows, held_out = train[assignment != k], train[assignment == k]
        system = make_system()
        system.fit(fit_rows, fit_rows if dev is None else dev, task=task, classes=classes)
        predicted = system.predict(held_out)
        if task == "categorical" and target is not None:
            prior = system.training_prior()
            if prior is None:
                prior = class_prior(fit_rows["label"], classes)
            predicted = correct_frame(predicted, np.asarray(prior), np.asarray(target, float))
        pieces.append(predicted)
    out = pd.concat(pieces)
    return out.loc[train["id"].tolist()]
