"""``harness compare RUN_A RUN_B``: a paired bootstrap of two finished runs on the split they rank."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from harness.cli import app
from harness.config import resolve
from harness.run_comparison import compare_runs
from harness.runner import run
from scoring import ccc

runner = CliRunner()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """text_tfidf with its YAML C, and a starved one (C=0.001): same corpus, two runs."""
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("runs")

    def one(C: float):
        config = resolve(
            {
                "system": "text_tfidf",
                "C": C,
                "demo.n": 160,
                "cache_dir": str(cache),
                "output_dir": str(out),
                "bootstrap": 50,
                "progress": False,
                "asr": "none",
            }
        )
        return run(config)

    return one(4.0), one(0.001)


def _primary(run_dir, task):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    spec = metrics["primary"][task]
    row = next(
        r
        for r in metrics["results"]
        if (r["task"], r["split"], r["variant"]) == (task, spec["split"], spec["variant"])
    )
    return row["metrics"][spec["metric"]], spec["split"], row["n"]


def test_each_value_is_the_score_the_run_ranked(two_runs):
    good, starved = two_runs
    results = {r["task"]: r for r in compare_runs(good, starved, n_boot=200)}
    assert set(results) == {"categorical", "attributes"}
    for task, result in results.items():
        value_a, split, n = _primary(good, task)
        value_b, _, _ = _primary(starved, task)
        assert (result["split"], result["n"]) == (split, n)
        # the saved predictions carry six decimals: attribute CCCs move in the eighth
        assert result["value_a"] == pytest.approx(value_a, abs=1e-6)
        assert result["value_b"] == pytest.approx(value_b, abs=1e-6)
        assert result["delta"] == pytest.approx(value_a - value_b, abs=2e-6)
        assert result["ci_low"] <= result["delta"] <= result["ci_high"]
        assert 0 < result["p_value"] <= 1


def test_the_categorical_value_is_sklearns_macro_f1_of_the_saved_predictions(two_runs):
    good, starved = two_runs
    import yaml

    from harness.corpora import load_corpus

    config = yaml.safe_load((good / "config.yaml").read_text())
    manifest = load_corpus("demo", demo=config["demo"], cache_dir=config["cache_dir"]).manifest
    result = compare_runs(good, starved, task="categorical", n_boot=100)[0]
    truth = manifest.set_index("id")["label"]
    classes = ["A", "S", "H", "U", "F", "D", "C", "N"]
    expected = {}
    for name, run_dir in (("a", good), ("b", starved)):
        posteriors = pd.read_csv(
            run_dir / "predictions" / "categorical" / f"{result['split']}.csv", dtype={"id": str}
        ).set_index("id")
        gold = truth.loc[posteriors.index]
        scored = gold.isin(classes).to_numpy()
        expected[name] = f1_score(
            gold[scored], posteriors.idxmax(axis=1)[scored], labels=classes, average="macro"
        )
    assert result["value_a"] == pytest.approx(expected["a"])
    assert result["value_b"] == pytest.approx(expected["b"])
    attributes = compare_runs(good, starved, task="attributes", n_boot=100)[0]
    predicted = pd.read_csv(
        good / "predictions" / "attributes" / f"{attributes['split']}.csv", dtype={"id": str}
    ).set_index("id")
    gold = manifest.set_index("id").loc[predicted.index]
    by_hand = np.mean([ccc(gold[c], predicted[c]) for c in ("arousal", "valence", "dominance")])
    assert attributes["value_a"] == pytest.approx(by_hand)


def test_the_command_prints_both_scores_the_difference_and_its_p_value(two_runs):
    good, starved = two_runs
    result = runner.invoke(app, ["compare", str(good), str(starved), "task=categorical"])
    assert result.exit_code == 0, result.output
    value_a, split, n = _primary(good, "categorical")
    assert f"categorical · {split} (n={n}) · macro_f1" in result.output
    assert f"{value_a:.4f}" in result.output and "A - B = " in result.output
    assert "p = " in result.output and "attributes" not in result.output


def _one_line_error(result) -> str:
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert "Traceback" not in text and text.startswith("error:") and "\n" not in text
    return text


def test_runs_of_two_corpora_are_refused(two_runs, tmp_path):
    good, starved = two_runs
    other = tmp_path / starved.name
    shutil.copytree(starved, other)
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["corpus"]["name"] = "demo-en-n999-s0"
    (other / "metrics.json").write_text(json.dumps(metrics))
    text = _one_line_error(runner.invoke(app, ["compare", str(good), str(other)]))
    assert "demo-en-n999-s0" in text and "not over the same utterances" in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nowhere", "{b}"], "not a finished run directory"),
        (["{a}", "task=categorical"], "no run directory given"),
        (["{a}", "{b}", "task=dimensions"], "task=dimensions is not scored by both runs"),
        (["{a}", "{b}", "split=Test9"], "no predictions for task"),
        (["{a}", "{b}", "bootstrap=0"], "needs resamples"),
        (["{a}", "{b}", "boot=10"], "has no option 'boot'"),
    ],
)
def test_bad_arguments_are_one_line(two_runs, args, expected):
    good, starved = two_runs
    argv = ["compare", *(a.format(a=good, b=starved) for a in args)]
    assert expected in _one_line_error(runner.invoke(app, argv))


def test_a_run_whose_ranked_split_is_unlabelled_is_compared_where_the_leaderboard_shows_it(
    tmp_path,
):
    """MSP-Podcast ships Test3 without labels: the leaderboard shows such a run on its last
    labelled evaluation split ("Test2 (Test3 unlabelled)"), and that is the split compared."""
    from harness.run_comparison import _ranked

    run_dir = tmp_path / "20261205-000000-text_tfidf"
    run_dir.mkdir()
    metrics = {
        "system": "text_tfidf",
        "corpus": {"name": "msp-podcast", "challenge": "odyssey2024"},
        "primary": {"categorical": {"split": "Test3", "variant": "prior", "metric": "macro_f1"}},
        "results": [
            {
                "task": "categorical",
                "split": s,
                "variant": "prior",
                "n": 10,
                "metrics": {"macro_f1": v},
            }
            for s, v in (("Development", 0.4), ("Test1", 0.3), ("Test2", 0.2))
        ],
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    assert _ranked(run_dir)["categorical"]["split"] == "Test2"


def test_a_run_whose_corpus_has_moved_says_so_in_one_line(two_runs, tmp_path):
    good, starved = two_runs
    moved = tmp_path / good.name
    shutil.copytree(good, moved)
    config = (moved / "config.yaml").read_text()
    (moved / "config.yaml").write_text(
        config.replace("corpus: demo", "corpus: emospeech", 1).replace(
            "corpus_path: null", f"corpus_path: {tmp_path / 'gone'}", 1
        )
    )
    text = _one_line_error(runner.invoke(app, ["compare", str(moved), str(starved)]))
    assert f"the corpus of {good.name}, as its config.yaml names it" in text
    assert "edit corpus_path in" in text and "EmoSpeech folder not found" in text


def test_a_paired_leaderboard_gives_each_run_its_difference_to_the_best_and_its_p_value(two_runs):
    import leaderboards
    from harness.run_comparison import paired_with_best

    good, starved = two_runs
    runs = leaderboards.collect_runs(good.parent, latest_only=False)
    paired = paired_with_best(runs, n_boot=200)
    for task in ("categorical", "attributes"):
        rows = paired[paired["task"] == task].set_index("run")
        best = rows["value"].idxmax()
        other = starved.name if best == good.name else good.name
        direct = compare_runs(good.parent / best, good.parent / other, task=task, n_boot=200)[0]
        assert rows.at[other, "delta_best"] == pytest.approx(-direct["delta"])
        assert rows.at[other, "p_best"] == pytest.approx(direct["p_value"])
        assert np.isnan(rows.at[best, "delta_best"]) and np.isnan(rows.at[best, "p_best"])
    plain = leaderboards.render_markdown(runs)
    assert "vs #1" not in plain
    result = runner.invoke(
        app, ["leaderboard", f"runs={good.parent}", "paired=true", "bootstrap=200", "format=md"]
    )
    assert result.exit_code == 0, result.output
    assert "vs #1 (paired p)" in result.output and "(p=" in result.output


def test_a_difference_below_the_saved_precision_is_no_difference(two_runs, tmp_path):
    """Two runs of one configuration, one from cached members, differ by a unit in the sixth
    decimal of some predictions; the bootstrap found that consistent 1e-8 CCC gap
    "significant" (p = 0.008 on the demo's main run and its cached re-run)."""
    good, _ = two_runs
    twin = tmp_path / (good.name + "-2")
    shutil.copytree(good, twin)
    path = twin / "predictions" / "attributes" / f"{_primary(good, 'attributes')[1]}.csv"
    frame = pd.read_csv(path, dtype={"id": str})
    frame["arousal"] += 1e-6 * np.sign(frame["arousal"] - frame["arousal"].mean())
    frame.to_csv(path, index=False, float_format="%.6f")
    result = compare_runs(good, twin, task="attributes", n_boot=200)[0]
    assert 0 < abs(result["delta"]) < 1e-6 and result["negligible"]
    output = runner.invoke(app, ["compare", str(good), str(twin), "task=attributes"]).output
    assert "no difference (below the precision of the saved predictions)" in output
    assert "p = " not in output


def test_a_paired_leaderboard_whose_corpus_is_gone_still_draws_that_table(two_runs, tmp_path):
    """A table whose corpus cannot be read again is drawn unpaired, with a warning; the
    leaderboard used to stop on it."""
    import leaderboards
    from harness.run_comparison import paired_with_best

    runs_dir = tmp_path / "runs"
    for run_dir in two_runs:
        copy = runs_dir / run_dir.name
        shutil.copytree(run_dir, copy)
        config = (copy / "config.yaml").read_text()
        config = config.replace("corpus: demo", "corpus: emospeech", 1).replace(
            "corpus_path: null", f"corpus_path: {tmp_path / 'nowhere'}", 1
        )
        (copy / "config.yaml").write_text(config)
    runs = leaderboards.collect_runs(runs_dir, latest_only=False)
    paired = paired_with_best(runs, n_boot=50)
    assert paired["delta_best"].isna().all() and len(paired) == len(runs)
    assert "vs #1" not in leaderboards.render_markdown(paired)
