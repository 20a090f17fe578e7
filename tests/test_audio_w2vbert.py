"""audio_w2vbert: the real code path (LoRA, masking, head, back-end, resume) on tiny configs.

Tiny ``Wav2Vec2BertConfig``s keep each fit to seconds; the synthetic corpus has pitch-coded
classes so a few epochs suffice to learn. The learning test uses the ``demo_corpus_small``
fixture when the demo corpus exists, else a synthetic held-out split.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.data.audio import write_audio
from harness.data.manifest import make_manifest
from harness.errors import HarnessError, MissingModelError
from scoring import ccc
from systems.components.params import yaml_params
from systems.components.speech_model import MODEL_PARAMS
from systems.components.synthetic_speech import synthetic_corpus

CLASSES = ("A", "S", "H", "U", "F", "D", "C", "N")
TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_depthwise_kernel_size": 7,
    "apply_spec_augment": False,
}
PAPER = yaml_params("audio_w2vbert")
MODEL = {key: PAPER[key] for key in MODEL_PARAMS}
"""The paper's build_model settings, from the YAML; tests override what they vary."""
FAST = {
    **PAPER,
    "scratch_config": TINY,
    "finetune": "full",
    "embedding_dim": 32,
    "pooling_hidden": 16,
    "epochs": 2,
    "lr": 3e-3,
    "batch_size": 8,
    "effective_batch": 16,
    "chunk_seconds": [1.0, 1.5],
    "attribute_chunk_seconds": [1.0, 1.5],
    "finetune_chunk_seconds": [2.0, 2.5],
    "finetune_epochs": 1,
    "lda_dims": 3,
    "cpu": True,
    "seed": 0,
}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, OpenMP spinning makes 2 threads slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pd.DataFrame:
    return synthetic_corpus(tmp_path_factory.mktemp("w2v_synth"))


def _split(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame[frame["split"] == name].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(corpus):
    """One tiny categorical system shared by the read-only tests."""
    from systems.audio_w2vbert import AudioW2VBert

    system = AudioW2VBert(**{**FAST, "extra_backends": ["plda"]})
    return system.fit(
        _split(corpus, "Train"), _split(corpus, "Development"), task="categorical", classes=CLASSES
    )


def _macro_f1(truth, predictions: pd.DataFrame) -> float:
    from sklearn.metrics import f1_score

    predicted = np.asarray(predictions.columns)[predictions.to_numpy().argmax(axis=1)]
    present = sorted(set(truth))
    return float(f1_score(list(truth), predicted, labels=present, average="macro", zero_division=0))


# -- model pieces --------------------------------------------------------------------------------
def _tiny_backbone(**extra):
    from systems.components.speech_model import load_backbone

    return load_backbone("unused", scratch_config={**TINY, **extra}, seed=0)


def test_lora_wraps_the_conformer_attention_of_a_tiny_wav2vec2bert() -> None:
    import torch

    from systems.components.speech_features import FbankFeatures
    from systems.components.speech_model import build_model

    model = build_model(
        _tiny_backbone(num_hidden_layers=2),
        **{
            **MODEL,
            "finetune": "lora",
            "lora_rank": 4,
            "lora_alpha": 4,
            "embedding_dim": 16,
            "pooling_hidden": 8,
        },
        outputs=10,
        task="categorical",
    )
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    for layer in range(2):
        for target in ("linear_q", "linear_k", "linear_v", "linear_out"):
            assert any(f"layers.{layer}.self_attn.{target}.lora_A" in n for n in names)
    assert not any("lora" not in n and n.startswith("backbone.") for n in names)  # base frozen
    assert any(n.startswith("head.") for n in names)
    inputs = FbankFeatures()(
        [np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1] * 2
    )
    model.train()
    model(**inputs)["output"].sum().backward()
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.grad is not None for p in lora_b)
    assert torch.isfinite(torch.stack([p.grad.abs().sum() for p in lora_b])).all()


