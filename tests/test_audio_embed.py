"""audio_embed: frozen speech encoders (a tiny transformers wav2vec2 and the CTranslate2 Whisper
encoder), mean+std pooling over each utterance's own frames, the back-ends, caching, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.errors import HarnessError
from systems.audio_embed import AudioEmbed
from systems.components.params import yaml_params
from systems.components.speech_encoders import (
    WHISPER_FRAME_SECONDS,
    WhisperEncoder,
    frame_range,
    mean_std,
    pack,
    split_long,
)

CLASSES = ("A", "S", "H", "N")


def _tone_corpus(tmp_path, n_per_class: int = 8) -> pd.DataFrame:
    """One-second tones whose pitch depends on the class: separable by any sane encoder."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    rows = []
    for c, label in enumerate(CLASSES):
        for i in range(n_per_class):
            t = np.arange(16_000) / 16_000
            pitch = 150 * (c + 1) * (1 + 0.03 * rng.standard_normal())
            wave = 0.3 * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.standard_normal(t.size)
            path = tmp_path / f"{label}{i}.wav"
            sf.write(path, wave.astype(np.float32), 16_000)
            split = (
                "Train"
                if i < n_per_class - 3
                else ("Development" if i < n_per_class - 1 else "Test")
            )
            rows.append({"id": f"{label}{i}", "path": str(path), "label": label, "split": split})
    frame = pd.DataFrame(rows)
    for column, value in (("arousal", 1.0), ("valence", 2.0), ("dominance", 3.0)):
        frame[column] = value + np.arange(len(frame)) % 5
    return frame


def _tiny(**overrides) -> AudioEmbed:
    return AudioEmbed(**yaml_params("audio_embed", "tiny", seed=0, **overrides))


def test_yaml_has_every_parameter_and_the_profiles_build():
    from harness.config import system_defaults

    config = system_defaults("audio_embed")
    assert set(config["params"]) | {"seed"} == set(AudioEmbed.param_names())
    for profile in config["profiles"]:
        AudioEmbed(**yaml_params("audio_embed", profile, seed=0))
    assert {"demo", "tiny"} <= set(config["profiles"])


def test_tiny_wav2vec2_layer_weighting_cache_and_save_load(tmp_path):
    frame = _tone_corpus(tmp_path)
    train, dev = frame[frame.split == "Train"], frame[frame.split == "Development"]
    system = _tiny()
    system.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    system.fit(train, dev, task="categorical", classes=CLASSES)
    hidden_states = yaml_params("audio_embed", "tiny")["scratch_config"]["num_hidden_layers"] + 1
    assert system.layer_weights_.shape == (hidden_states,)
    assert np.isclose(system.layer_weights_.sum(), 1.0)
    assert len(system.report()["layer_dev_scores"]) == hidden_states
    stats = system.embeddings(train)
    assert stats.shape == (len(train), hidden_states, 2 * 32)
    predictions = system.predict(frame)
    assert np.allclose(predictions.to_numpy().sum(axis=1), 1.0)
    # Tones of four pitches: even a random encoder's pooled statistics separate them.
    accuracy = (predictions.to_numpy().argmax(1) == [CLASSES.index(c) for c in frame.label]).mean()
    assert accuracy > 0.5
    system.save(tmp_path / "model")
    loaded = AudioEmbed.load(tmp_path / "model")
    loaded.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(loaded.predict(frame), predictions)
    assert np.array_equal(loaded.training_prior(), system.training_prior())
    # A back-end change reuses the cached embeddings: the encoder is never run again.
    refit = _tiny(backend="lda_lr", layer="last")
    refit.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    refit._encoder().frames = None  # would raise if called
    refit._encoder().load = None  # a refit from cached statistics never loads the weights
    refit.fit(train, dev, task="categorical", classes=CLASSES)
    assert refit.layer_weights_[-1] == 1.0


