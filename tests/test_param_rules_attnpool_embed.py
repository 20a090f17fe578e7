"""The parameter rules of multimodal_attnpool and audio_embed: values that would break the code
(or make it do nonsense) are refused, and the rules keep in step with the code they guard.

(Every parameter having a rule, and the YAML passing, is tests/test_param_rules.py's for all.)"""

from __future__ import annotations

import pytest

from harness.config import system_defaults
from harness.errors import HarnessError
from harness.params import check_param_values
from systems.audio_embed import ATTENTION_KEYS, AudioEmbed
from systems.multimodal_attnpool import MEMBER_KEYS, MEMBER_RULES, MultimodalAttnPool

SYSTEMS = {"multimodal_attnpool": MultimodalAttnPool, "audio_embed": AudioEmbed}


def _problem(system_cls, name, value):
    """What the rule of ``name`` wants instead of ``value`` (``None``: accepted)."""
    return system_cls.param_rules[name].problem(value)[1]


def test_the_rules_keep_in_step_with_the_code_they_guard():
    assert set(MEMBER_RULES) == set(MEMBER_KEYS)
    assert set(AudioEmbed.param_rules["attention"].fields) == set(ATTENTION_KEYS)
    from systems.components.speech_encoders import WHISPER_WINDOW_SECONDS

    assert _problem(AudioEmbed, "pack_seconds", WHISPER_WINDOW_SECONDS) is None


def test_the_fusion_names_are_the_models():
    pytest.importorskip("torch")
    from systems.components.attention_fusion import FUSIONS

    for fusion in FUSIONS:
        assert _problem(MultimodalAttnPool, "fusion", fusion) is None


def test_attnpool_accepts_what_the_code_supports():
    M = MultimodalAttnPool
    for good in ("audio", "text", ["text"], ["audio", "text"], ("text", "audio")):
        assert _problem(M, "modalities", good) is None, good
    for name in ("speech_backbone", "text_backbone", "whisper_window_seconds", "crop_seconds"):
        assert _problem(M, name, None) is None, name  # unused, the native window, no crop
    assert _problem(M, "crop_seconds", 0) is None
    assert _problem(M, "hidden_layers", 0) is None  # the input block only
    assert _problem(M, "speed_factors", []) is None
    assert _problem(M, "augment_copies", 0) is None
    assert _problem(M, "seed", None) is None  # the run's seed fills it
    for good in (None, [{}], [None, {"seed": 3}], [{"fusion": "concat", "crop_seconds": None}]):
        assert _problem(M, "ensemble", good) is None, good


BAD_ATTNPOOL = {
    "lr": [-1, 0, "fast"],
    "fusion": ["sum", None],
    "modalities": [[], ["video"], "both", ["audio", "video"]],
    "hidden_layers": [-1, 1.5],
    "hidden_width": [0],
    "dropout": [1.0, -0.1],
    "class_weighting": ["balanced"],
    "epochs": [0],
    "batch_size": [0],
    "crop_seconds": [-1],
    "augment_prob": [1.5, -0.1],
    "whisper_window_seconds": [0, 31.0],
    "text_max_length": [0],
    "noise_snr_db": [[25.0, 15.0], [15.0]],
    "speed_factors": [[0.9, 0]],
    "augment_copies": [-1],
    "feature_cache": ["yes"],
    "speech_scratch": [{"hidden_size": 15, "num_attention_heads": 2}],
    "text_scratch": [{"num_hidden_layers": 0}],
    "ensemble": [
        [],
        {"hidden_layers": 2},
        [{"hidden_layers": 2, "speech_backbone": "x"}],  # an encoder is never a member's
        [{"layers": 2}],
        [{"lr": -1}],
        [{"seed": None}],  # int(None)
        ["hidden_layers=2"],
    ],
    "seed": [-1],
}

BAD_EMBED = {
    "pooling": ["maen", "attentive"],
    "backend": ["svm", "ridge"],
    "extra_backends": [["svm"], "plda"],
    "layer": ["first", 1.5, True],
    "attention": [
        {"hidden": 0},
        {"hidden": 128, "heads": 4},
        {"lr": -0.001},
        {"batch_size": 0},
        {"epochs": -1},
        [128],
    ],
    "C": [0, -1],
    "alpha": [-1],
    "lda_dims": [0],
    "pack_seconds": [-1, 30.5, 60],
    "pack_gap": [-0.2],
    "batch_size": [0],
    "compute_type": ["int4"],
    "num_threads": [-1],
    "scratch_config": [{"hidden_size": 32, "conv_dim": [32, 32], "conv_stride": [5, 4, 4]}],
    "encoder": ["", None],
}


@pytest.mark.parametrize(
    ("system_cls", "name", "bad"),
    [(MultimodalAttnPool, n, b) for n, bads in BAD_ATTNPOOL.items() for b in bads]
    + [(AudioEmbed, n, b) for n, bads in BAD_EMBED.items() for b in bads],
    ids=repr,
)
def test_values_that_would_break_the_code_are_refused(system_cls, name, bad):
    assert system_cls.param_rules[name].problem(bad)[1] is not None


def test_embed_accepts_what_the_code_supports():
    A = AudioEmbed
    for good in (0, 12, -1, "last", "weighted", "3"):
        assert _problem(A, "layer", good) is None, good
    assert _problem(A, "pack_seconds", 0) is None  # one utterance per window
    assert _problem(A, "extra_backends", []) is None
    assert _problem(A, "attention", {"epochs": 0}) is None  # the mean + std starting point
    assert _problem(A, "encoder", "whisper:/models/ct2-tiny") is None
    assert _problem(A, "num_threads", 0) is None


def test_a_bad_nested_value_is_one_error_naming_its_key():
    defaults = system_defaults("audio_embed")["params"]
    params = {**defaults, "attention": {**defaults["attention"], "hidden": 0}}
    with pytest.raises(HarnessError, match=r"attention\.hidden=0"):
        check_param_values("audio_embed", AudioEmbed.param_rules, params, defaults)
    params = {**defaults, "attention": {**defaults["attention"], "heads": 4}}
    with pytest.raises(HarnessError, match="no key 'heads'"):
        check_param_values("audio_embed", AudioEmbed.param_rules, params, defaults)
