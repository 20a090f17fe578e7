"""Posterior fusion, as in the TalTech Odyssey 2024 entry.

Both fusions are fit on Dev_bal only, from the members' (prior-corrected) predictions:

* ``fusion_interp``: a convex combination of member posteriors; the weights are grid-searched over
  [0, 1] in steps of 0.05 for the best Dev_bal macro-F1. Few parameters, hard to overfit.
* ``fusion_lr``: a multinomial logistic regression (L2, C=1.0) on the concatenated member
  log-posteriors. It can learn per-class trust in each modality; it also learns Dev_bal's label
  frequencies (uniform where Development had N utterances of every class), which the harness
  then moves to the target prior like a member's. It reports a cross-validated Dev_bal macro-F1, so that
  overfitting a small Dev_bal shows up next to the test score. With ``stacking=oof`` it is
  instead a stacked ensemble as scikit-learn's ``StackingClassifier`` builds one: trained on the
  members' out-of-fold Train posteriors (:mod:`harness.stacking`), with Dev_bal only choosing its
  ``C``; both Dev_bal scores are reported, and which way was used.

For attributes both use one interpolation weight per attribute (chosen by Dev_bal CCC): the paper
found text best for valence and audio best for arousal, and the weights show it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError
from harness.params import choice, integer, items, number, optional
from harness.stacking import GROUPINGS
from harness.system import FusionSystem
from systems.components.params import store_params

_EPS = 1e-6
STEP = number(gt=0, le=1)
"""A weight-grid step: the grid has round(1/step) ticks per member."""


def weight_grid(n_members: int, step: float) -> np.ndarray:
    """All weight vectors on the simplex with the given step (for two members: w, 1-w)."""
    ticks = int(round(1 / step))
    combos = [
        c for c in itertools.product(range(ticks + 1), repeat=n_members - 1) if sum(c) <= ticks
    ]
    return np.array([[*c, ticks - sum(c)] for c in combos], dtype=float) / ticks


def _best(scores: np.ndarray, grid: np.ndarray) -> int:
    """Best score; ties go to the most even weights (the least committal choice)."""
    top = np.flatnonzero(scores >= scores.max() - 1e-12)
    spread = np.abs(grid[top] - 1 / grid.shape[1]).sum(axis=1)
    return int(top[np.argmin(spread)])


class _Fusion(FusionSystem):
    tasks = ("categorical", "attributes")

    def _stack(
        self, member_predictions: dict[str, pd.DataFrame]
    ) -> tuple[pd.Index, list[np.ndarray]]:
        """The shared ids (the first member's order) and each member's values in that order."""
        missing = [m for m in self.members_ if m not in member_predictions]
        if missing:
            raise HarnessError(f"fusion is missing member predictions for {missing}")
        ids = member_predictions[self.members_[0]].index
        frames = []
        for member in self.members_:
            frame = member_predictions[member]
            if not frame.index.equals(ids):
                frame = frame.loc[ids]
            frames.append(frame.to_numpy(dtype=float))
        return ids, frames

    def _fit_attributes(self, ids, inputs: list[np.ndarray], dev: pd.DataFrame) -> None:
        from scoring import ccc

        truth = dev.set_index("id").loc[ids, list(ATTRIBUTES)].to_numpy(dtype=float)
        grid = weight_grid(len(inputs), self.step)
        stacked = np.stack(inputs)  # (members, n, 3)
        self.attribute_weights_ = {}
        for j, attribute in enumerate(ATTRIBUTES):
            scores = np.array(
                [ccc(np.tensordot(w, stacked[:, :, j], axes=1), truth[:, j]) for w in grid]
            )
            best = _best(scores, grid)
            self.attribute_weights_[attribute] = dict(
                zip(self.members_, grid[best].round(4).tolist())
            )
            self.dev_scores_[f"ccc_{attribute}"] = float(scores[best])
        self.class_prior_ = None

    def _predict_attributes(self, inputs: list[np.ndarray]) -> np.ndarray:
        stacked = np.stack(inputs)
        out = np.zeros(stacked.shape[1:])
        for j, attribute in enumerate(ATTRIBUTES):
            weights = np.array([self.attribute_weights_[attribute][m] for m in self.members_])
            out[:, j] = np.tensordot(weights, stacked[:, :, j], axes=1)
        return out

    def predict(self, member_predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:  # type: ignore[override]
        ids, inputs = self._stack(member_predictions)
        if self.task_ == "attributes":
            return P.attributes(list(ids), self._predict_attributes(inputs))
        return P.categorical(list(ids), self._predict_categorical(inputs), self.classes_)

    def _begin(
        self, member_predictions: dict[str, pd.DataFrame], task: str, classes
    ) -> tuple[pd.Index, list[np.ndarray]]:
        self.check_task(task)
        self.task_, self.classes_ = task, tuple(classes)
        self.members_ = list(member_predictions)
        self.dev_scores_: dict[str, float] = {}
        return self._stack(member_predictions)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dev_bal": self.dev_scores_}
        if self.task_ == "attributes":
            out["attribute_weights"] = self.attribute_weights_
        return out

    def save(self, directory: str | Path) -> None:
        self._save_params(Path(directory), {"state": self._state()})

    def _state(self) -> dict[str, Any]:
        prior = getattr(self, "class_prior_", None)
        return {
            "task": self.task_,
            "classes": list(self.classes_),
            "members": self.members_,
            "attribute_weights": getattr(self, "attribute_weights_", None),
            "class_prior": None if prior is None else [float(p) for p in prior],
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.task_, self.classes_, self.members_ = (
            state["task"],
            tuple(state["classes"]),
            state["members"],
        )
        self.attribute_weights_ = state.get("attribute_weights")
        prior = state.get("class_prior")
        self.class_prior_ = None if prior is None else np.asarray(prior, dtype=float)
        self.dev_scores_ = {}


class FusionInterp(_Fusion):
    name = "fusion_interp"

    param_rules = {"step": STEP}

    def __init__(self, *, step: float) -> None:
        store_params(self, locals())

    def fit(self, member_predictions, dev, *, task, classes, target_prior=None) -> FusionInterp:  # type: ignore[override]
        """Weights by Dev_bal macro-F1. A convex combination of posteriors that are all at
        ``target_prior`` is at that prior too, so that is its training prior (uniform without
        one): the harness's correction of the output is then the identity, not a second one."""
        from harness.prior import target_prior as target_prior_weights
        from scoring import macro_f1

        ids, inputs = self._begin(member_predictions, task, classes)
        if task == "attributes":
            self._fit_attributes(ids, inputs, dev)
            return self
        truth = dev.set_index("id").loc[ids, "label"].to_numpy(dtype=object)
        grid = weight_grid(len(inputs), self.step)
        stacked = np.stack(inputs)
        labels = np.asarray(self.classes_)
        scores = np.array(
            [
                macro_f1(
                    truth, labels[np.tensordot(w, stacked, axes=1).argmax(1)], labels=list(labels)
                )
                for w in grid
            ]
        )
        best = _best(scores, grid)
        self.weights_ = dict(zip(self.members_, grid[best].round(4).tolist()))
        self.dev_scores_["macro_f1"] = float(scores[best])
        self.class_prior_ = target_prior_weights(
            "uniform" if target_prior is None else list(target_prior), self.classes_
        )
        return self

    def _predict_categorical(self, inputs: list[np.ndarray]) -> np.ndarray:
        weights = np.array([self.weights_[m] for m in self.members_])
        return np.tensordot(weights, np.stack(inputs), axes=1)

    def report(self) -> dict[str, Any]:
        out = super().report()
        if self.task_ == "categorical":
            out["weights"] = self.weights_
        return out

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "weights": getattr(self, "weights_", None)}

    @classmethod
    def load(cls, directory: str | Path) -> FusionInterp:
        meta = cls._read_params(Path(directory))
        system = cls(**meta["params"])
        system._restore(meta["state"])
        system.weights_ = meta["state"]["weights"]
        return system


