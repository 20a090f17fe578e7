"""text_llm and text_roberta: values the code supports pass their rules, bad values do not.

(Every parameter having a rule, and the YAML passing, is tests/test_param_rules.py's for all.)

No model is built: the rules are plain checks on values.
"""

from __future__ import annotations

import pytest

from systems.text_llm import TextLLM, TextRoberta

SYSTEMS = {"text_llm": TextLLM, "text_roberta": TextRoberta}


def _problem(cls, name, value):
    return cls.param_rules[name].problem(value)


def test_values_the_code_supports_beyond_the_yaml_pass():
    ok = {
        "lora_target_modules": ["query", "value"],
        "schedule": "cosine",
        "warmup_fraction": 0,
        "weight_decay": 0.01,
        "effective_batch": 64,
        "padding_side": "left",
        "seed": None,
    }
    many = {
        "lora_target_modules": ["all-linear", ("q_proj", "v_proj")],
        "dtype": [None, "bfloat16", "float16", "float32"],
        "device": [None, "cpu", "cuda", "cuda:1"],
        "seed": [None, 0, 1234],
    }
    for cls in SYSTEMS.values():
        for key, value in ok.items():
            assert _problem(cls, key, value) == ("", None), (key, value)
        for key, values in many.items():
            for value in values:
                assert _problem(cls, key, value) == ("", None), (key, value)
        assert _problem(cls, "schedule", "constant") == ("", None)


BAD = {
    "lr": [-1, 0, "2e-5", None],
    "lora_rank": [0, -8, 8.5, True],
    "lora_alpha": [0, 0.5],
    "lora_dropout": [-0.1, 1, 1.5],
    "lora_target_modules": [[], "", [""], None],
    "schedule": ["linaer", "Linear", None],
    "dtype": ["fp16", "bf16", "auto", "int8", "torch.bfloat16"],
    "padding_side": ["middle", "Left", None],
    "batch_size": ["16", 0, 16.0],
    "eval_batch_size": [0],
    "effective_batch": [0, "32"],
    "epochs": [0, -1, 2.5],
    "warmup_fraction": [1.5, -0.1],
    "weight_decay": [-0.01],
    "max_length": [0, "512"],
    "device": ["gpu", "", "cuda:x", 0],
    "lora": ["true", 1],
    "load_in_4bit": ["false", None],
    "backbone": ["", None],
    "seed": [-1, 1.5],
}


@pytest.mark.parametrize("name", SYSTEMS)
@pytest.mark.parametrize("key", BAD)
def test_bad_values_are_refused(name, key):
    cls = SYSTEMS[name]
    for bad in BAD[key]:
        assert _problem(cls, key, bad)[1] is not None, (name, key, bad)
