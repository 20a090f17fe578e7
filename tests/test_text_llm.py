"""Tests of the text systems (``text_llm``, ``text_roberta``) on models built offline.

The LLaMA code path (LoRA, last-token head, EOS padding) runs on a tiny ``LlamaConfig`` model
with random weights and a word-level tokenizer trained on a few words, so CI exercises the real
classes without any download. The paper's 7B configuration is counted on the meta device.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.data.manifest import make_manifest
from harness.errors import HarnessError, MissingDependencyError, MissingModelError

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

CLASSES = ("A", "H", "S", "N")
CUES = {
    "H": ["happy", "glad", "great"],
    "S": ["sad", "unhappy", "terrible"],
    "A": ["angry", "furious"],
    "N": ["calm", "fine"],
    "O": ["the"],
    "X": ["very"],
}
FILLER = ["the", "a", "day", "today", "was", "it", "very"]
VALENCE = {"H": 6.0, "S": 2.0, "A": 2.5, "N": 4.0, "O": 4.0, "X": 4.0}
VOCABULARY = sorted({w for words in CUES.values() for w in words} | set(FILLER) | {"i", "am"})


# -- fixtures -----------------------------------------------------------------------------------
def build_tiny_llama(path: Path) -> Path:
    """A 2-layer LLaMA (causal-LM checkpoint, like the hub's) and a LLaMA-like tokenizer.

    The tokenizer adds BOS but no EOS and has no pad token, exactly the situation the system
    must handle for LLaMA-2.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>", "</s>"])
    tokenizer.train_from_iterator([" ".join(VOCABULARY)], trainer)
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=bos,
        eos_token_id=eos,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core runner OpenMP spin-waits
    made these tests ~6x slower (measured: 20 s vs 3 s for one fit)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def toy_manifest(n: int, seed: int, split: str = "Train") -> pd.DataFrame:
    """Sentences whose cue word gives the class and (mostly) the valence; O/X rows included."""
    rng = np.random.default_rng(seed)
    codes = list(CUES)
    rows = []
    for i in range(n):
        code = codes[rng.integers(len(codes))]
        filler = " ".join(rng.choice(FILLER, size=int(rng.integers(1, 6))))
        rows.append(
            {
                "id": f"{split}_{seed}_{i:04d}",
                "text": f"i am {rng.choice(CUES[code])} {filler}",
                "label": code,
                "valence": VALENCE[code] + rng.normal(0, 0.3),
                "arousal": 4 + (code == "A") + rng.normal(0, 0.5),
                "dominance": 4 + (code == "A") - (code == "S") + rng.normal(0, 0.3),
                "split": split,
            }
        )
    return make_manifest(pd.DataFrame(rows), "toy")


@pytest.fixture(scope="module")
def toy_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return toy_manifest(160, 0), toy_manifest(48, 1, "Development")


def paper_params(name: str = "text_llm", profile: str | None = None, **overrides) -> dict:
    """The system's YAML parameters (the paper's values or a profile), seed 0, ``overrides``."""
    from systems.components.params import yaml_params

    return yaml_params(name, profile, **{"seed": 0, **overrides})


def tiny_system(backbone: Path, work_dir=None, **overrides):
    from systems.text_llm import TextLLM

    params = paper_params(
        backbone=str(backbone),
        lora_rank=8,
        lora_alpha=16,
        lora_dropout=0.0,
        lr=3e-3,
        epochs=2,
        batch_size=16,
        progress=False,
    )
    params.update(overrides)
    system = TextLLM(**params)
    system.use_workspace(work_dir=work_dir, cache_dir=None)
    return system


def _tokenizer_and_model(backbone: Path, num_labels: int = 3):
    from systems.text_llm import load_backbone

    model, tokenizer = load_backbone(str(backbone), num_labels=num_labels)
    return tokenizer, model.eval()


# -- import cost ----------------------------------------------------------------------------------
def test_module_import_does_not_load_torch():
    code = (
        "import sys, systems.text_llm, systems.components.text_batching; "
        "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the LLaMA path ---------------------------------------------------------------------------
def test_eos_pads_and_model_knows_the_pad_id(tiny_llama):
    tokenizer, model = _tokenizer_and_model(tiny_llama)
    assert tokenizer.pad_token == tokenizer.eos_token == "</s>"
    assert model.config.pad_token_id == tokenizer.eos_token_id
    assert tokenizer.truncation_side == "right"


def test_left_and_right_padding_give_the_same_logits(tiny_llama):
    import torch

    from systems.components.text_batching import pad
    from systems.text_llm import encode, forward_logits

    tokenizer, model = _tokenizer_and_model(tiny_llama)
    texts = ["i am happy", "i am sad today it was a very terrible day", "", "calm"]
    sequences, _ = encode(tokenizer, texts, 32)
    with torch.no_grad():
        right = forward_logits(
            model, pad(sequences, tokenizer.pad_token_id, side="right"), decoder=True
        )
        left = forward_logits(
            model, pad(sequences, tokenizer.pad_token_id, side="left"), decoder=True
        )
        alone = torch.cat(
            [
                forward_logits(model, pad([s], tokenizer.pad_token_id), decoder=True)
                for s in sequences
            ]
        )
    torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(right, alone, atol=1e-5, rtol=1e-5)


def test_head_reads_the_last_non_pad_token(tiny_llama):
    import torch

    from systems.components.text_batching import pad, position_ids
    from systems.text_llm import encode, forward_logits

    tokenizer, model = _tokenizer_and_model(tiny_llama)
    sequences, _ = encode(tokenizer, ["i am glad", "i am angry it was a day"], 32)
    for side in ("right", "left"):
        batch = pad(sequences, tokenizer.pad_token_id, side=side)
        with torch.no_grad():
            logits = forward_logits(model, batch, decoder=True)
            hidden = model.model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=position_ids(batch["attention_mask"]),
            ).last_hidden_state
        width = batch["input_ids"].shape[1]
        for row, sequence in enumerate(sequences):
            last = len(sequence) - 1 if side == "right" else width - 1
            expected = model.score(hidden[row, last])
            torch.testing.assert_close(logits[row], expected, atol=1e-5, rtol=1e-5)
            # and not from any other position (the pooling really picks one token)
            others = [model.score(hidden[row, j]) for j in range(width) if j != last]
            assert all(not torch.allclose(logits[row], o, atol=1e-4) for o in others)


def test_frozen_encoder_reads_the_last_non_pad_token_for_either_padding(tiny_llama):
    """hf_text without the classifier: the token states a multimodal system reads."""
    import torch

    from systems.components.hf_text import encode, last_token_pool, load_encoder, token_states
    from systems.components.text_batching import pad

    model, tokenizer = load_encoder(str(tiny_llama))
    assert not any(p.requires_grad for p in model.parameters())
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    sequences, _ = encode(tokenizer, ["happy", "i am very sad today it was terrible"], 32)
    pooled = {}
    with torch.no_grad():
        for side in ("left", "right"):
            batch = pad(sequences, tokenizer.pad_token_id, side=side)
            hidden = token_states(model, batch, decoder=True)
            pooled[side] = last_token_pool(hidden, batch["attention_mask"])
        alone = token_states(model, pad(sequences[:1], tokenizer.pad_token_id), decoder=True)
    torch.testing.assert_close(pooled["left"], pooled["right"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pooled["right"][0], alone[0, -1], rtol=1e-4, atol=1e-5)


def test_lora_trains_only_adapters_and_the_head(tiny_llama):
    from transformers import AutoConfig

    from systems.components.lora import count_parameters
    from systems.text_llm import LLAMA_LORA_TARGETS, prepare_lora

    tokenizer, model = _tokenizer_and_model(tiny_llama, num_labels=8)
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    wrapped = prepare_lora(model, rank=4, alpha=8, dropout=0.1, target_modules=LLAMA_LORA_TARGETS)
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable
    assert all("lora_" in n or "modules_to_save.default" in n for n in trainable), trainable
    assert any("score" in n and "modules_to_save" in n for n in trainable)
    assert len(frozen_before) > 0

    config = AutoConfig.from_pretrained(tiny_llama)
    h, i = config.hidden_size, config.intermediate_size
    kv = config.num_key_value_heads * (h // config.num_attention_heads)
    shapes = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]  # q k v o gate up down
    lora = config.num_hidden_layers * sum(4 * (a + b) for a, b in shapes)
    assert count_parameters(wrapped)[0] == lora + h * 8


def test_paper_configuration_parameter_count_on_meta_device():
    """LLaMA-2-7B + LoRA r=256 on q,k,v,o,gate,up,down + an 8-class head: 639,664,128 trainable.

    Per layer: 4 x 256 x (4096 + 4096) for q, k, v, o, plus 3 x 256 x (4096 + 11008) for gate,
    up and down = 19,988,480; x 32 layers = 639,631,360; plus the head 4096 x 8 = 32,768.
    """
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from systems.components.lora import count_parameters
    from systems.text_llm import LLAMA_LORA_TARGETS, prepare_lora

    config = LlamaConfig(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
        max_position_embeddings=4096,
        num_labels=8,
        pad_token_id=2,
    )
    with torch.device("meta"):
        model = LlamaForSequenceClassification(config)
        base_total = count_parameters(model)[1]
        wrapped = prepare_lora(
            model, rank=256, alpha=256, dropout=0.1, target_modules=LLAMA_LORA_TARGETS
        )
    per_layer = 4 * 256 * (4096 + 4096) + 3 * 256 * (4096 + 11008)
    expected = 32 * per_layer + 4096 * 8
    assert per_layer == 19_988_480
    assert expected == 639_664_128
    trainable, total = count_parameters(wrapped)
    assert trainable == expected
    assert base_total == 6_607_376_384  # LLaMA-2-7B without its LM head, plus the score head
    assert total == base_total + expected  # LoRA factors + the trainable copy of the head


def test_categorical_fit_drops_o_x_and_sets_the_training_prior(tiny_llama, toy_data):
    from harness.prior import class_prior

    train, dev = toy_data
    system = tiny_system(tiny_llama, epochs=1).fit(train, dev, task="categorical", classes=CLASSES)
    scored = train[train["label"].isin(CLASSES)]
    assert system.dropped_train_rows_ == len(train) - len(scored) > 0
    np.testing.assert_allclose(system.class_prior_, class_prior(scored["label"], CLASSES))
    predictions = system.predict(dev)
    assert list(predictions.columns) == list(CLASSES)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0)
    report = system.report()
    assert report["dropped_train_rows"] == system.dropped_train_rows_
    assert 0 < report["trainable_parameters"] < report["total_parameters"]


def test_regression_head_learns_with_the_ccc_loss(tiny_llama, toy_data):
    train, dev = toy_data
    system = tiny_system(tiny_llama, epochs=4).fit(train, dev, task="attributes", classes=CLASSES)
    losses = system.history_["loss"]
    assert losses[-1] < losses[0] - 0.2, losses  # negative mean CCC goes down
    assert max(system.history_["dev"]) > 0.2
    predictions = system.predict(dev)
    assert list(predictions.columns) == ["arousal", "valence", "dominance"]
    # back on the 1-7 scale: valence of "happy" sentences high, "sad" ones low
    happy = dev["text"].str.contains("happy|glad|great").to_numpy()
    sad = dev["text"].str.contains("sad|terrible").to_numpy()
    assert predictions["valence"][happy].mean() > predictions["valence"][sad].mean() + 0.5
    assert 1 < predictions.to_numpy().mean() < 7


def test_save_load_and_resume_give_identical_outputs(tiny_llama, toy_data, tmp_path):
    from systems.text_llm import TextLLM

    train, dev = toy_data
    work = tmp_path / "work"
    system = tiny_system(tiny_llama, work_dir=str(work)).fit(
        train, dev, task="categorical", classes=CLASSES
    )
    expected = system.predict(dev)
    system.save(tmp_path / "saved")
    loaded = TextLLM.load(tmp_path / "saved")
    pd.testing.assert_frame_equal(loaded.predict(dev), expected, atol=1e-6, rtol=0)
    assert loaded.report()["best_epoch"] == system.report()["best_epoch"]
    # A second fit over the same work_dir finds the finished run and restores its best epoch.
    again = tiny_system(tiny_llama, work_dir=str(work)).fit(
        train, dev, task="categorical", classes=CLASSES
    )
    assert again.history_["steps"] == system.history_["steps"]
    pd.testing.assert_frame_equal(again.predict(dev), expected, atol=1e-6, rtol=0)


def test_interrupted_fit_resumes_from_the_last_epoch(tiny_llama, toy_data, tmp_path, monkeypatch):
    from systems.components import training

    class Interrupted(Exception):
        pass

    real_checkpoint = training._checkpoint

    def checkpoint_then_die(directory, epoch, *args, **kwargs):
        real_checkpoint(directory, epoch, *args, **kwargs)
        raise Interrupted(f"killed after epoch {epoch}")

    train, dev = toy_data
    work = str(tmp_path / "work")
    params = dict(lora_dropout=0.1)  # dropout: the resumed run must also restore the RNG
    straight = tiny_system(tiny_llama, **params).fit(
        train, dev, task="categorical", classes=CLASSES
    )
    monkeypatch.setattr(training, "_checkpoint", checkpoint_then_die)
    with pytest.raises(Interrupted):
        tiny_system(tiny_llama, work_dir=work, **params).fit(
            train, dev, task="categorical", classes=CLASSES
        )
    monkeypatch.setattr(training, "_checkpoint", real_checkpoint)
    (state_file,) = Path(work).glob("categorical-*/last/state.json")
    interrupted = json.loads(state_file.read_text())
    assert interrupted["epoch"] == 1

    resumed = tiny_system(tiny_llama, work_dir=work, **params).fit(
        train, dev, task="categorical", classes=CLASSES
    )
    assert len(resumed.history_["loss"]) == 2
    assert resumed.history_["loss"][0] == interrupted["history"]["loss"][0]
    batches = -(-int(train["label"].isin(CLASSES).sum()) // 16)
    assert resumed.history_["steps"] == 2 * batches  # epoch 1 was not trained again
    # same batches per (seed, epoch), same RNG: the resumed run is the uninterrupted run
    np.testing.assert_allclose(resumed.history_["loss"], straight.history_["loss"], rtol=1e-6)
    pd.testing.assert_frame_equal(resumed.predict(dev), straight.predict(dev), atol=1e-6, rtol=0)
    # A changed configuration never resumes the old checkpoint.
    other = tiny_system(tiny_llama, work_dir=work, lr=1e-3, epochs=1)
    other.fit(train, dev, task="categorical", classes=CLASSES)
    assert len(list(Path(work).glob("categorical-*"))) == 2


@pytest.mark.parametrize("backbone", ["/nonexistent/llama-2-7b", "meta-llama/Llama-2-7b-hf"])
def test_missing_backbone_is_one_clear_line(backbone, toy_data):
    from systems.text_llm import TextLLM

    train, dev = toy_data
    with pytest.raises(MissingModelError) as caught:
        TextLLM(**paper_params(backbone=backbone, progress=False)).fit(
            train, dev, task="categorical", classes=CLASSES
        )
    message = str(caught.value)
    assert "\n" not in message
    assert backbone in message and "backbone=" in message
    error = caught.value
    assert error.__cause__ is None  # no chained traceback behind the one line
    assert error.__context__ is None or error.__suppress_context__


def test_long_text_is_truncated_at_the_end_and_counted(tiny_llama, toy_data, caplog):
    from systems.text_llm import encode

    tokenizer, _ = _tokenizer_and_model(tiny_llama)
    long_text = "i am happy " + "it was a very sad day " * 10
    (ids, short), truncated = encode(tokenizer, [long_text, "i am calm"], 8)
    assert truncated == 1
    assert len(ids) == 8 and len(short) == 4
    assert tokenizer.convert_ids_to_tokens(ids) == [
        "<s>",
        "i",
        "am",
        "happy",
        "it",
        "was",
        "a",
        "very",
    ]

    train, dev = toy_data
    system = tiny_system(tiny_llama, epochs=1, max_length=8)
    system.fit(train, dev, task="categorical", classes=CLASSES)
    frame = make_manifest(
        pd.DataFrame({"id": ["long", "short"], "text": [long_text, "i am calm"]}), "t"
    )
    with caplog.at_level(logging.WARNING, logger="systems.text_llm"):
        predictions = system.predict(frame)
    assert len(predictions) == 2
    assert system.report()["text"]["predict"]["truncated"] == 1
    assert "truncated" in caplog.text


def test_empty_text_is_counted_and_still_predicted(tiny_llama, toy_data, caplog):
    train, dev = toy_data
    train = train.copy()
    train.loc[0, "text"] = pd.NA
    system = tiny_system(tiny_llama, epochs=1)
    with caplog.at_level(logging.WARNING):
        system.fit(train, dev, task="attributes", classes=CLASSES)
    assert system.report()["text"]["train"]["empty"] == 1
    frame = make_manifest(
        pd.DataFrame({"id": ["a", "b", "c", "d"], "text": [pd.NA, "", "   ", "i am glad"]}), "t"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        predictions = system.predict(frame)
    assert list(predictions.index) == ["a", "b", "c", "d"]
    assert np.isfinite(predictions.to_numpy()).all()
    assert system.report()["text"]["predict"]["empty"] == 3
    assert "3 of 4" in caplog.text


def test_all_empty_training_text_is_an_error(tiny_llama, toy_data):
    train, dev = toy_data
    train = train.assign(text=pd.NA)
    with pytest.raises(HarnessError, match="every training transcript is empty"):
        tiny_system(tiny_llama).fit(train, dev, task="categorical", classes=CLASSES)


def test_4bit_without_bitsandbytes_is_one_line(tiny_llama, toy_data):
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("bitsandbytes is installed; see test_4bit_lora_trains_on_cpu")
    train, dev = toy_data
    with pytest.raises(MissingDependencyError) as caught:
        tiny_system(tiny_llama, load_in_4bit=True).fit(
            train, dev, task="categorical", classes=CLASSES
        )
    assert "bitsandbytes" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.slow
def test_4bit_lora_trains_on_cpu(tiny_llama, toy_data, tmp_path):
    bnb = pytest.importorskip("bitsandbytes")
    from systems.text_llm import TextLLM

    train, dev = toy_data
    system = tiny_system(tiny_llama, load_in_4bit=True, epochs=3).fit(
        train, dev, task="categorical", classes=CLASSES
    )
    layers = [m for m in system.model_.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and all(m.support_avx512bf16_for_cpu is False for m in layers)
    assert all(m.weight.quant_state.quant_type == "nf4" for m in layers)
    losses = system.history_["loss"]
    assert losses[-1] < losses[1] < losses[0]  # gradients still flow after the dev (eval) passes
    system.save(tmp_path / "q")
    pd.testing.assert_frame_equal(
        TextLLM.load(tmp_path / "q").predict(dev), system.predict(dev), atol=1e-6, rtol=0
    )


# -- encoders, aliases and configs ------------------------------------------------------------
def test_minilm_alias_resolves_to_the_wheel():
    from systems.text_llm import resolve_backbone

    path = Path(resolve_backbone("minilm"))
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    assert resolve_backbone("/some/dir") == "/some/dir"


def test_text_roberta_fine_tunes_an_encoder_fully(toy_data, tmp_path):
    from systems.text_llm import TextRoberta

    train, dev = toy_data
    system = TextRoberta(
        **paper_params(
            "text_roberta", backbone="minilm", epochs=1, max_length=16, lr=1e-4, progress=False
        )
    )
    system.fit(train.iloc[:48], dev.iloc[:16], task="categorical", classes=CLASSES)
    report = system.report()
    assert report["lora"] is False
    assert report["trainable_parameters"] == report["total_parameters"]
    assert system.padding_side_ == "right" and not system.decoder_
    predictions = system.predict(dev.iloc[:16])
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0)
    system.save(tmp_path / "enc")
    pd.testing.assert_frame_equal(
        TextRoberta.load(tmp_path / "enc").predict(dev.iloc[:16]), predictions, atol=1e-6, rtol=0
    )


@pytest.mark.parametrize("name", ["text_llm", "text_roberta"])
def test_configs_build_the_system_with_every_profile(name):
    from harness.config import system_defaults
    from harness.system import system_class

    config = system_defaults(name)
    cls = system_class(name)
    assert config["system"] == name and set(config["tasks"]) <= set(cls.tasks)
    paper = cls.from_params({**config["params"], "seed": 0})
    assert isinstance(paper.lr, float) and paper.batch_size == 16
    for profile in config.get("profiles") or {}:
        cls.from_params(paper_params(name, profile=profile))
    assert "demo" in config["profiles"]


def test_paper_defaults():
    from systems.text_llm import LLAMA_LORA_TARGETS, TextLLM, TextRoberta

    llm = TextLLM(**paper_params())
    assert llm.backbone == "meta-llama/Llama-2-7b-hf"
    assert (llm.lora_rank, llm.lora_alpha, llm.lora_dropout) == (256, 256, 0.1)
    assert tuple(llm.lora_target_modules) == LLAMA_LORA_TARGETS
    assert (llm.lr, llm.batch_size, llm.epochs) == (2e-5, 16, 40)
    roberta = TextRoberta(**paper_params("text_roberta"))
    assert roberta.backbone == "roberta-large" and roberta.lora is False


# -- learning on the demo corpus --------------------------------------------------------------
def _demo_manifest(request, name: str) -> pd.DataFrame:
    try:
        corpus = request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.skip(f"fixture {name} is not available")
    return getattr(corpus, "manifest", corpus)


def _balanced(frame: pd.DataFrame, classes, n: int, seed: int = 0) -> pd.DataFrame:
    parts = [
        group.sample(min(n, len(group)), random_state=seed)
        for label, group in frame.groupby("label")
        if label in classes
    ]
    return pd.concat(parts).reset_index(drop=True)


def _demo_system(name: str):
    from harness.config import system_defaults
    from harness.system import system_class

    config = system_defaults(name)
    params = {**config["params"], **config["profiles"]["demo"], "progress": False, "seed": 0}
    return system_class(name).from_params(params)


@pytest.mark.slow
def test_demo_configuration_beats_chance_on_held_out_demo_data(request):
    from sklearn.metrics import f1_score

    import scoring

    manifest = _demo_manifest(request, "demo_corpus_small")
    odyssey = ("A", "S", "H", "U", "F", "D", "C", "N")
    train = manifest[manifest["split"] == "Train"]
    dev = _balanced(manifest[manifest["split"] == "Development"], odyssey, 10)
    held_out = manifest[~manifest["split"].isin(["Train", "Development"])]
    held_out = held_out[held_out["label"].isin(odyssey)]
    system = _demo_system("text_llm").fit(train, dev, task="categorical", classes=odyssey)
    predicted = system.predict(held_out).idxmax(axis=1)
    f1 = f1_score(held_out["label"], predicted, labels=list(odyssey), average="macro")
    assert f1 > 0.25, f1  # chance is 0.125

    system = _demo_system("text_llm").fit(train, dev, task="attributes", classes=odyssey)
    values = system.predict(held_out)
    cccs = [scoring.ccc(values[a].to_numpy(), held_out[a].to_numpy()) for a in values.columns]
    assert np.mean(cccs) > 0.2, cccs  # measured 0.38


@pytest.mark.slow
def test_text_roberta_learns_emospeech_task1_on_the_spanish_demo_corpus(tmp_path):
    """EmoSpeech Task 1 with the demo encoder: 6 Spanish classes, held-out Test beats chance."""
    from sklearn.metrics import f1_score

    from harness.data.demo import load_demo_corpus

    manifest = load_demo_corpus(lang="es", n=400, seed=0, cache_dir=tmp_path).manifest
    classes = ("anger", "disgust", "fear", "joy", "neutral", "sadness")
    train = manifest[manifest["split"] == "Train"]
    dev = manifest[manifest["split"] == "Development"]
    test = manifest[~manifest["split"].isin(["Train", "Development"])]
    system = _demo_system("text_roberta")
    system.fit(train, dev, task="categorical", classes=classes)
    predictions = system.predict(test)
    assert list(predictions.columns) == list(classes)
    assert list(predictions.index) == test["id"].tolist()
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0)
    assert system.class_prior_.shape == (6,)
    f1 = f1_score(test["label"], predictions.idxmax(axis=1), labels=list(classes), average="macro")
    assert f1 > 0.3, f1  # chance is 1/6; measured 0.51