def test_a_large_train_chooses_its_weighting_on_a_stratified_sample(tmp_path, monkeypatch):
    """Choosing a weighting holds every hidden state of the rows it reads: on a corpus larger
    than weighting_rows, only a class-stratified sample is read whole; every other read keeps
    the chosen weighting, and the back-end is fit on all of Train."""
    frame = _tone_corpus(tmp_path, n_per_class=10)
    train, dev = frame[frame.split == "Train"], frame[frame.split == "Development"]
    system = _tiny(weighting_rows=12)
    system.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    whole_reads: list[int] = []
    original = AudioEmbed.embeddings

    def recording(self, rows, weights=None):
        if weights is None:
            whole_reads.append(len(rows))
        return original(self, rows, weights)

    monkeypatch.setattr(AudioEmbed, "embeddings", recording)
    system.fit(train, dev, task="categorical", classes=CLASSES)
    assert len(train) == 28 and whole_reads == [12, len(dev)]  # 3 of each class, then Dev_bal
    assert system.report()["weighting_train_rows"] == 12 and system.n_train_ == 28
    system.predict(frame)
    assert whole_reads == [12, len(dev)]  # predicting keeps the weighting, block by block


def test_without_a_cache_train_is_encoded_once_when_no_sample_is_drawn(tmp_path):
    """layer=weighted on a Train smaller than weighting_rows chooses on all of it, and the
    back-ends reuse those statistics instead of encoding Train a second time."""
    frame = _tone_corpus(tmp_path)
    train, dev = frame[frame.split == "Train"], frame[frame.split == "Development"]
    system = _tiny()
    system.use_workspace(work_dir=None, cache_dir=None)
    encoder = system._encoder()
    encoded: list[int] = []
    original = encoder.pooled
    encoder.pooled = lambda waves: encoded.append(len(waves)) or original(waves)
    system.fit(train, dev, task="categorical", classes=CLASSES)
    assert sum(encoded) == len(train) + len(dev)


def test_layer_choice_and_attributes(tmp_path):
    frame = _tone_corpus(tmp_path, n_per_class=4)
    system = _tiny(layer=1)
    system.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    system.fit(frame, frame, task="attributes", classes=CLASSES)
    assert system.layer_weights_.tolist() == [0.0, 1.0, 0.0]
    out = system.predict(frame)
    assert list(out.columns) == ["arousal", "valence", "dominance"]
    with pytest.raises(HarnessError, match="layer=7"):
        _tiny(layer=7).fit(frame, frame, task="categorical", classes=CLASSES)


def test_a_categorical_back_end_leaves_attributes_to_ridge(tmp_path):
    """``backend=plda`` (or ``lda_lr``) is for the classes; on an Odyssey run, which fits both
    tasks, the attributes must still be regressed (with ridge, as the YAML says) rather than
    fail after the categorical task has trained."""
    frame = _tone_corpus(tmp_path, n_per_class=4)
    outputs = {}
    for backend in ("lr", "plda"):
        system = _tiny(layer=1, backend=backend)
        system.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
        system.fit(frame, frame, task="attributes", classes=CLASSES)
        outputs[backend] = system.predict(frame)
        assert system.report()["backend"] == "ridge"
        reloaded = type(system).load(_saved(system, tmp_path / backend))
        pd.testing.assert_frame_equal(reloaded.predict(frame), outputs[backend])
    pd.testing.assert_frame_equal(outputs["plda"], outputs["lr"])


def _saved(system, directory):
    system.save(directory)
    return directory


def test_mean_std_pooling_matches_numpy():
    frames = np.random.default_rng(1).standard_normal((2, 5, 3))
    pooled = mean_std(frames)
    assert np.allclose(pooled[..., :3], frames.mean(axis=1), atol=1e-6)
    assert np.allclose(pooled[..., 3:], frames.std(axis=1), atol=1e-6)


def test_packing_spans_and_frames():
    waves = [np.ones(16_000, np.float32), np.ones(8_000, np.float32)]
    packed, spans = pack(waves, 0.5, 30.0)
    assert packed.size == 30 * 16_000
    assert spans == [(0.0, 1.0), (1.5, 2.0)]
    assert frame_range(spans[0], 1500) == (0, 50)
    assert frame_range(spans[1], 1500) == (75, 100)
    pieces = split_long([np.zeros(16_000 * 65, np.float32)], 30.0)
    assert [p.size for _, p in pieces] == [480_000, 480_000, 80_000]


@pytest.fixture(scope="module")
def whisper_waves(demo_corpus_small):
    from harness.data.audio import load_audio

    manifest = demo_corpus_small.manifest
    return [load_audio(p) for p in manifest["path"].head(5)]


