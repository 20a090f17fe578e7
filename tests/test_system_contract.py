"""Every registered system keeps the estimator contract, in the spirit of scikit-learn's
``check_estimator``. A new system gets these checks by being registered.

For each system and task, with its ``tiny`` profile where its YAML has one (else the paper
values) on a tiny demo corpus:

* ``__init__`` only stores: constructing does no work and sets exactly the parameter attributes;
* ``get_params`` round-trips through ``from_params``;
* ``fit`` returns ``self``, leaves the parameters as they were, and every attribute it adds
  ends in ``_``;
* predictions have the declared columns (the classes, or arousal/valence/dominance), one row per
  input id; categorical rows are non-negative and sum to 1; ``predict_with_variants`` returns
  the same output; ``training_prior`` is ``None`` or a distribution over the classes;
* ``save`` / ``load`` give identical predictions, and nothing saved is a pickle.

Fusions receive member prediction frames built synthetically. A system whose optional extra or
weights are missing here is skipped with the reason.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness import registry
from harness.data.manifest import ATTRIBUTES
from harness.errors import MissingDependencyError, MissingModelError
from harness.system import FusionSystem
from systems.components.params import yaml_params

CLASSES = ("A", "S", "H", "U", "F", "D", "C", "N")
WORKSPACE = ("work_dir", "cache_dir")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
PICKLE_MAGIC = (b"\x80\x04", b"\x80\x05")
SLOW_ON_A_CPU = 30.0
"""Seconds a system's fit+predict+save+load may take before the test asks to be marked slow."""

SLOW_SYSTEMS = {
    "audio_egemaps": "openSMILE on every utterance: ~18 s a task",
    "text_llm": "loads MiniLM and fine-tunes it: ~8 s a task",
    "text_roberta": "loads MiniLM and fine-tunes it: ~8 s a task",
    "audio_embed": "a frozen speech encoder: 6-21 s a task",
    "multimodal_attnpool": "frozen text and speech encoders: ~10 s a task",
}
"""Measured on the 2-core CPU machine (pytest --durations); these run with the slow tests.
Every other registered system, including a new one, runs in the default selection."""

CASES = [
    pytest.param(
        name,
        task,
        id=f"{name}-{task}",
        marks=[pytest.mark.slow] if name in SLOW_SYSTEMS else [],
    )
    for name in registry.names("systems")
    for task in ("categorical", "attributes")
]


# -- set-up -----------------------------------------------------------------------------------
def _system_class(name: str):
    try:
        return registry.get("systems", name)
    except ImportError as error:
        pytest.skip(f"{name}: cannot import ({error})")


def _params(name: str, cls) -> dict[str, Any]:
    from harness.config import system_defaults

    profiles = system_defaults(name).get("profiles") or {}
    params = yaml_params(name, "tiny" if "tiny" in profiles else None)
    if "seed" in cls.param_names():
        params["seed"] = 0
    return params


@pytest.fixture(scope="module")
def splits(demo_corpus_small) -> dict[str, pd.DataFrame]:
    manifest = demo_corpus_small.manifest
    return {
        split: manifest[manifest["split"] == split].reset_index(drop=True)
        for split in ("Train", "Development", "Test3")
    }


def _member_frames(ids: list[str], task: str, seed: int) -> dict[str, pd.DataFrame]:
    """Two members' predictions: Dirichlet posteriors, or A/V/D values on the 1-7 scale."""
    rng = np.random.default_rng(seed)
    index = pd.Index(ids, name="id")
    frames = {}
    for member in ("member_a", "member_b"):
        if task == "categorical":
            values = rng.dirichlet(np.ones(len(CLASSES)), size=len(ids))
            frames[member] = pd.DataFrame(values, index=index, columns=list(CLASSES))
        else:
            values = rng.uniform(1, 7, size=(len(ids), len(ATTRIBUTES)))
            frames[member] = pd.DataFrame(values, index=index, columns=list(ATTRIBUTES))
    return frames


