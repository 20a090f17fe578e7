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
    refit.fit(train, dev, task="categorical", classes=CLASSES)
    assert refit.layer_weights_[-1] == 1.0


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


@pytest.mark.slow
def test_whisper_audio_embed_beats_chance_on_held_out_demo(demo_corpus_small, tmp_path):
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
    score = macro_f1(test["label"].to_numpy(), predicted, labels=list(classes))
    assert score > 2 / len(classes)
    system.save(tmp_path / "model")
    loaded = AudioEmbed.load(tmp_path / "model")
    loaded.use_workspace(work_dir=None, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(loaded.predict(test), predictions)