def test_gradient_checkpointing_gives_the_same_gradients() -> None:
    import torch

    from systems.components.speech_features import FbankFeatures
    from systems.components.speech_model import build_model

    inputs = FbankFeatures()(
        [np.random.default_rng(0).standard_normal(12_000).astype(np.float32)] * 2
    )
    gradients = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = build_model(
            _tiny_backbone(num_hidden_layers=2),
            **{
                **MODEL,
                "finetune": "lora",
                "lora_rank": 4,
                "lora_alpha": 4,
                "lora_dropout": 0.0,
                "embedding_dim": 8,
                "pooling_hidden": 4,
                "gradient_checkpointing": checkpointing,
            },
            outputs=4,
            task="categorical",
        ).train()
        model(**inputs)["output"].sum().backward()
        gradients.append(
            {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        )
    assert gradients[0].keys() == gradients[1].keys() and any("lora_A" in n for n in gradients[0])
    for name, grad in gradients[0].items():
        torch.testing.assert_close(gradients[1][name], grad, rtol=1e-4, atol=1e-6)


def test_paper_configuration_has_about_8m_trainable_parameters_on_meta() -> None:
    from systems.components.speech_model import paper_trainable_parameters

    counts = paper_trainable_parameters()
    assert counts["lora"] == 24 * 4 * 32 * (1024 + 1024)  # r x (in + out) per projection
    assert 7_000_000 <= counts["trainable"] <= 9_000_000, counts
    assert counts["total"] > 580_000_000  # the whole 600M encoder was built, without memory


def test_batchnorm_head_handles_single_item_batches_and_tanh_attributes() -> None:
    import torch

    from systems.components.speech_model import EmotionHead

    torch.manual_seed(0)
    settings = {"pooling": "attentive", "kind": "dense_bn", "dropout": 0.5}
    head = EmotionHead(
        8, 10, task="categorical", embedding_dim=6, pooling_hidden=4, **settings
    ).train()
    frames, mask = torch.randn(4, 12, 8), torch.ones(4, 12, dtype=torch.long)
    out = head(frames, mask)
    assert out["output"].shape == (4, 10) and out["embedding"].shape == (4, 6)
    assert isinstance(head.norm, torch.nn.BatchNorm1d) and head.norm.num_batches_tracked == 1
    assert torch.isfinite(head(frames[:1], mask[:1])["output"]).all()  # a last batch of one
    regression = EmotionHead(
        8, 3, task="attributes", embedding_dim=6, pooling_hidden=4, **settings
    ).eval()
    embedding = regression(frames, mask)["embedding"]
    expected = regression.output(torch.tanh(embedding))
    torch.testing.assert_close(regression(frames, mask)["output"], expected)


def test_fbank_features_match_seamless_m4t_extractor() -> None:
    from transformers import SeamlessM4TFeatureExtractor

    from systems.components.speech_features import FbankFeatures

    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (24_000, 16_321, 9_000)]
    reference = SeamlessM4TFeatureExtractor()(
        waves, sampling_rate=16_000, return_tensors="np", padding=True
    )
    ours = FbankFeatures()(waves)
    mask = ours["attention_mask"].numpy()
    frames = mask.shape[1]
    np.testing.assert_array_equal(reference["attention_mask"][:, :frames], mask)
    valid = mask.astype(bool)
    np.testing.assert_allclose(
        ours["input_features"].numpy()[valid],
        reference["input_features"][:, :frames][valid],
        atol=2e-3,
    )


def test_whole_model_output_does_not_depend_on_batch_padding() -> None:
    import torch

    from systems.components.speech_features import FbankFeatures
    from systems.components.speech_model import build_model

    model = build_model(
        _tiny_backbone(),
        **{**MODEL, "finetune": "full", "embedding_dim": 8, "pooling_hidden": 4},
        outputs=4,
        task="categorical",
    ).eval()
    rng = np.random.default_rng(0)
    short = (0.1 * rng.standard_normal(12_000)).astype(np.float32)
    longer = (0.1 * rng.standard_normal(30_000)).astype(np.float32)
    frontend = FbankFeatures()
    with torch.no_grad():
        alone = model(**frontend([short]))["output"][0]
        padded = model(**frontend([short, longer]))["output"][0]
    torch.testing.assert_close(alone, padded, rtol=1e-4, atol=1e-4)


def test_short_utterance_is_used_whole_not_repeated() -> None:
    from systems.components.audio_data import random_chunk

    rng = np.random.default_rng(0)
    short, long = np.arange(8_000, dtype=np.float32), np.arange(80_000, dtype=np.float32)
    assert random_chunk(short, 32_000, rng) is short  # padded later in the batch, and masked
    chunk = random_chunk(long, 32_000, rng)
    assert chunk.size == 32_000 and np.all(np.diff(chunk) == 1)  # one contiguous window


def test_balanced_draw_gives_every_category_equally() -> None:
    from systems.components.audio_data import balanced_draw

    labels = np.array(["N"] * 90 + ["A"] * 8 + ["S"] * 2)
    drawn = balanced_draw(labels, 99, np.random.default_rng(0))
    counts = {c: int((labels[drawn] == c).sum()) for c in "NAS"}
    assert len(drawn) == 99 and max(counts.values()) - min(counts.values()) <= 1


