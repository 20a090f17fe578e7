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
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from harness.errors import HarnessError


class System:
    name: ClassVar[str] = "system"
    tasks: ClassVar[tuple[str, ...]] = ("categorical", "attributes")
    modalities: ClassVar[tuple[str, ...]] = ()
    """'audio' and/or 'text': what the system reads from the Manifest (for error messages and docs)."""

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

    # -- helpers shared by implementations ------------------------------------------------------
    def check_task(self, task: str) -> None:
        if task not in self.tasks:
            raise HarnessError(
                f"system {self.name!r} does not support task {task!r}",
                fix=f"use tasks=[{','.join(self.tasks)}]",
            )

    def report(self) -> dict[str, Any]:
        """Extra facts worth recording in metrics.json (fusion weights, CV scores, ...)."""
        return {}

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
    ) -> FusionSystem:
        raise NotImplementedError

    def predict(self, member_predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:  # type: ignore[override]
        raise NotImplementedError


def system_class(name: str) -> type[System]:
    from harness import registry

    return registry.get("systems", name)
