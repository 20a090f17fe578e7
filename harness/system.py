"""The System and FusionSystem contracts, after scikit-learn's estimator contract.

* ``__init__`` only stores its keyword arguments (so a config dict maps 1:1 onto a system, and
  ``get_params`` can record exactly what was run);
* ``fit(train, dev, task=..., classes=...)`` learns and returns ``self``; learned attributes end in
  ``_``; ``dev`` (Dev_bal) is for early stopping and calibration only;
* ``predict(data)`` returns Predictions (see :mod:`harness.data.predictions`);
* ``save(dir)`` / ``load(dir)`` persist a fitted system without pickles.

A fusion is a System too; it additionally names its ``members`` and receives their predictions
from the runner, so that re-running a fusion never retrains a cached member.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.params import Rule


class System:
    name: ClassVar[str] = "system"
    tasks: ClassVar[tuple[str, ...]] = ("categorical", "attributes")
    modalities: ClassVar[tuple[str, ...]] = ()
    """'audio' and/or 'text': what the system reads from the Manifest (for error messages and docs)."""
    cross_fit: ClassVar[bool] = True
    """Whether a stacked fusion may refit this system k times on Train folds for out-of-fold
    predictions (cheap classical systems); neural systems set False, and are stacked on Dev_bal."""

    param_rules: ClassVar[Mapping[str, Rule]] = {}
    """What each parameter accepts (:mod:`harness.params`), checked before any corpus is built.
    Every parameter has one; a test holds the rules, the signature and the YAML in step."""

    # -- sklearn-style parameters ---------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> System:
        unknown = sorted(set(params) - set(cls.param_names()))
        if unknown:
            raise HarnessError(
                f"system {cls.name!r} has no parameter {', '.join(map(repr, unknown))}",
                fix=f"valid parameters: {', '.join(cls.param_names())}",
            )
        return cls(**params)

    # -- the contract ---------------------------------------------------------------------------
    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> System:
        raise NotImplementedError

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def save(self, directory: str | Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, directory: str | Path) -> System:
        raise NotImplementedError

    # -- hooks the runner uses (every one declared here, with a default) -------------------------
    work_dir: Path | None = None
    """Scratch directory for checkpoints and resumable state, set by :meth:`use_workspace`."""
    cache_dir: Path | None = None
    """Root of the harness cache, for content-addressed features, set by :meth:`use_workspace`."""

    def use_workspace(self, *, work_dir: str | Path | None, cache_dir: str | Path | None) -> None:
        """Where to keep checkpoints and cached features. Infrastructure, not a parameter: it is
        never part of ``get_params`` (so it never reaches a cache key or a saved config)."""
        self.work_dir = None if work_dir is None else Path(work_dir)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)

    def predict_with_variants(
        self, data: pd.DataFrame
    ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """The system's output and any extra named variants (other back-ends, the raw network
        softmax) in one pass, so a system with an expensive forward runs it once. The runner
        scores every variant; only the first value is submitted."""
        return self.predict(data), {}

    def training_prior(self) -> np.ndarray | None:
        """Prior (over the scored classes, in their order) that the categorical output was
        trained under, for prior correction. ``None``: the runner uses the Train label frequencies."""
        prior = getattr(self, "class_prior_", None)
        return None if prior is None else np.asarray(prior, dtype=float)

    def check_ready(self) -> None:
        """Raise a one-line HarnessError if fitting would fail for want of something local (model
        weights, an optional extra). Called before any corpus is built or directory made."""

    def report(self) -> dict[str, Any]:
        """Extra facts worth recording in metrics.json (fusion weights, CV scores, ...)."""
        return {}

    # -- helpers shared by implementations ------------------------------------------------------
    def check_task(self, task: str) -> None:
        if task not in self.tasks:
            raise HarnessError(
                f"system {self.name!r} does not support task {task!r}",
                fix=f"use tasks=[{','.join(self.tasks)}]",
            )

    def _save_params(self, directory: Path, extra: dict[str, Any] | None = None) -> None:
        from harness.io import write_json

        directory.mkdir(parents=True, exist_ok=True)
        write_json(
            directory / "system.json",
            {"name": self.name, "params": self.get_params(), **(extra or {})},
        )

    @staticmethod
    def _read_params(directory: Path) -> dict[str, Any]:
        return json.loads((Path(directory) / "system.json").read_text())


class FusionSystem(System):
    """A system whose inputs are other systems' predictions rather than audio or text."""

    members: list[str]

    def fit(  # type: ignore[override]
        self,
        member_predictions: dict[str, pd.DataFrame],
        dev: pd.DataFrame,
        *,
        task: str,
        classes: tuple[str, ...],
        train_member_predictions: dict[str, pd.DataFrame] | None = None,
        train: pd.DataFrame | None = None,
        target_prior: np.ndarray | None = None,
    ) -> FusionSystem:
        """``member_predictions`` are the members' Dev_bal predictions, moved to ``target_prior``
        (the run's target; ``None``: not corrected). When :meth:`cross_fit_folds` asks for them,
        ``train_member_predictions`` holds each member's out-of-fold Train predictions (members
        with ``cross_fit = False`` are absent) and ``train`` the Train rows they belong to.

        After fitting, :meth:`training_prior` must say which prior the fusion's own output is
        under, since the harness moves that output to ``target_prior`` too: an interpolation of
        posteriors already at the target stays at the target, while a classifier fit on labelled
        rows learns those rows' label frequencies. Getting this wrong corrects twice (or not at
        all) whenever the target is not uniform (EmoSpeech's test is drawn like Train) or
        Dev_bal could not be balanced (a class with fewer than N utterances in Development)."""
        raise NotImplementedError

    def cross_fit_folds(self, task: str) -> int | None:
        """How many folds of out-of-fold Train predictions the fusion wants from its members for
        ``task`` (k-fold cross-fitting, as scikit-learn's StackingClassifier); ``None``: none."""
        return None

    def cross_fit_groups(self, task: str) -> str | None:
        """The Train column whose values the cross-fitting folds must not split (one of
        :data:`harness.stacking.GROUPINGS`), or ``None``."""
        return None

    def predict(self, member_predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:  # type: ignore[override]
        raise NotImplementedError


def system_class(name: str) -> type[System]:
    from harness import registry

    return registry.get("systems", name)