def test_bucketed_batches_cover_everything_once_with_little_padding() -> None:
    from systems.components.batching import BucketBatchSampler, bucket_batches, padding_fraction

    lengths = np.random.default_rng(0).uniform(1, 10, size=500)
    batches = bucket_batches(lengths, max_batch_size=16, max_padded=80)
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(len(b) <= 16 and (len(b) == 1 or lengths[b].max() * len(b) <= 80) for b in batches)
    assert lengths[batches[0]].max() == lengths.max()  # longest first: out-of-memory shows early
    order = np.random.default_rng(1).permutation(500)
    random_batches = [order[i : i + 16].tolist() for i in range(0, 500, 16)]
    assert padding_fraction(lengths, batches) < 0.1 < padding_fraction(lengths, random_batches)
    sampler = BucketBatchSampler(lengths, max_batch_size=16, shuffle=True, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first and sorted(i for b in second for i in b) == list(range(500))
    assert list(sampler) == second  # reproducible within an epoch


# -- the system ----------------------------------------------------------------------------------
def test_predictions_keep_only_scored_classes_and_variants(fitted, corpus) -> None:
    from harness.data import predictions as P

    test = _split(corpus, "Test3")
    assert fitted.outputs_ == (*CLASSES, "O", "X")
    predictions = fitted.predict(test)
    P.check(predictions, "categorical", CLASSES)
    main, variants = fitted.predict_with_variants(test)
    pd.testing.assert_frame_equal(main, predictions)
    assert set(variants) == {
        "softmax",
        "softmax_uniform",
        "lda_lr",
        "lda_lr_train_prior",
        "plda",
        "plda_train_prior",
    }
    pd.testing.assert_frame_equal(variants["lda_lr"], predictions)
    for frame in variants.values():
        P.check(frame, "categorical", CLASSES)
    np.testing.assert_allclose(fitted.training_prior(), np.full(8, 1 / 8))
    report = fitted.report()
    # Scratch: everything trains except SpecAugment's mask vector (masking is off; DDP needs it frozen).
    assert report["total_parameters"] - report["trainable_parameters"] == TINY["hidden_size"]
    assert report["training"][0]["num_processes"] == 1


def test_embeddings_are_what_the_backend_classifies(fitted, corpus) -> None:
    test = _split(corpus, "Test3")
    embeddings = fitted.embeddings(test)
    assert embeddings.shape == (len(test), 32)
    np.testing.assert_allclose(
        fitted.backends_["lda_lr"].predict_proba(embeddings),
        fitted.predict(test).to_numpy(),
        atol=1e-12,
    )


def test_save_and_load_give_identical_predictions(fitted, corpus, tmp_path) -> None:
    from systems.audio_w2vbert import AudioW2VBert

    test = _split(corpus, "Test3")
    fitted.save(tmp_path / "model")
    loaded = AudioW2VBert.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.predict(test), fitted.predict(test))
    loaded_variants = loaded.predict_with_variants(test)[1]
    for name, frame in fitted.predict_with_variants(test)[1].items():
        pd.testing.assert_frame_equal(loaded_variants[name], frame)


def test_short_silent_and_resampled_audio(fitted, corpus, tmp_path) -> None:
    """Shorter than a chunk (used whole, padded), 10 ms, pure silence, and a 44.1 kHz file."""
    import soxr

    from harness.data.audio import load_audio

    source = _split(corpus, "Test3").iloc[0]
    original = load_audio(source["path"])
    write_audio(tmp_path / "short.wav", original[:4_000])  # 0.25 s < 1 s chunk
    write_audio(tmp_path / "tiny.wav", original[:160])  # 10 ms
    write_audio(tmp_path / "silence.wav", np.zeros(16_000, np.float32))
    write_audio(tmp_path / "hifi.wav", soxr.resample(original, 16_000, 44_100), sample_rate=44_100)
    names = ["short", "tiny", "silence", "hifi"]
    frame = make_manifest(
        pd.DataFrame(
            {
                "id": names,
                "path": [str(tmp_path / f"{n}.wav") for n in names],
                "split": "Test3",
                "duration": [0.25, 0.01, 1.0, source["duration"]],
            }
        ),
        "edge cases",
    )
    predictions = fitted.predict(frame)
    assert np.isfinite(predictions.to_numpy()).all()
    reference = fitted.predict(_split(corpus, "Test3").iloc[[0]])
    np.testing.assert_allclose(
        predictions.loc["hifi"].to_numpy(), reference.iloc[0].to_numpy(), atol=0.05
    )


