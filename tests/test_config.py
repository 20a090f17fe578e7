from __future__ import annotations

import pytest

from harness.config import member_config, parse_overrides, resolve
from harness.errors import HarnessError


def test_overrides_are_parsed_as_yaml():
    parsed = parse_overrides(
        ["seed=3", "members=[a,b]", "target_prior=none", "demo.n=200", "x=1.5"]
    )
    assert parsed == {
        "seed": 3,
        "members": ["a", "b"],
        "target_prior": "none",
        "demo.n": 200,
        "x": 1.5,
    }


def test_a_home_path_is_expanded_whatever_the_shell(monkeypatch, tmp_path):
    """sh and zsh pass output_dir=~/runs on with its "~"; it used to become ./~/runs."""
    monkeypatch.setenv("HOME", str(tmp_path))
    parsed = parse_overrides(
        ["output_dir=~/runs", "corpus_path=~/MSP", "member_params.audio_embed.encoder=~/w", "x=~"]
    )
    assert parsed["output_dir"] == str(tmp_path / "runs")
    assert parsed["corpus_path"] == str(tmp_path / "MSP")
    assert parsed["member_params.audio_embed.encoder"] == str(tmp_path / "w")
    assert parsed["x"] is None  # YAML's null; a key that names no path is left as YAML reads it


def test_malformed_override_is_one_clear_error():
    with pytest.raises(HarnessError, match="key=value"):
        parse_overrides(["seed"])


def test_resolve_applies_system_yaml_then_profile_then_overrides():
    config = resolve({"system": "fusion_lr", "C": 0.5, "demo.n": 200})
    assert config["params"]["C"] == 0.5
    assert config["params"]["step"] == 0.05
    assert config["demo"]["n"] == 200 and config["demo"]["lang"] == "en"
    assert config["profile"] == "demo"
    assert len(config["members"]) == 2


def test_explicit_members_override_the_profile():
    config = resolve(
        {"system": "fusion_interp", "members": ["text_tfidf", "audio_egemaps"], "profile": "none"}
    )
    assert config["members"] == ["text_tfidf", "audio_egemaps"]
    assert config["profile"] is None


def test_member_config_inherits_run_settings_and_member_params():
    config = resolve(
        {"system": "fusion_lr", "seed": 7, "member_params": {"text_tfidf": {"C": 9.0}}}
    )
    member = member_config(config, "text_tfidf")
    assert member["system"] == "text_tfidf"
    assert member["seed"] == 7
    assert member["params"]["C"] == 9.0


def test_unknown_system_names_the_choices():
    with pytest.raises(HarnessError, match="fusion_lr"):
        resolve({"system": "nonexistent"})


def test_unknown_profile_is_an_error():
    with pytest.raises(HarnessError, match="profile"):
        resolve({"system": "fusion_lr", "profile": "nope"})


def test_members_on_the_command_line_win_over_the_demo_profile():
    config = resolve({"system": "fusion_lr", "members": ["text_tfidf", "text_tfidf_b"]})
    assert config["profile"] == "demo"
    assert config["members"] == ["text_tfidf", "text_tfidf_b"]


def test_a_relative_corpus_path_is_saved_absolute(monkeypatch, tmp_path):
    """config.yaml must name the corpus from any directory: harness compare reads it again."""
    monkeypatch.chdir(tmp_path)
    config = resolve(
        {"system": "text_tfidf", "corpus": "emospeech", "corpus_path": "MSP", "cache_dir": "c"}
    )
    assert config["corpus_path"] == str(tmp_path / "MSP")
    assert config["cache_dir"] == str(tmp_path / "c")
    assert resolve({"system": "text_tfidf"}).get("corpus_path") is None
