"""Back-ends: LDA+LR without O/X, the uniform-prior bias shift, PLDA, and round trips."""

from __future__ import annotations

import numpy as np
import pytest

from harness.prior import bias_shift
from systems.components.backends import LdaLrBackend, PldaBackend, _LdaBackend, make_backend

CLASSES = tuple("ASHUFDCN")


def _data(seed: int = 0, n: int = 3000, dim: int = 24):
    """Gaussian classes with a neutral-dominant prior, plus O and X rows drawn from their own means."""
    rng = np.random.default_rng(seed)
    codes = [*CLASSES, "O", "X"]
    prior = np.array([0.06, 0.06, 0.1, 0.03, 0.02, 0.03, 0.05, 0.45, 0.1, 0.1])
    labels = rng.choice(codes, size=n, p=prior)
    means = {c: rng.normal(size=dim) * 1.2 for c in codes}
    x = np.stack([means[c] + rng.normal(size=dim) * 1.5 for c in labels])
    return x, labels


@pytest.mark.parametrize("kind", ["lda_lr", "plda"])
def test_uniform_prior_matches_bayes_formula(kind: str) -> None:
    """p'(y|x) ∝ p(y|x) · target(y) / train(y), the DESIGN.md prior-correction rule."""
    x, labels = _data()
    backend = make_backend(kind, lda_dims=15).fit(x, labels, CLASSES)
    train = backend.predict_proba(x, prior="train")
    uniform = backend.predict_proba(x)
    target = np.full(8, 1 / 8)
    expected = train * target / backend.train_prior_
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(uniform, expected, atol=1e-9)
    np.testing.assert_allclose(backend.target_prior(), target)


def test_lr_bias_shift_is_log_target_minus_log_train() -> None:
    x, labels = _data()
    backend = LdaLrBackend().fit(x, labels, CLASSES)
    scored = labels[np.isin(labels, CLASSES)]
    frequencies = np.array([(scored == c).mean() for c in CLASSES])
    np.testing.assert_allclose(backend.train_prior_, frequencies)
    np.testing.assert_allclose(
        backend.bias() - backend.bias("train"), bias_shift(frequencies, np.full(8, 1 / 8))
    )


def test_o_and_x_are_not_used_and_lda_has_at_most_15_dims() -> None:
    x, labels = _data()
    backend = LdaLrBackend(lda_dims=15).fit(x, labels, CLASSES)
    assert backend.n_train_ == int(np.isin(labels, CLASSES).sum())
    assert backend.projection_.shape == (24, 7)  # min(15, 8 - 1)
    assert backend.predict_proba(x).shape == (len(x), 8)


def test_uniform_prior_helps_macro_recall_on_balanced_data() -> None:
    from sklearn.metrics import recall_score

    x, labels = _data(seed=0)
    backend = LdaLrBackend().fit(x, labels, CLASSES)
    test_x, test_labels = _data(seed=0, n=6000)  # same class means, fresh samples
    keep = np.isin(test_labels, CLASSES)
    scores = {}
    for prior in ("train", "target"):
        predicted = np.asarray(CLASSES)[backend.predict_proba(test_x[keep], prior=prior).argmax(1)]
        scores[prior] = recall_score(test_labels[keep], predicted, average="macro")
    assert scores["target"] > scores["train"]


@pytest.mark.parametrize("backend_class", [LdaLrBackend, PldaBackend])
def test_state_round_trip_without_pickle(backend_class, tmp_path) -> None:
    x, labels = _data()
    backend = backend_class(lda_dims=5).fit(x, labels, CLASSES)
    backend.save(tmp_path / "backend.npz")
    loaded = _LdaBackend.load(tmp_path / "backend.npz")
    assert type(loaded) is backend_class
    np.testing.assert_array_equal(loaded.predict_proba(x), backend.predict_proba(x))
    assert loaded.report() == backend.report()


def test_absent_class_gets_a_small_finite_probability() -> None:
    x, labels = _data()
    keep = labels != "F"
    backend = LdaLrBackend().fit(x[keep], labels[keep], CLASSES)
    probs = backend.predict_proba(x)
    assert np.isfinite(probs).all() and np.allclose(probs.sum(1), 1)
    assert probs[:, CLASSES.index("F")].max() < 1e-5


def test_two_classes_work() -> None:
    x, labels = _data()
    keep = np.isin(labels, ["A", "N"])
    backend = LdaLrBackend().fit(x[keep], labels[keep], ("A", "N"))
    probs = backend.predict_proba(x[keep])
    accuracy = (np.array(["A", "N"])[probs.argmax(1)] == labels[keep]).mean()
    assert accuracy > 0.9


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown back-end"):
        make_backend("svm")


@pytest.mark.parametrize("kind", ["lda_lr", "plda"])
def test_target_prior_train_keeps_the_training_prior(kind: str) -> None:
    """``target_prior=train`` (no shift) used to raise after the network had trained."""
    x, labels = _data()
    backend = make_backend(kind, lda_dims=15, target="train").fit(x, labels, CLASSES)
    np.testing.assert_allclose(backend.target_prior(), backend.train_prior_)
    np.testing.assert_allclose(backend.predict_proba(x), backend.predict_proba(x, prior="train"))
