"""audio_w2vbert and audio_sonar: values the code supports pass their rules, bad values do not.

(Every parameter having a rule, and the YAML passing, is tests/test_param_rules.py's for all.)

No model is built: the rules are plain checks on values.
"""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from systems.audio_sonar import AudioSonar
from systems.audio_w2vbert import AudioW2VBert

SYSTEMS = {"audio_w2vbert": AudioW2VBert, "audio_sonar": AudioSonar}


def _problem(cls, name, value):
    return cls.param_rules[name].problem(value)


def test_values_the_code_supports_beyond_the_yaml_pass():
    ok = {
        "pooling": "mean",
        "finetune": "frozen",
        "schedule": "cosine",
        "backend": "none",
        "extra_backends": ["plda", "lda_lr"],
        "speed_factors": [],
        "target_prior": [1, 2, 1, 1, 1, 1, 1, 1],
        "num_threads": 0,
        "finetune_epochs": 0,
        "noise_snr_db": [-5, 5],
        "chunk_seconds": [12.0, 12.0],
        "scratch_config": {
            "model_type": "wavlm",
            "hidden_size": 32,
            "num_attention_heads": 2,
            "conv_dim": [32, 32],
        },
    }
    for key, value in ok.items():
        assert _problem(AudioW2VBert, key, value) == ("", None), (key, value)
    assert _problem(AudioSonar, "pooler_config", {"num_layers": 6, "bos_idx": 2}) == ("", None)
    assert _problem(AudioSonar, "pooler_finetune", "full") == ("", None)


BAD = {
    "lr": [-1, 0, "1e-4", None],
    "finetune_lr": [-1e-4, 0],
    "finetune": ["lorra", "LoRA", None],
    "chunk_seconds": [[4.0, 2.0], [2.0], [0.0, 1.0], [2.0, 3.0, 4.0], 2.0],
    "attribute_chunk_seconds": [[4.0, 3.0]],
    "finetune_chunk_seconds": [[8.0, 6.0]],
    "noise_snr_db": [[15.0, 0.0]],
    "augment_prob": [1.5, -0.1],
    "speed_prob": [1.5],
    "warmup_fraction": [1.5],
    "lora_dropout": [1.0, -0.1],
    "epochs": [0, 2.5, True],
    "batch_size": ["16", 0, 16.0],
    "effective_batch": [0],
    "lora_rank": [0],
    "lda_dims": [0],
    "pooling": ["sonar", "max"],
    "head": ["dense"],
    "optimizer": ["sgd"],
    "schedule": ["step"],
    "backend": ["lda"],
    "extra_backends": ["plda", ["svm"]],
    "output": ["posteriors"],
    "attribute_loss": ["mse"],
    "attribute_scale": ["1-7"],
    "class_weighting": ["balanced"],
    "target_prior": ["balanced", [1, -1], False],
    "lora_targets": ["linear_q", []],
    "speed_factors": [[0.9, 0.0]],
    "backbone": ["", None],
    "noise_dir": ["", 3],
    "num_threads": [-1],
    "bf16": ["true", 1],
    "scratch_config": [
        {"hidden_size": 0},
        {"hidden_size": 30, "num_attention_heads": 4},
        {"model_type": "hubert"},
        [64, 2],
    ],
}


@pytest.mark.parametrize("name", SYSTEMS)
def test_values_that_would_break_the_code_are_refused(name):
    cls = SYSTEMS[name]
    for key, values in BAD.items():
        for value in values:
            if name == "audio_sonar" and key == "pooling" and value == "sonar":
                continue
            assert _problem(cls, key, value)[1] is not None, (name, key, value)


def test_sonar_refuses_other_poolings_an_even_kernel_and_bad_pooler_settings():
    for value in ("attentive", "mean"):
        assert _problem(AudioSonar, "pooling", value)[1] is not None
    assert _problem(AudioW2VBert, "scratch_config", {"conv_depthwise_kernel_size": 4}) == ("", None)
    assert _problem(AudioSonar, "scratch_config", {"conv_depthwise_kernel_size": 4})[1]
    assert _problem(AudioSonar, "scratch_config", {"model_type": "wavlm"})[1]
    assert _problem(AudioSonar, "pooler_config", {"num_layers": 0}) == (
        "num_layers",
        "an integer >= 1",
    )
    assert _problem(AudioSonar, "pooler_config", {"dropout": 1.5})[0] == "dropout"
    assert _problem(AudioSonar, "pooler_config", {"layers": 3}) == ("layers", "")
    assert _problem(AudioSonar, "pooler_finetune", "lora")[1]


@pytest.mark.parametrize("name", ["audio_w2vbert", "audio_sonar"])
def test_output_backend_without_a_backend_is_refused_before_training(name):
    """It used to fail only after the network had trained."""
    from harness.config import resolve
    from harness.members import check_params, check_ready

    config = resolve({"system": name, "profile": "demo", "backend": "none"})
    check_params(config)  # each value is valid alone
    with pytest.raises(HarnessError, match="output=backend needs a back-end"):
        check_ready(config)
    check_ready(
        resolve({"system": name, "profile": "demo", "backend": "none", "output": "softmax"})
    )