def test_whisper_packing_keeps_each_utterances_own_frames(whisper_waves):
    packed_encoder = WhisperEncoder(pack_seconds=30.0)
    single_encoder = WhisperEncoder(pack_seconds=0.0)
    packed = packed_encoder.frames(whisper_waves)
    single = single_encoder.frames(whisper_waves)
    assert packed_encoder.stats["windows"] == 1 and single_encoder.stats["windows"] == 5
    for wave, p, s in zip(whisper_waves, packed, single):
        expected = wave.size / 16_000 / WHISPER_FRAME_SECONDS
        assert p.shape[0] == 1 and p.shape[2] == 384
        assert abs(p.shape[1] - expected) <= 1 and abs(s.shape[1] - expected) <= 1
    a = np.stack([mean_std(f)[0] for f in packed])
    b = np.stack([mean_std(f)[0] for f in single])
    # Packing changes an embedding (attention sees the neighbours), but once standardised, as
    # the back-end sees it, each packed utterance is nearest to its own one-per-window embedding.
    both = np.concatenate([a, b])
    mean, scale = both.mean(axis=0), both.std(axis=0) + 1e-6
    za, zb = (a - mean) / scale, (b - mean) / scale
    distances = np.linalg.norm(za[:, None, :] - zb[None, :, :], axis=2)
    assert (distances.argmin(axis=1) == np.arange(len(a))).all()
    # The standard deviations (over each utterance's own frames) barely move.
    std_a, std_b = a[:, 384:], b[:, 384:]
    cosine = (std_a * std_b).sum(1) / np.linalg.norm(std_a, axis=1) / np.linalg.norm(std_b, axis=1)
    assert cosine.min() > 0.9


def test_one_utterance_per_window_embeds_each_utterance_alone(whisper_waves):
    """The feature store keys an embedding by its audio alone. Packed, an utterance's embedding
    depends on its window's company (here: encoded alone or behind four others); one per
    window, with a short window for speed, it does not."""
    last = whisper_waves[-1]
    packed = WhisperEncoder(pack_seconds=30.0)
    assert not np.allclose(packed.pooled(whisper_waves)[-1], packed.pooled([last])[0], atol=1e-3)
    alone = WhisperEncoder(pack_seconds=0, window_seconds=8.0)
    np.testing.assert_array_equal(alone.pooled(whisper_waves)[-1], alone.pooled([last])[0])


def test_default_whisper_embeddings_do_not_depend_on_the_caches_history(
    demo_corpus_small, tmp_path, monkeypatch
):
    """The store keys an embedding by its audio. With the default (one utterance per window),
    a corpus encoded cold in one chunk, in chunks of 4, or after another run cached a subset
    in another order gets the same embeddings, so a resumed run equals an uninterrupted one.
    (Packed, the same utterance's embedding changed with its window's company.)"""
    from harness.cache import Cache

    rows = demo_corpus_small.manifest.head(10).reset_index(drop=True)

    def embed(cache: str, chunk_rows: int, first: pd.DataFrame | None = None) -> np.ndarray:
        monkeypatch.setitem(Cache.features.__kwdefaults__, "chunk_rows", chunk_rows)
        system = AudioEmbed(**yaml_params("audio_embed", seed=0))
        system.use_workspace(work_dir=None, cache_dir=tmp_path / cache)
        if first is not None:
            system.embeddings(first)
        return system.embeddings(rows)

    cold = embed("one", 256)
    np.testing.assert_array_equal(embed("chunked", 4), cold)
    np.testing.assert_array_equal(embed("history", 3, first=rows.iloc[[7, 2, 5]]), cold)


