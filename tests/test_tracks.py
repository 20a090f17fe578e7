"""EmoSpeech ranks one task in two tracks: a system enters the one its modalities allow."""

from __future__ import annotations

import pytest

from harness import registry
from harness.config import resolve, system_modalities
from harness.errors import HarnessError

EMOSPEECH = registry.get("challenges", "emospeech2024")
ODYSSEY = registry.get("challenges", "odyssey2024")


def test_the_track_follows_what_the_system_reads():
    assert EMOSPEECH.track_for("categorical", ["text"]).name == "task1"
    assert EMOSPEECH.track_for("categorical", ["audio", "text"]).name == "task2"
    assert EMOSPEECH.track_for("categorical", ["audio"]).name == "task2"
    assert ODYSSEY.track_for("categorical", ["audio", "text"]).title == "Task 1 (categorical)"


def test_a_text_only_system_cannot_enter_task2_nor_a_multimodal_one_task1():
    with pytest.raises(HarnessError, match="belongs in Task 1") as error:
        EMOSPEECH.track_for("categorical", ["text"], requested="task2")
    assert "track=task1" in str(error.value)
    with pytest.raises(HarnessError, match="no emospeech2024 track"):
        EMOSPEECH.track_for("categorical", ["audio", "text", "video"])
    with pytest.raises(HarnessError, match="belongs in Task 2"):
        EMOSPEECH.track_for("categorical", ["audio", "text"], requested="task1")
    with pytest.raises(HarnessError, match="has no track 'task3'"):
        EMOSPEECH.track_for("categorical", ["text"], requested="task3")


def test_each_track_writes_its_own_submission_file():
    task1, task2 = EMOSPEECH.tracks_for("categorical")
    assert EMOSPEECH.submission_name("categorical", task1, "Test") == "emospeech2024_task1_Test.csv"
    assert EMOSPEECH.submission_name("categorical", task2, "Test") == "emospeech2024_task2_Test.csv"
    (odyssey,) = ODYSSEY.tracks_for("categorical")
    assert (
        ODYSSEY.submission_name("categorical", odyssey, "Test3")
        == "odyssey2024_categorical_Test3.csv"
    )


def test_a_fusion_reads_what_its_members_read_and_an_ablation_what_it_asks_for():
    light = resolve({"system": "fusion_lr", "members": ["text_tfidf", "audio_egemaps"]})
    assert system_modalities(light) == ("audio", "text")
    text_only = resolve({"system": "fusion_lr", "members": ["text_tfidf", "text_llm"]})
    assert system_modalities(text_only) == ("text",)
    assert system_modalities(resolve({"system": "text_tfidf"})) == ("text",)


def test_the_cli_refuses_a_text_system_as_task2_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app

    cache = tmp_path / "cache"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "system=text_tfidf",
            "demo.lang=es",
            "demo.n=120",
            "track=task2",
            "progress=false",
            f"output_dir={tmp_path / 'runs'}",
        ],
        env={"HARNESS_CACHE": str(cache)},
    )
    assert result.exit_code == 2, result.output
    assert "belongs in Task 1" in " ".join(result.output.split())
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_asr_and_the_track_agree_on_what_a_run_reads():
    from harness.corpora import reads_text

    audio_only = resolve({"system": "multimodal_attnpool", "modalities": ["audio"]})
    assert system_modalities(audio_only) == ("audio",) and not reads_text(audio_only)
    assert reads_text(resolve({"system": "multimodal_attnpool"}))
    assert not reads_text(
        resolve({"system": "fusion_lr", "members": ["audio_egemaps", "audio_embed"]})
    )
    assert reads_text(resolve({"system": "fusion_lr", "profile": "light"}))
