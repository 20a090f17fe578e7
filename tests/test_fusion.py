"""Fusion systems on synthetic member posteriors whose quality is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from harness.data.manifest import ATTRIBUTES
from systems.components.params import yaml_params
from systems.fusion import FusionInterp, FusionLR, weight_grid

CLASSES = ("A", "S", "H", "N")


def paper(cls):
    """The fusion with its YAML parameters (the paper's values) and seed 0."""
    params = yaml_params(cls.name)
    if "seed" in cls.param_names():
        params["seed"] = 0
    return cls.from_params(params)


def _members(n: int, seed: int):
    """Two noisy members: 'text' separates A/S from H/N, 'audio' separates A/H from S/N.

    Each alone confuses one pair of classes; together they identify all four, so a good fusion
    must beat both.
    """
    rng = np.random.default_rng(seed)
    labels = rng.choice(CLASSES, size=n)
    idx = np.array([CLASSES.index(c) for c in labels])
    text_group = np.isin(idx, [0, 1]).astype(float)  # A, S
    audio_group = np.isin(idx, [0, 2]).astype(float)  # A, H
    text = np.zeros((n, 4))
    audio = np.zeros((n, 4))
    for j in range(4):
        text[:, j] = np.where(np.isin(j, [0, 1]) == text_group.astype(bool), 2.0, 0.0)
        audio[:, j] = np.where(np.isin(j, [0, 2]) == audio_group.astype(bool), 2.0, 0.0)
    text += rng.normal(0, 0.8, text.shape)
    audio += rng.normal(0, 0.8, audio.shape)
    ids = [f"u{i:04d}" for i in range(n)]

    def softmax(x):
        e = np.exp(x - x.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    frames = {
        "text": pd.DataFrame(softmax(text), index=pd.Index(ids, name="id"), columns=CLASSES),
        "audio": pd.DataFrame(softmax(audio), index=pd.Index(ids, name="id"), columns=CLASSES),
    }
    values = rng.normal(4, 1, (n, 3))
    reference = pd.DataFrame({"id": ids, "label": labels})
    for j, a in enumerate(ATTRIBUTES):
        reference[a] = values[:, j]
    return frames, reference


def _f1(frame, reference):
    predicted = frame.columns.to_numpy()[frame.to_numpy().argmax(1)]
    return f1_score(
        reference["label"], predicted, labels=list(CLASSES), average="macro", zero_division=0
    )


def test_weight_grid_two_members_has_21_points_in_steps_of_005():
    grid = weight_grid(2, 0.05)
    assert grid.shape == (21, 2)
    np.testing.assert_allclose(grid.sum(1), 1.0)
    np.testing.assert_allclose(np.diff(np.sort(grid[:, 0])), 0.05)


@pytest.mark.parametrize("cls", [FusionInterp, FusionLR])
def test_fusion_beats_each_member_on_held_out_data(cls):
    dev_members, dev = _members(400, seed=1)
    test_members, test = _members(400, seed=2)
    fusion = paper(cls).fit(dev_members, dev, task="categorical", classes=CLASSES)
    fused = fusion.predict(test_members)
    assert list(fused.columns) == list(CLASSES)
    np.testing.assert_allclose(fused.sum(axis=1), 1.0)
    score = _f1(fused, test)
    assert score > _f1(test_members["text"], test) + 0.05
    assert score > _f1(test_members["audio"], test) + 0.05


def test_fusion_lr_reports_cross_validated_dev_score():
    members, dev = _members(300, seed=3)
    fusion = paper(FusionLR).fit(members, dev, task="categorical", classes=CLASSES)
    report = fusion.report()["dev_bal"]
    assert 0.0 < report["macro_f1_cv"] <= report["macro_f1_fit"] + 0.05
    assert report["macro_f1_cv"] > 0.5


def test_interpolation_weights_follow_the_informative_member_per_attribute():
    rng = np.random.default_rng(0)
    n = 300
    truth = rng.normal(4, 1, (n, 3))
    ids = pd.Index([f"u{i}" for i in range(n)], name="id")
    # 'text' is good for valence only, 'audio' for arousal only; dominance shared.
    text = truth + rng.normal(0, [3.0, 0.3, 1.0], (n, 3))
    audio = truth + rng.normal(0, [0.3, 3.0, 1.0], (n, 3))
    members = {
        "text": pd.DataFrame(text, index=ids, columns=ATTRIBUTES),
        "audio": pd.DataFrame(audio, index=ids, columns=ATTRIBUTES),
    }
    dev = pd.DataFrame(truth, columns=ATTRIBUTES).assign(id=list(ids), label="N")
    fusion = paper(FusionInterp).fit(members, dev, task="attributes", classes=CLASSES)
    weights = fusion.report()["attribute_weights"]
    assert weights["valence"]["text"] > 0.8
    assert weights["arousal"]["audio"] > 0.8
    assert 0.2 < weights["dominance"]["text"] < 0.8


@pytest.mark.parametrize("cls", [FusionInterp, FusionLR])
@pytest.mark.parametrize("task", ["categorical", "attributes"])
def test_save_load_gives_identical_predictions(tmp_path, cls, task):
    members, dev = _members(200, seed=4)
    if task == "attributes":
        members = {
            m: pd.DataFrame(
                np.random.default_rng(i).normal(4, 1, (200, 3)), index=f.index, columns=ATTRIBUTES
            )
            for i, (m, f) in enumerate(members.items())
        }
    fusion = paper(cls).fit(members, dev, task=task, classes=CLASSES)
    fusion.save(tmp_path)
    again = cls.load(tmp_path)
    pd.testing.assert_frame_equal(fusion.predict(members), again.predict(members))
