"""Out-of-fold stacking: every Train row predicted once by a model that never saw it (checked
against a hand-computed two-fold case), and fusion_lr fit on those predictions with 3 and 4
members, falling back to Dev_bal when a member has none."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from harness.data import predictions as P
from harness.stacking import fold_assignment, out_of_fold_predictions
from harness.system import System
from systems.components.params import yaml_params
from systems.fusion import FusionLR

CLASSES = ("A", "B")


class MeanAttributes(System):
    """Predicts the training rows' mean arousal/valence/dominance for everything."""

    tasks = ("attributes",)

    def fit(self, train, dev, *, task, classes):
        self.mean_ = train[["arousal", "valence", "dominance"]].to_numpy(float).mean(axis=0)
        return self

    def predict(self, data):
        return P.attributes(data["id"].tolist(), np.tile(self.mean_, (len(data), 1)))


class Memoriser(System):
    """One-hot on the label of any id it was trained on, uniform on ids it never saw."""

    tasks = ("categorical",)

    def fit(self, train, dev, *, task, classes):
        self.classes_ = tuple(classes)
        self.seen_ = dict(zip(train["id"], train["label"]))
        self.class_prior_ = np.array([0.75, 0.25])
        return self

    def predict(self, data):
        rows = []
        for utterance in data["id"]:
            if utterance in self.seen_:
                rows.append([float(c == self.seen_[utterance]) for c in self.classes_])
            else:
                rows.append([0.5, 0.5])
        return P.categorical(data["id"].tolist(), np.asarray(rows), self.classes_)


def test_two_fold_out_of_fold_means_by_hand():
    train = pd.DataFrame(
        {
            "id": ["u1", "u2", "u3", "u4"],
            "arousal": [1.0, 2.0, 3.0, 7.0],
            "valence": [4.0, 4.0, 2.0, 2.0],
            "dominance": [1.0, 1.0, 1.0, 5.0],
        }
    )
    folds, _ = fold_assignment(train, task="attributes", classes=CLASSES, folds=2, seed=0)
    assert sorted(np.bincount(folds)) == [2, 2]
    out = out_of_fold_predictions(
        MeanAttributes, train, task="attributes", classes=CLASSES, folds=2, seed=0
    )
    assert out.index.tolist() == ["u1", "u2", "u3", "u4"]
    # By hand: a held-out row gets the mean of the two rows of the other fold.
    values = train[["arousal", "valence", "dominance"]].to_numpy()
    for row, fold in enumerate(folds):
        expected = values[folds != fold].mean(axis=0)
        assert np.allclose(out.iloc[row].to_numpy(), expected)
    from sklearn.model_selection import KFold

    held_out = [test for _train, test in KFold(2, shuffle=True, random_state=0).split(values)]
    assert [sorted(np.flatnonzero(folds == k)) for k in range(2)] == [sorted(h) for h in held_out]


def test_every_row_is_predicted_once_by_a_model_that_never_saw_it():
    labels = ["A"] * 9 + ["B"] * 6 + ["X"]
    train = pd.DataFrame({"id": [f"u{i}" for i in range(16)], "label": labels})
    out = out_of_fold_predictions(
        Memoriser, train, task="categorical", classes=CLASSES, folds=3, seed=1
    )
    assert out.index.tolist() == train["id"].tolist()
    assert np.allclose(out.to_numpy(), 0.5)  # a model that had seen a row would be one-hot
    folds, _ = fold_assignment(train, task="categorical", classes=CLASSES, folds=3, seed=1)
    for label in ("A", "B"):  # stratified: each fold holds a third of each class
        assert np.bincount(folds[train["label"] == label], minlength=3).tolist() in (
            [3, 3, 3],
            [2, 2, 2],
        )
    # With a target prior, each fold model's training prior (0.75, 0.25) is divided out.
    corrected = out_of_fold_predictions(
        Memoriser, train, task="categorical", classes=CLASSES, folds=3, seed=1, target=[0.5, 0.5]
    )
    assert np.allclose(corrected["A"], 0.25) and np.allclose(corrected["B"], 0.75)


def _members(n_members: int, ids: list[str], truth: np.ndarray, rng, noise: float):
    """Member posteriors: member 0 is informative, the others noisier."""
    out = {}
    for m in range(n_members):
        logits = rng.normal(0, 1, (len(ids), 3))
        logits[np.arange(len(ids)), truth] += 2.0 if m == 0 else noise
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        out[f"m{m}"] = P.categorical(ids, probs, ("A", "B", "C"))
    return out