def test_missing_augmentation_directory_is_a_clear_error(corpus, tmp_path) -> None:
    from systems.audio_w2vbert import AudioW2VBert

    system = AudioW2VBert(**{**FAST, "noise_dir": str(tmp_path / "musan" / "noise")})
    with pytest.raises(HarnessError, match="noise_dir"):
        system.fit(
            _split(corpus, "Train"),
            _split(corpus, "Development"),
            task="categorical",
            classes=CLASSES,
        )


def test_missing_paper_weights_fail_with_one_line(corpus, tmp_path, monkeypatch) -> None:
    from systems.audio_w2vbert import AudioW2VBert

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for backbone in ("facebook/w2v-bert-2.0", str(tmp_path / "not-there")):
        with pytest.raises(MissingModelError) as error:
            AudioW2VBert(**{**PAPER, "backbone": backbone, "seed": 0}).fit(
                _split(corpus, "Train"), None, task="categorical", classes=CLASSES
            )
        assert "backbone=" in str(error.value) and "\n" not in str(error.value)


def test_a_directory_without_weights_says_so(corpus, tmp_path) -> None:
    from systems.audio_w2vbert import AudioW2VBert

    (tmp_path / "config.json").write_text('{"model_type": "wav2vec2-bert"}')
    with pytest.raises(HarnessError, match="cannot load"):
        AudioW2VBert(**{**PAPER, "backbone": str(tmp_path), "seed": 0}).fit(
            _split(corpus, "Train"), None, task="categorical", classes=CLASSES
        )


def test_local_checkpoint_directory_loads_with_lora(corpus, tmp_path) -> None:
    """``backbone=/path`` with transformers weights: LoRA on top, only adapters and head train."""
    from systems.audio_w2vbert import AudioW2VBert

    _tiny_backbone().save_pretrained(tmp_path / "w2v")
    params = {**FAST, "scratch_config": None}
    system = AudioW2VBert(
        **{
            **params,
            "backbone": str(tmp_path / "w2v"),
            "finetune": "lora",
            "lora_rank": 4,
            "lora_alpha": 4,
            "epochs": 1,
        }
    )
    system.fit(
        _split(corpus, "Train"), _split(corpus, "Development"), task="categorical", classes=CLASSES
    )
    report = system.report()
    assert report["trainable_parameters"] < report["total_parameters"] / 2
    system.save(tmp_path / "saved")
    loaded = type(system).load(tmp_path / "saved")
    test = _split(corpus, "Test3")
    pd.testing.assert_frame_equal(loaded.predict(test), system.predict(test))


