"""Save and restore fitted scikit-learn estimators as arrays + JSON, never as pickles.

Pickles execute code when loaded, so a cache or a shared model directory could run anything. The
estimators used by the classic back-ends are fully described by a few arrays and their
constructor parameters, which is all that is stored here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

# estimator class -> the fitted attributes that define it
FITTED = {
    "LogisticRegression": ("coef_", "intercept_", "classes_"),
    "Ridge": ("coef_", "intercept_"),
    "StandardScaler": ("mean_", "scale_", "var_", "n_features_in_"),
    "LinearDiscriminantAnalysis": (
        "scalings_",
        "xbar_",
        "means_",
        "classes_",
        "priors_",
        "explained_variance_ratio_",
        "coef_",
        "intercept_",
    ),
}


def _estimator_class(name: str):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    return {
        "LogisticRegression": LogisticRegression,
        "Ridge": Ridge,
        "StandardScaler": StandardScaler,
        "LinearDiscriminantAnalysis": LinearDiscriminantAnalysis,
    }[name]


def estimator_state(estimator) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON-able description, arrays) for one fitted estimator."""
    kind = type(estimator).__name__
    params = {k: v for k, v in estimator.get_params().items() if _jsonable(v)}
    arrays = {}
    for attribute in FITTED[kind]:
        if hasattr(estimator, attribute):
            value = np.asarray(getattr(estimator, attribute))
            arrays[attribute] = value.astype(str) if value.dtype == object else value
    return {"kind": kind, "params": params}, arrays


def restore_estimator(description: dict[str, Any], arrays: dict[str, np.ndarray]):
    estimator = _estimator_class(description["kind"])(**description["params"])
    for attribute, value in arrays.items():
        if attribute == "n_features_in_":
            value = int(value)
        setattr(estimator, attribute, value)
    return estimator


def save_estimators(
    directory: Path, estimators: dict[str, Any], extra: dict[str, Any] | None = None
) -> None:
    """Write ``estimators`` (name -> fitted estimator) to ``directory/estimators.{json,npz}``."""
    from harness.io import atomic_path, write_json

    directory.mkdir(parents=True, exist_ok=True)
    descriptions, arrays = {}, {}
    for name, estimator in estimators.items():
        descriptions[name], state = estimator_state(estimator)
        arrays.update({f"{name}.{k}": v for k, v in state.items()})
    with atomic_path(directory / "estimators.npz") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    write_json(directory / "estimators.json", {"estimators": descriptions, "extra": extra or {}})


def load_estimators(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = json.loads((directory / "estimators.json").read_text())
    with np.load(directory / "estimators.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    estimators = {}
    for name, description in meta["estimators"].items():
        prefix = f"{name}."
        state = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        estimators[name] = restore_estimator(description, state)
    return estimators, meta["extra"]


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def head_state(system: Any) -> dict[str, Any]:
    """The task, class order and training prior of a fitted system, as JSON, for ``save``."""
    prior = system.class_prior_
    return {
        "task": system.task_,
        "classes": list(system.classes_),
        "class_prior": None if prior is None else [float(p) for p in prior],
    }


def restore_head(system: Any, extra: dict[str, Any]) -> None:
    """Set ``task_``, ``classes_`` and ``class_prior_`` from what :func:`head_state` stored."""
    system.task_, system.classes_ = extra["task"], tuple(extra["classes"])
    prior = extra["class_prior"]
    system.class_prior_ = None if prior is None else np.asarray(prior, dtype=float)