@pytest.mark.parametrize("n_members", [3, 4])
def test_fusion_lr_stacks_three_and_four_members(n_members, tmp_path):
    rng = np.random.default_rng(n_members)
    classes = ("A", "B", "C")
    train_truth = rng.integers(0, 3, 300)
    dev_truth = np.repeat([0, 1, 2], 20)
    test_truth = rng.integers(0, 3, 200)
    frame = lambda prefix, truth: pd.DataFrame(  # noqa: E731
        {"id": [f"{prefix}{i}" for i in range(len(truth))], "label": np.asarray(classes)[truth]}
    )
    train, dev, test = frame("t", train_truth), frame("d", dev_truth), frame("e", test_truth)
    oof = _members(n_members, train["id"].tolist(), train_truth, rng, 0.7)
    dev_inputs = _members(n_members, dev["id"].tolist(), dev_truth, rng, 0.7)
    test_inputs = _members(n_members, test["id"].tolist(), test_truth, rng, 0.7)

    params = yaml_params("fusion_lr", seed=0, stacking="oof")
    fusion = FusionLR(**params).fit(
        dev_inputs,
        dev,
        task="categorical",
        classes=classes,
        train_member_predictions=oof,
        train=train,
    )
    report = fusion.report()
    assert report["stacking"] == "oof" and report["stacking_C"] in params["stacking_C"]
    assert {"macro_f1_oof", "macro_f1_cv", "macro_f1_fit"} <= set(report["dev_bal"])
    assert fusion.model_.coef_.shape == (3, 3 * n_members)
    predicted = fusion.predict(test_inputs).to_numpy().argmax(1)
    fused_accuracy = (predicted == test_truth).mean()
    best_member = max(
        (test_inputs[m].to_numpy().argmax(1) == test_truth).mean() for m in test_inputs
    )
    assert fused_accuracy >= best_member - 0.02 and fused_accuracy > 0.6
    fusion.save(tmp_path / "fusion")
    loaded = FusionLR.load(tmp_path / "fusion")
    pd.testing.assert_frame_equal(loaded.predict(test_inputs), fusion.predict(test_inputs))
    assert np.allclose(loaded.training_prior(), fusion.training_prior())

    # One member without out-of-fold predictions (it opted out): Dev_bal only, and it says so.
    partial = {m: p for m, p in oof.items() if m != "m1"}
    fallback = FusionLR(**params).fit(
        dev_inputs,
        dev,
        task="categorical",
        classes=classes,
        train_member_predictions=partial,
        train=train,
    )
    assert fallback.report()["stacking"] == "devbal"
    assert "m1" in fallback.report()["stacking_fallback"]


def test_real_members_cross_fit_and_stack(demo_corpus_es_small):
    """text_tfidf cross-fitted on the Spanish demo's Train, then a stacked fusion of three."""
    from harness.prior import target_prior
    from harness.registry import get

    manifest = demo_corpus_es_small.manifest
    train = manifest[manifest.split == "Train"].reset_index(drop=True)
    dev = manifest[manifest.split == "Development"]
    classes = ("anger", "disgust", "fear", "joy", "neutral", "sadness")
    tfidf = get("systems", "text_tfidf")
    assert tfidf.cross_fit
    uniform = target_prior("uniform", classes)

    def member(C):
        return lambda: tfidf(**yaml_params("text_tfidf", seed=0, C=C))

    oof, dev_inputs = {}, {}
    for C in (0.5, 4.0, 20.0):
        oof[f"tfidf{C}"] = out_of_fold_predictions(
            member(C),
            train,
            task="categorical",
            classes=classes,
            folds=3,
            seed=0,
            dev=dev,
            target=uniform,
        )
        assert oof[f"tfidf{C}"].index.tolist() == train["id"].tolist()
        dev_inputs[f"tfidf{C}"] = (
            member(C)().fit(train, dev, task="categorical", classes=classes).predict(dev)
        )
    fusion = FusionLR(**yaml_params("fusion_lr", "offline", seed=0)).fit(
        dev_inputs,
        dev,
        task="categorical",
        classes=classes,
        train_member_predictions=oof,
        train=train,
    )
    assert fusion.report()["stacking"] == "oof"
    assert np.allclose(fusion.predict(dev_inputs).to_numpy().sum(axis=1), 1.0)


class SpeakerMemoriser(System):
    """One-hot on the majority label of a speaker it was trained on, uniform on new speakers:
    what an audio member that recognises voices does to out-of-fold posteriors."""

    tasks = ("categorical",)

    def fit(self, train, dev, *, task, classes):
        self.classes_ = tuple(classes)
        self.seen_ = train.groupby("speaker")["label"].agg(lambda s: s.mode().iloc[0]).to_dict()
        return self

    def predict(self, data):
        rows = []
        for speaker in data["speaker"]:
            label = self.seen_.get(speaker)
            rows.append([0.5, 0.5] if label is None else [float(c == label) for c in CLASSES])
        return P.categorical(data["id"].tolist(), np.asarray(rows), self.classes_)