def test_resume_after_interruption_gives_identical_predictions(
    corpus, tmp_path, monkeypatch
) -> None:
    import systems.components.audio_data as audio_data
    from systems.audio_w2vbert import AudioW2VBert

    train, dev, test = (_split(corpus, s) for s in ("Train", "Development", "Test3"))
    params = {**FAST, "epochs": 3}

    def system(work_dir):
        built = AudioW2VBert(**params)
        built.use_workspace(work_dir=work_dir, cache_dir=None)
        return built

    reference = system(tmp_path / "a").fit(train, dev, task="categorical", classes=CLASSES)

    original = audio_data.ChunkDataset.set_epoch

    def interrupt(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt("simulated interruption")
        original(self, epoch)

    monkeypatch.setattr(audio_data.ChunkDataset, "set_epoch", interrupt)
    with pytest.raises(KeyboardInterrupt):
        system(tmp_path / "b").fit(train, dev, task="categorical", classes=CLASSES)
    monkeypatch.setattr(audio_data.ChunkDataset, "set_epoch", original)
    assert (tmp_path / "b").is_dir() and any((tmp_path / "b").iterdir())
    resumed = system(tmp_path / "b").fit(train, dev, task="categorical", classes=CLASSES)
    assert resumed.history_[0]["loss"] == reference.history_[0]["loss"]
    pd.testing.assert_frame_equal(resumed.predict(test), reference.predict(test))


def test_attributes_two_stages_on_the_challenge_scale(corpus) -> None:
    from systems.audio_w2vbert import AudioW2VBert

    system = AudioW2VBert(**FAST).fit(
        _split(corpus, "Train"), _split(corpus, "Development"), task="attributes", classes=CLASSES
    )
    assert [h["stage"] for h in system.history_] == ["stage1", "stage2"]
    predictions = system.predict(_split(corpus, "Test3"))
    assert list(predictions.columns) == ["arousal", "valence", "dominance"]
    assert predictions.to_numpy().min() >= 1 and predictions.to_numpy().max() <= 7
    main, variants = system.predict_with_variants(_split(corpus, "Test3"))
    assert variants == {}
    pd.testing.assert_frame_equal(main, predictions)
    np.testing.assert_allclose(system._unscale(system._scale(np.array([1.0, 4.0, 7.0]))), [1, 4, 7])


def test_baseline_profile_shape_runs_on_a_tiny_wavlm(corpus) -> None:
    """The odyssey_baseline code path (WavLM, stats pooling, LayerNorm head, weighted CE)."""
    import yaml

    from systems.audio_w2vbert import AudioW2VBert

    config = yaml.safe_load(
        (Path(__file__).parents[1] / "systems/configs/audio_w2vbert.yaml").read_text()
    )
    params = {**config["params"], **config["profiles"]["odyssey_baseline"]}
    params.update(
        scratch_config={
            "model_type": "wavlm",
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "conv_dim": [32, 32],
            "conv_kernel": [10, 8],
            "conv_stride": [5, 64],
            "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 4,
            "apply_spec_augment": False,
        },
        embedding_dim=16,
        pooling_hidden=8,
        epochs=1,
        batch_size=8,
        effective_batch=8,
        chunk_seconds=[1.5, 1.5],
        cpu=True,
        seed=0,
    )
    system = AudioW2VBert(**params).fit(
        _split(corpus, "Train"), None, task="categorical", classes=CLASSES
    )
    assert system.outputs_ == CLASSES  # O and X dropped, as in the baseline
    uniform = np.full(8, 1 / 8)
    np.testing.assert_allclose(
        system.training_prior(), uniform
    )  # weighted CE acts as a uniform prior
    variants = system.predict_with_variants(_split(corpus, "Test3"))[1]
    assert set(variants) == {"softmax", "softmax_uniform"}


def test_module_import_is_cheap() -> None:
    code = "import sys, systems.audio_w2vbert; print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


# -- learning ------------------------------------------------------------------------------------
AROUSAL_GROUP = {**dict.fromkeys("AHUF", "A"), **dict.fromkeys("SNCD", "S")}


@pytest.mark.slow
def test_demo_configuration_learns_on_the_small_demo_corpus(demo_corpus_small) -> None:
    """Held out = Development + Test3 (64 utterances) of the n=160 demo corpus.

    96 training utterances are too few for 8 classes from scratch (macro-F1 stays near chance;
    on the default n=1000 corpus the demo configuration reaches ~0.36 on Test3). Arousal is what
    prosody carries in the demo corpus, so the test asks for it: the categorical system on
    high- vs low-arousal classes (A/H/U/F vs S/N/C/D, chance macro-F1 0.5), and the attribute
    system's arousal CCC (chance 0). A network trained from scratch on 96 utterances depends
    on its initialisation, so the attribute system is trained with three seeds and their median
    arousal CCC must beat chance clearly: on one machine seed 0 alone gave 0.13 while seeds 1-3
    gave 0.50-0.60, so a single seed would test the draw rather than the learning.
    """
    import yaml

    from systems.audio_w2vbert import AudioW2VBert

    config = yaml.safe_load(
        (Path(__file__).parents[1] / "systems/configs/audio_w2vbert.yaml").read_text()
    )
    params = {**config["params"], **config["profiles"]["demo"], "seed": 0}
    manifest = demo_corpus_small.manifest.copy()
    train = manifest[manifest["split"] == "Train"].reset_index(drop=True)
    held_out = manifest[manifest["split"] != "Train"].reset_index(drop=True)

    grouped = train.assign(label=train["label"].map(lambda c: AROUSAL_GROUP.get(c, c)))
    truth = held_out["label"].map(AROUSAL_GROUP)
    system = AudioW2VBert(**params).fit(grouped, None, task="categorical", classes=("A", "S"))
    assert _macro_f1(truth, system.predict(held_out)) > 0.58

    reference = held_out["arousal"].to_numpy()
    cccs = []
    for seed in (0, 1, 2):
        regression = AudioW2VBert(**{**params, "seed": seed}).fit(
            train, None, task="attributes", classes=CLASSES
        )
        cccs.append(ccc(regression.predict(held_out)["arousal"].to_numpy(), reference))
    assert np.median(cccs) > 0.2, cccs


@pytest.mark.slow
def test_ddp_two_processes_match_one_process(tmp_path) -> None:
    """2-process CPU DDP (accelerate launch --multi_gpu) gives the single-process metrics."""
    script = Path(__file__).parents[1] / "benchmarks" / "ddp_audio_demo.py"
    result = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "num_processes=2" in result.stdout