class FusionLR(_Fusion):
    name = "fusion_lr"
    param_rules = {
        "C": number(gt=0),
        "step": STEP,
        "cv_folds": integer(ge=0),  # below 2: no cross-validated Dev_bal score
        "stacking": choice("devbal", "oof"),
        "stacking_folds": integer(ge=2),
        "stacking_groups": optional(choice(*GROUPINGS)),
        "stacking_C": items(number(gt=0)),
        "seed": optional(integer(ge=0)),
    }

    def __init__(
        self,
        *,
        C: float,
        step: float,
        cv_folds: int,
        stacking: str,
        stacking_folds: int,
        stacking_groups: str,
        stacking_C: list[float],
        seed: int,
    ) -> None:
        store_params(self, locals())

    def cross_fit_folds(self, task: str) -> int | None:
        """Out-of-fold Train predictions are the meta-learner's data with ``stacking=oof``."""
        return (
            int(self.stacking_folds) if task == "categorical" and self.stacking == "oof" else None
        )

    def cross_fit_groups(self, task: str) -> str | None:
        """Speaker-grouped folds by default: the test speakers are new to every member."""
        return self.stacking_groups

    @staticmethod
    def _features(inputs: list[np.ndarray]) -> np.ndarray:
        return np.hstack([np.log(np.clip(x, _EPS, 1.0)) for x in inputs])

    def _model(self, C: float | None = None):
        from sklearn.linear_model import LogisticRegression

        C = self.C if C is None else C
        return LogisticRegression(C=C, max_iter=5000, random_state=self.seed)

    def fit(  # type: ignore[override]
        self,
        member_predictions,
        dev,
        *,
        task,
        classes,
        train_member_predictions: dict[str, pd.DataFrame] | None = None,
        train: pd.DataFrame | None = None,
        target_prior: np.ndarray | None = None,
    ) -> FusionLR:
        """Fit on Dev_bal (``stacking=devbal``), or with ``stacking=oof`` on the members'
        out-of-fold Train predictions (``train_member_predictions``, labels from ``train``), with
        Dev_bal choosing ``C`` from ``stacking_C`` by the macro-F1 of its output moved to
        ``target_prior``, as it is submitted. Without out-of-fold predictions for every member
        (a member that opts out of cross-fitting), it falls back to Dev_bal."""
        self.check_ready()
        ids, inputs = self._begin(member_predictions, task, classes)
        self.stacking_used_, self.stacking_C_, self.stacking_fallback_ = "devbal", None, ""
        if task == "attributes":
            self._fit_attributes(ids, inputs, dev)
            return self
        self._fit_devbal(ids, inputs, dev)
        missing = [m for m in self.members_ if m not in (train_member_predictions or {})]
        if self.stacking == "oof" and not missing and train is not None:
            self._fit_oof(train_member_predictions, train, ids, inputs, dev, target_prior)
        elif self.stacking == "oof":
            why = f"for {', '.join(missing)}" if missing else "(no Train labels given)"
            self.stacking_fallback_ = f"no out-of-fold Train predictions {why}: fit on Dev_bal"
        return self

    def _fit_oof(
        self, train_member_predictions, train, dev_ids, dev_inputs, dev, target_prior
    ) -> None:
        """Meta-learner on out-of-fold Train posteriors; ``C`` chosen by the Dev_bal macro-F1 of
        the output as submitted: moved from Train's label prior (which the meta-learner learns)
        to the target. Scoring the uncorrected output instead would choose ``C`` for a decision
        rule that is never submitted."""
        from harness.prior import class_prior, correct
        from scoring import macro_f1
        from systems.text_tfidf import _aligned_proba

        train_ids, train_inputs = self._stack(train_member_predictions)
        labels = train.set_index("id").loc[train_ids, "label"].astype("string")
        keep = labels.isin(list(self.classes_)).to_numpy()
        features = self._features(train_inputs)[keep]
        truth = labels.to_numpy(dtype=str)[keep]
        dev_features = self._features(dev_inputs)
        dev_truth = dev.set_index("id").loc[dev_ids, "label"].to_numpy(dtype=str)
        # Trained on Train's label distribution: the harness moves it to the target prior.
        prior = class_prior(truth, self.classes_)
        names = np.asarray(self.classes_)
        best = None
        for C in self.stacking_C:
            model = self._model(float(C)).fit(features, truth)
            posteriors = _aligned_proba(model, dev_features, self.classes_)
            if target_prior is not None:
                posteriors = correct(posteriors, prior, target_prior)
            predicted = names[posteriors.argmax(axis=1)]
            score = float(macro_f1(dev_truth, predicted, labels=list(self.classes_)))
            if best is None or score > best[0] + 1e-12:
                best = (score, float(C), model)
        score, self.stacking_C_, self.model_ = best
        self.dev_scores_["macro_f1_oof"] = score
        self.stacking_used_ = "oof"
        self.n_stacking_train_ = int(keep.sum())
        self.class_prior_ = prior

    def _fit_devbal(self, ids, inputs, dev) -> None:
        """The paper's fusion: LR on Dev_bal, with its cross-validated Dev_bal score beside."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        from harness.prior import class_prior
        from scoring import macro_f1

        features = self._features(inputs)
        truth = dev.set_index("id").loc[ids, "label"].to_numpy(dtype=str)
        self.model_ = self._model().fit(features, truth)
        counts = pd.Series(truth).value_counts()
        folds = int(min(self.cv_folds, counts.min()))
        if folds >= 2:
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
            cv_pred = cross_val_predict(self._model(), features, truth, cv=splitter)
            self.dev_scores_["macro_f1_cv"] = float(
                macro_f1(truth, cv_pred, labels=list(self.classes_))
            )
        self.dev_scores_["macro_f1_fit"] = float(
            macro_f1(truth, self.model_.predict(features), labels=list(self.classes_))
        )
        # The regression learns Dev_bal's label frequencies, which are uniform only where every
        # class had N utterances in Development; the harness moves its output from them.
        self.class_prior_ = class_prior(truth, self.classes_)

    def report(self) -> dict[str, Any]:
        out = super().report()
        out["stacking"] = getattr(self, "stacking_used_", "devbal")
        if getattr(self, "stacking_C_", None) is not None:
            out["stacking_C"] = self.stacking_C_
            out["stacking_train_rows"] = self.n_stacking_train_
        if getattr(self, "stacking_fallback_", ""):
            out["stacking_fallback"] = self.stacking_fallback_
        return out

    def _state(self) -> dict[str, Any]:
        return {
            **super()._state(),
            "stacking_used": getattr(self, "stacking_used_", "devbal"),
            "stacking_C": getattr(self, "stacking_C_", None),
        }

    def _predict_categorical(self, inputs: list[np.ndarray]) -> np.ndarray:
        from systems.text_tfidf import _aligned_proba

        return _aligned_proba(self.model_, self._features(inputs), self.classes_)

    def save(self, directory: str | Path) -> None:
        from systems.components.sk_state import save_estimators

        super().save(directory)
        if self.task_ == "categorical":
            save_estimators(Path(directory), {"model": self.model_})

    @classmethod
    def load(cls, directory: str | Path) -> FusionLR:
        from systems.components.sk_state import load_estimators

        meta = cls._read_params(Path(directory))
        system = cls(**meta["params"])
        system._restore(meta["state"])
        system.stacking_used_ = meta["state"].get("stacking_used", "devbal")
        system.stacking_C_ = meta["state"].get("stacking_C")
        if system.task_ == "categorical":
            system.model_ = load_estimators(Path(directory))[0]["model"]
        return system