def _speakers_frame(n_speakers: int = 8, per_speaker: int = 6) -> pd.DataFrame:
    rows = []
    for s in range(n_speakers):
        for i in range(per_speaker):
            rows.append({"id": f"s{s}u{i}", "speaker": f"spk{s}", "label": "AB"[(s + i) % 2]})
    return pd.DataFrame(rows)


def test_speaker_grouped_folds_keep_every_speaker_in_one_fold():
    train = _speakers_frame()
    kwargs = {"task": "categorical", "classes": CLASSES, "folds": 4, "seed": 3}
    folds, how = fold_assignment(train, groups="speaker", **kwargs)
    assert how == "by speaker"
    assert train.assign(fold=folds).groupby("speaker")["fold"].nunique().eq(1).all()
    assert sorted(set(folds)) == [0, 1, 2, 3]
    ungrouped, _ = fold_assignment(train, groups=None, **kwargs)
    assert train.assign(fold=ungrouped).groupby("speaker")["fold"].nunique().max() > 1


def test_speaker_grouped_out_of_fold_predictions_never_hear_the_speaker():
    train = _speakers_frame()
    kwargs = {"task": "categorical", "classes": CLASSES, "folds": 4, "seed": 3}
    grouped = out_of_fold_predictions(SpeakerMemoriser, train, groups="speaker", **kwargs)
    assert np.allclose(grouped.to_numpy(), 0.5)  # every held-out speaker is new to its model
    leaky = out_of_fold_predictions(SpeakerMemoriser, train, groups="none", **kwargs)
    assert not np.allclose(leaky.to_numpy(), 0.5)  # label-stratified folds share speakers


def test_unknown_speakers_are_groups_of_one_and_too_few_speakers_are_not_grouped():
    train = _speakers_frame(n_speakers=2, per_speaker=10)
    kwargs = {"task": "categorical", "classes": CLASSES, "folds": 3, "seed": 0}
    assert fold_assignment(train, groups="speaker", **kwargs)[1] == (
        "not grouped (2 known speakers for 3 folds)"
    )
    train.loc[train["speaker"] == "spk1", "speaker"] = "Unknown"
    extra = _speakers_frame(n_speakers=4, per_speaker=3).assign(
        id=lambda f: "x" + f["id"], speaker=lambda f: "extra" + f["speaker"]
    )
    train = pd.concat([train, extra], ignore_index=True)
    folds, how = fold_assignment(train, groups="speaker", **kwargs)
    assert how == "by speaker"
    frame = train.assign(fold=folds)
    assert frame[frame["speaker"] == "spk0"]["fold"].nunique() == 1
    assert frame[frame["speaker"] == "Unknown"]["fold"].nunique() > 1  # spread, row by row
    assert fold_assignment(train.assign(speaker=None), groups="speaker", **kwargs)[1] == (
        "not grouped (no Train row has a speaker)"
    )
    no_column = train.drop(columns="speaker")
    assert fold_assignment(no_column, groups="speaker", **kwargs)[1] == (
        "not grouped (Train has no speaker column)"
    )


def test_a_grouping_that_would_train_a_fold_without_a_class_falls_back():
    train = _speakers_frame(n_speakers=6, per_speaker=4)
    train.loc[train["speaker"] != "spk0", "label"] = "A"
    train.loc[train["speaker"] == "spk0", "label"] = "B"  # B is one speaker's alone
    kwargs = {"task": "categorical", "classes": CLASSES, "folds": 3, "seed": 0}
    folds, how = fold_assignment(train, groups="speaker", **kwargs)
    assert how == "not grouped (a speaker-grouped fold would train without a class)"
    for k in range(3):
        assert set(train["label"][folds != k]) == {"A", "B"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"stacking": "stack"},
            "stacking=stack is not accepted (stacking takes one of devbal, oof)",
        ),
        ({"stacking_groups": "spk"}, "stacking_groups=spk is not accepted"),
        (
            {"stacking_folds": 1},
            "stacking_folds=1 is not accepted (stacking_folds takes an integer >= 2)",
        ),
        ({"stacking_C": []}, "stacking_C=[] is not accepted (stacking_C takes a non-empty list"),
    ],
)
def test_fusion_lr_checks_its_stacking_options_before_training(override, message):
    """The options are refused while the config is checked, before any member is trained."""
    from harness.config import resolve
    from harness.errors import HarnessError
    from harness.members import check_params

    with pytest.raises(HarnessError, match=re.escape(message)):
        check_params(resolve({"system": "fusion_lr", "profile": "light", **override}))
    check_params(resolve({"system": "fusion_lr", "profile": "offline"}))