@pytest.mark.slow
def test_whisper_audio_embed_beats_chance_on_held_out_demo(demo_corpus_small, tmp_path):
    from scipy.stats import binomtest

    from scoring import macro_f1

    manifest = demo_corpus_small.manifest
    train = manifest[manifest.split == "Train"]
    dev = manifest[manifest.split == "Development"]
    test = manifest[manifest.split == "Test3"]
    classes = tuple("ASHUFDCN")
    system = AudioEmbed(**yaml_params("audio_embed", "demo", seed=0))
    system.use_workspace(work_dir=None, cache_dir=tmp_path)
    system.fit(train, dev, task="categorical", classes=classes)
    predictions, variants = system.predict_with_variants(test)
    assert set(variants) == {"backend_lda_lr", "backend_plda"}
    predicted = np.asarray(classes)[predictions.to_numpy().argmax(1)]
    truth = test["label"].to_numpy()
    assert macro_f1(truth, predicted, labels=list(classes)) > 1 / len(classes)
    # 96 Train and 32 Test3 utterances over 8 classes: above chance means more correct answers
    # than guessing gives, one-sided binomial test at 5 %.
    correct = int((predicted == truth).sum())
    assert binomtest(correct, len(truth), 1 / len(classes), alternative="greater").pvalue < 0.05
    system.save(tmp_path / "model")
    loaded = AudioEmbed.load(tmp_path / "model")
    loaded.use_workspace(work_dir=None, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(loaded.predict(test), predictions)


# -- attentive statistics pooling ------------------------------------------------------------------
ATTENTION = {"hidden": 16, "epochs": 30, "lr": 0.01, "weight_decay": 0.0, "batch_size": 16}


def _salient_frames(n: int, seed: int):
    """Two classes told apart only by the sign of a few salient frames among many noise frames.

    Every utterance has the same spikes in magnitude, so the per-dimension standard deviation is
    the same for both classes, and the plain mean moves by a fraction of its own noise: the class
    is in *which* frames carry the spike, which is what attention can learn.
    """
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for i in range(n):
        label = i % 2
        length = int(rng.integers(100, 200))
        x = rng.standard_normal((length, 6)).astype(np.float32)
        spikes = rng.choice(length, size=2, replace=False)
        x[spikes, 0] = 3.0 if label else -3.0
        x[spikes, 1] = 8.0  # the spike detector: the same for both classes
        frames.append(x)
        labels.append(label)
    return frames, np.asarray(labels)


def test_attentive_head_learns_salient_frames_that_mean_std_misses():
    from sklearn.linear_model import LogisticRegression

    from systems.components.attentive_head import apply_head, train_head

    train_frames, train_labels = _salient_frames(200, seed=0)
    dev_frames, dev_labels = _salient_frames(60, seed=1)
    test_frames, test_labels = _salient_frames(200, seed=2)

    def start(pooled):
        model = LogisticRegression(C=0.1).fit(pooled, train_labels)
        return np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2]), np.array([0.0, 0.0])

    head, history = train_head(
        train_frames.__getitem__,
        train_labels,
        task="categorical",
        n_classes=2,
        dim=6,
        params=ATTENTION,
        seed=0,
        linear_start=start,
        dev=(dev_frames.__getitem__, dev_labels),
        score=lambda truth, out: float((out.argmax(1) == truth).mean()),
    )
    _, outputs = apply_head(head, test_frames.__getitem__, len(test_frames), 16)
    attentive = (outputs.argmax(1) == test_labels).mean()
    pooled = np.stack([mean_std(f) for f in train_frames])
    baseline = LogisticRegression(max_iter=2000).fit(pooled, train_labels)
    test_pooled = np.stack([mean_std(f) for f in test_frames])
    plain = (baseline.predict(test_pooled) == test_labels).mean()
    assert history["best_epoch"] >= 1  # training moved away from the mean + std start
    assert attentive > 0.9 and attentive > plain + 0.15, (attentive, plain)


def test_attentive_pooling_ignores_padding_and_batch_company():
    from systems.components.attentive_head import AttentiveStatsHead, apply_head

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    head = AttentiveStatsHead(4, 8, 3)
    torch.nn.init.normal_(head.pool.score[-1].weight)  # non-uniform attention
    rng = np.random.default_rng(0)
    frames = [rng.standard_normal((length, 4)).astype(np.float32) for length in (5, 40, 17)]
    together, _ = apply_head(head, frames.__getitem__, 3, batch_size=3)
    alone = np.vstack([apply_head(head, [f].__getitem__, 1, batch_size=1)[0] for f in frames])
    assert np.allclose(together, alone, atol=1e-5)


def test_attentive_pooling_fit_frame_cache_and_save_load(tmp_path):
    frame = _tone_corpus(tmp_path)
    train, dev = frame[frame.split == "Train"], frame[frame.split == "Development"]
    system = _tiny(pooling="attentive_stats", attention=dict(ATTENTION, epochs=3))
    system.use_workspace(work_dir=tmp_path / "work", cache_dir=tmp_path / "cache")
    system.fit(train, dev, task="categorical", classes=CLASSES)
    predictions, variants = system.predict_with_variants(frame)
    assert set(variants) == {"attentive_head"}
    assert np.allclose(variants["attentive_head"].to_numpy().sum(axis=1), 1.0)
    accuracy = (predictions.to_numpy().argmax(1) == [CLASSES.index(c) for c in frame.label]).mean()
    assert accuracy > 0.5
    assert system.report()["pooling"] == "attentive_stats"
    assert len(system.report()["attentive_head"]["dev"]) == 3
    stored = list((tmp_path / "cache" / "speech_frames").rglob("*.safetensors"))
    assert len(stored) == len(frame)
    system.save(tmp_path / "model")
    loaded = AudioEmbed.load(tmp_path / "model")
    loaded.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    loaded._encoder().frames = None  # every frame comes from the cache: the encoder never runs
    again, again_variants = loaded.predict_with_variants(frame)
    pd.testing.assert_frame_equal(again, predictions)
    pd.testing.assert_frame_equal(again_variants["attentive_head"], variants["attentive_head"])