def _inputs(system, splits: dict[str, pd.DataFrame], task: str):
    """(fit inputs, predict input, ids predicted) for an ordinary system or a fusion."""
    train, dev, test = splits["Train"], splits["Development"], splits["Test3"]
    if isinstance(system, FusionSystem):
        return (
            (_member_frames(dev["id"].tolist(), task, 0), dev),
            _member_frames(test["id"].tolist(), task, 1),
            test["id"].tolist(),
        )
    return (train, dev), test, test["id"].tolist()


def _fit(system, fit_inputs, task: str, name: str):
    try:
        return system.fit(*fit_inputs, task=task, classes=CLASSES)
    except (MissingDependencyError, MissingModelError) as error:
        pytest.skip(f"{name}: {str(error).splitlines()[0]}")


# -- checks -----------------------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return type(a) is type(b) and a == b


def _check_predictions(frame: pd.DataFrame, task: str, ids: list[str]) -> None:
    expected = list(CLASSES) if task == "categorical" else list(ATTRIBUTES)
    assert list(frame.columns) == expected
    assert [str(i) for i in frame.index] == ids
    values = frame.to_numpy(dtype=float)
    assert np.isfinite(values).all()
    if task == "categorical":
        assert (values >= 0).all()
        np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-6)


def _pickles(directory: Path) -> list[str]:
    found = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if path.suffix == ".safetensors":
            continue
        with open(path, "rb") as handle:
            head = handle.read(2)
        if path.suffix in PICKLE_SUFFIXES or head in PICKLE_MAGIC:
            found.append(str(path.relative_to(directory)))
    return found


def test_pickle_scan_finds_a_pickle(tmp_path: Path) -> None:
    import pickle

    (tmp_path / "state.bin").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    (tmp_path / "weights.safetensors").write_bytes(b"\x80\x05 not a pickle header check")
    (tmp_path / "model.joblib").write_bytes(b"")
    assert _pickles(tmp_path) == ["model.joblib", "state.bin"]


@pytest.mark.parametrize(("name", "task"), CASES)
def test_system_keeps_the_estimator_contract(name, task, splits, tmp_path) -> None:
    import torch

    cls = _system_class(name)
    if task not in cls.tasks:
        pytest.skip(f"{name} does not support {task}")
    params = _params(name, cls)
    torch.set_num_threads(1)

    started = time.perf_counter()
    system = cls.from_params(copy.deepcopy(params))
    assert time.perf_counter() - started < 0.5, "__init__ must only store its arguments"
    assert set(vars(system)) == set(cls.param_names()) == set(params)
    assert all(_same(getattr(system, k), v) for k, v in params.items())
    again = cls.from_params(system.get_params())
    assert again.get_params() == system.get_params()

    system.use_workspace(work_dir=tmp_path / "work", cache_dir=tmp_path / "cache")
    before = {k: copy.deepcopy(v) for k, v in vars(system).items()}
    fit_inputs, predict_input, ids = _inputs(system, splits, task)
    assert _fit(system, fit_inputs, task, name) is system
    after = vars(system)
    added = sorted(set(after) - set(before) - set(WORKSPACE))
    # As in scikit-learn: public learned attributes end in '_'; private '_name' state is allowed.
    public = [k for k in added if not k.startswith("_")]
    assert [k for k in public if not k.endswith("_")] == [], "fitted attributes end in '_'"
    for key in params:
        assert _same(after[key], before[key]), f"fit changed the parameter {key!r}"

    predictions = system.predict(predict_input)
    _check_predictions(predictions, task, ids)
    main, variants = system.predict_with_variants(predict_input)
    pd.testing.assert_frame_equal(main, predictions)
    for frame in variants.values():
        _check_predictions(frame, task, ids)
    prior = system.training_prior()
    if prior is not None:
        assert task == "categorical" and prior.shape == (len(CLASSES),)
        np.testing.assert_allclose(prior.sum(), 1.0, atol=1e-6)

    system.save(tmp_path / "saved")
    assert _pickles(tmp_path / "saved") == []
    loaded = cls.load(tmp_path / "saved")
    assert loaded.get_params() == system.get_params()
    pd.testing.assert_frame_equal(loaded.predict(predict_input), predictions)
    elapsed = time.perf_counter() - started
    assert elapsed < SLOW_ON_A_CPU, f"{name}/{task} took {elapsed:.0f} s: shrink its tiny profile"