def test_attentive_pooling_attributes(tmp_path):
    frame = _tone_corpus(tmp_path, n_per_class=4)
    system = _tiny(pooling="attentive_stats", attention=dict(ATTENTION, epochs=2), layer=1)
    system.use_workspace(work_dir=None, cache_dir=None)
    system.fit(frame, frame, task="attributes", classes=CLASSES)
    main, variants = system.predict_with_variants(frame)
    assert list(main.columns) == list(variants["attentive_head"].columns)
    assert list(main.columns) == ["arousal", "valence", "dominance"]


def test_frames_computed_during_an_interrupt_are_not_cached(tmp_path):
    from harness import interrupts

    frame = _tone_corpus(tmp_path, n_per_class=2)
    system = _tiny(pooling="attentive_stats", attention=ATTENTION, layer="last")
    system.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    system.task_, system.classes_ = "categorical", CLASSES
    system.layer_weights_ = np.array([0.0, 0.0, 1.0])
    encoder = system._encoder()
    real = encoder.frames

    def swallowed_interrupt(waves):
        out = real(waves)
        interrupts._State.pending = True  # a Ctrl-C that a native call swallowed
        return out

    encoder.frames = swallowed_interrupt
    with pytest.raises(KeyboardInterrupt):
        system.frame_loader(frame)
    assert not list((tmp_path / "cache").rglob("*.safetensors"))
    encoder.frames = real
    load = system.frame_loader(frame)
    assert load(0).shape[1] == 32
    assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == len(frame)


def test_frame_encoding_shows_a_bar_on_a_terminal(tmp_path, bars):
    """More than one chunk of utterances to encode draws a bar over them, ending at the count."""
    frame = _tone_corpus(tmp_path, n_per_class=3)  # 12 utterances; chunks of 8 with batch 1
    system = _tiny(pooling="attentive_stats", attention=ATTENTION, layer="last", batch_size=1)
    system.use_workspace(work_dir=None, cache_dir=tmp_path / "cache")
    system.task_, system.classes_ = "categorical", CLASSES
    system.layer_weights_ = np.array([0.0, 0.0, 1.0])
    system.frame_loader(frame)
    assert bars == [("audio_embed: encoding frames", 12, 12)]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"pooling": "max"}, "unknown pooling"),
        ({"pooling": "attentive_stats", "attention": {"hidden": 8}}, "attention.epochs"),
        ({"pooling": "attentive_stats", "attention": dict(ATTENTION, lr="fast")}, "attention.lr"),
    ],
)
def test_bad_pooling_values_fail_before_training(overrides, message):
    with pytest.raises(HarnessError, match=message):
        _tiny(**overrides).check_ready()


def test_whisper_frames_are_cached_as_the_encoder_gives_them(demo_corpus_small, tmp_path):
    """The CTranslate2 encoder on a few demo utterances: frame_loader stores each utterance's
    own frames (float16), exactly what WhisperEncoder.frames returns for the same call."""
    from harness.data.audio import load_audio

    rows = demo_corpus_small.manifest.head(5).reset_index(drop=True)
    system = AudioEmbed(**yaml_params("audio_embed", "attentive", seed=0))
    system.use_workspace(work_dir=None, cache_dir=tmp_path)
    system.layer_weights_ = np.array([1.0])
    load = system.frame_loader(rows)
    reference = WhisperEncoder(pack_seconds=0, window_seconds=8.0).frames(
        [load_audio(p) for p in rows["path"]]
    )
    for i, expected in enumerate(reference):
        assert load(i).shape == expected[0].shape
        assert np.allclose(load(i), expected[0], atol=2e-2 * np.abs(expected).max())
