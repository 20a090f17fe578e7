"""Utterance-embedding back-ends: standardise + LDA, then logistic regression or PLDA.

Why a back-end on top of a network that already has a softmax: the TalTech Odyssey 2024 systems
extract an embedding from the first dense layer after pooling and classify it again with a small,
strongly regularised model. LDA to at most 15 dimensions throws away directions that only
memorise the training speakers; the linear classifier is then trained *without* the O and X
utterances and moved to a uniform prior over the scored classes by shifting its biases, which is
what a balanced test set (Test3) rewards.

Both back-ends are affine maps plus a Gaussian or linear scorer, so their whole state is a few
numpy arrays: :meth:`state` / :meth:`from_state` round-trip through ``np.savez`` without pickle.

* :class:`LdaLrBackend`: multinomial logistic regression; the prior moves by
  ``b' = b + log target - log train`` (:func:`harness.prior.bias_shift`), which is
  exactly ``p'(y|x) ∝ p(y|x) * target(y) / train(y)``.
* :class:`PldaBackend`: a two-covariance (Gaussian) PLDA; class scores are posterior-predictive
  likelihoods, so the prior is simply added as ``log prior``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from harness.prior import bias_shift, class_prior, target_prior

_FLOOR = 1e-6
"""Probability given to a scored class the back-end never saw in training (then renormalised)."""


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))


class _LdaBackend:
    """Shared part: select scored labels, standardise, LDA, prior bookkeeping, (de)serialisation."""

    kind: ClassVar[str] = "base"

    def __init__(
        self, lda_dims: int = 15, target: str | Sequence[float] | None = "uniform"
    ) -> None:
        self.lda_dims = lda_dims
        self.target = target

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, embeddings: np.ndarray, labels: Sequence[str], classes: Sequence[str]):
        """Fit on the rows whose label is a scored class; train-only codes (O, X) are dropped."""
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        x = np.asarray(embeddings, dtype=np.float64)
        y = np.asarray([str(v) for v in labels], dtype=object)
        keep = np.isin(y, list(classes))
        x, y = x[keep], y[keep]
        present = [c for c in classes if c in set(y)]
        if len(present) < 2:
            raise ValueError(f"the back-end needs at least two scored classes, got {present}")
        self.classes_ = np.asarray(list(classes))
        self.present_ = np.isin(self.classes_, present)
        self.mean_ = x.mean(axis=0)
        self.scale_ = x.std(axis=0)
        self.scale_[self.scale_ < 1e-8] = 1.0
        standard = (x - self.mean_) / self.scale_
        dims = max(1, min(self.lda_dims, len(present) - 1, x.shape[1]))
        lda = LinearDiscriminantAnalysis(n_components=dims, solver="svd").fit(standard, y)
        self.offset_ = lda.xbar_
        self.projection_ = lda.scalings_[:, :dims]
        z = self.project(embeddings[keep])
        self.train_prior_ = class_prior(y, classes, smoothing=0.0)
        self._fit_scorer(z, y, present)
        self.n_train_ = int(keep.sum())
        return self

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """Standardised, LDA-reduced embeddings."""
        standard = (np.asarray(embeddings, np.float64) - self.mean_) / self.scale_
        return (standard - self.offset_) @ self.projection_

    # -- scoring --------------------------------------------------------------------------------
    def predict_proba(self, embeddings: np.ndarray, prior: str = "target") -> np.ndarray:
        """Posteriors over all scored classes, under the ``target`` prior or the ``train`` prior."""
        if prior not in ("target", "train"):
            raise ValueError("prior must be 'target' or 'train'")
        scores = self._log_scores(self.project(embeddings), prior)
        probs = np.exp(_log_softmax(scores))
        full = np.full((probs.shape[0], len(self.classes_)), _FLOOR)
        full[:, self.present_] = probs
        return full / full.sum(axis=1, keepdims=True)

    def target_prior(self) -> np.ndarray:
        """The prior the ``target`` posteriors correspond to (``train_prior_`` when no correction)."""
        resolved = target_prior(self.target, list(self.classes_), train_prior=self.train_prior_)
        return self.train_prior_ if resolved is None else resolved

    # -- persistence ----------------------------------------------------------------------------
    _ARRAYS: ClassVar[tuple[str, ...]] = (
        "classes_",
        "present_",
        "mean_",
        "scale_",
        "offset_",
        "projection_",
        "train_prior_",
    )

    def state(self) -> dict[str, np.ndarray]:
        arrays = {
            name: np.asarray(getattr(self, name))
            for name in (*self._ARRAYS, *self._scorer_arrays())
        }
        arrays["kind"] = np.asarray(self.kind)
        arrays["lda_dims"] = np.asarray(self.lda_dims)
        target = "none" if self.target is None else self.target
        arrays["target"] = np.asarray(target if isinstance(target, str) else list(target))
        arrays["n_train_"] = np.asarray(self.n_train_)
        return arrays

    def save(self, path: str | Path) -> None:
        from harness.io import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **self.state())

    @staticmethod
    def from_state(arrays: dict[str, np.ndarray]) -> _LdaBackend:
        kind = str(arrays["kind"])
        target = arrays["target"]
        target = str(target) if target.ndim == 0 else [float(v) for v in target]
        backend = BACKENDS[kind](lda_dims=int(arrays["lda_dims"]), target=target)
        for name in (*backend._ARRAYS, *backend._scorer_arrays()):
            setattr(backend, name, np.asarray(arrays[name]))
        backend.n_train_ = int(arrays["n_train_"])
        return backend

    @staticmethod
    def load(path: str | Path) -> _LdaBackend:
        with np.load(path, allow_pickle=False) as data:
            return _LdaBackend.from_state({k: data[k] for k in data.files})

    def report(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "lda_dims": int(self.projection_.shape[1]),
            "backend_train_utterances": self.n_train_,
        }

    # -- implemented by subclasses --------------------------------------------------------------
    def _fit_scorer(self, z: np.ndarray, y: np.ndarray, present: list[str]) -> None:
        raise NotImplementedError

    def _log_scores(self, z: np.ndarray, prior: str) -> np.ndarray:
        raise NotImplementedError

    def _scorer_arrays(self) -> tuple[str, ...]:
        raise NotImplementedError


class LdaLrBackend(_LdaBackend):
    """Standardise, LDA, multinomial logistic regression, bias shift to the target prior."""

    kind = "lda_lr"

    def __init__(
        self,
        lda_dims: int = 15,
        target: str | Sequence[float] | None = "uniform",
        C: float = 1.0,
        max_iter: int = 2000,
    ) -> None:
        super().__init__(lda_dims, target)
        self.C = C
        self.max_iter = max_iter

    def _fit_scorer(self, z: np.ndarray, y: np.ndarray, present: list[str]) -> None:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(z, y)
        order = [list(model.classes_).index(c) for c in present]
        self.coef_ = model.coef_[order] if len(present) > 2 else _binary_coef(model.coef_)[order]
        intercept = model.intercept_ if len(present) > 2 else _binary_intercept(model.intercept_)
        self.intercept_ = intercept[order]

    def bias(self, prior: str = "target") -> np.ndarray:
        """LR biases of the present classes, shifted by ``log target - log train`` for ``target``."""
        if prior == "train":
            return self.intercept_
        shift = bias_shift(self.train_prior_, self.target_prior())
        return self.intercept_ + shift[self.present_]

    def _log_scores(self, z: np.ndarray, prior: str) -> np.ndarray:
        return z @ self.coef_.T + self.bias(prior)

    def _scorer_arrays(self) -> tuple[str, ...]:
        return ("coef_", "intercept_")


def _binary_coef(coef: np.ndarray) -> np.ndarray:
    """sklearn stores one row for two classes; make it the symmetric two-row softmax form."""
    return np.vstack([-coef[0] / 2, coef[0] / 2])


def _binary_intercept(intercept: np.ndarray) -> np.ndarray:
    return np.asarray([-intercept[0] / 2, intercept[0] / 2])


class PldaBackend(_LdaBackend):
    """Two-covariance PLDA in the LDA space: x = class centre + within-class noise.

    Each class centre has a Gaussian posterior given its training embeddings (mean ``centre_``,
    covariance ``centre_cov_``); a test embedding is scored by its posterior-predictive density
    ``N(x; centre, W + centre_cov)``. Generative, so it needs no iterative training and copes with
    rare classes by shrinking their centres towards the global mean.
    """

    kind = "plda"

    def __init__(
        self,
        lda_dims: int = 15,
        target: str | Sequence[float] | None = "uniform",
        regularisation: float = 1e-3,
    ) -> None:
        super().__init__(lda_dims, target)
        self.regularisation = regularisation

    def _fit_scorer(self, z: np.ndarray, y: np.ndarray, present: list[str]) -> None:
        dims = z.shape[1]
        eye = np.eye(dims)
        means = np.stack([z[y == c].mean(axis=0) for c in present])
        counts = np.asarray([(y == c).sum() for c in present], dtype=float)
        centred = z - means[[present.index(c) for c in y]]
        within = centred.T @ centred / max(1.0, len(z) - len(present)) + self.regularisation * eye
        global_mean = z.mean(axis=0)
        spread = means - global_mean
        between = (spread * counts[:, None]).T @ spread / counts.sum() + self.regularisation * eye
        within_inv, between_inv = np.linalg.inv(within), np.linalg.inv(between)
        centres, covariances = [], []
        for mean, n in zip(means, counts):
            cov = np.linalg.inv(between_inv + n * within_inv)
            centres.append(cov @ (between_inv @ global_mean + n * within_inv @ mean))
            covariances.append(within + cov)
        self.centre_ = np.stack(centres)
        self.predictive_cov_ = np.stack(covariances)

    def _log_scores(self, z: np.ndarray, prior: str) -> np.ndarray:
        scores = np.empty((z.shape[0], len(self.centre_)))
        for k, (centre, cov) in enumerate(zip(self.centre_, self.predictive_cov_)):
            sign, logdet = np.linalg.slogdet(cov)
            diff = z - centre
            scores[:, k] = -0.5 * (np.einsum("nd,nd->n", diff @ np.linalg.inv(cov), diff) + logdet)
        prior_values = self.train_prior_ if prior == "train" else self.target_prior()
        return scores + np.log(prior_values[self.present_])

    def _scorer_arrays(self) -> tuple[str, ...]:
        return ("centre_", "predictive_cov_")


BACKENDS: dict[str, type[_LdaBackend]] = {"lda_lr": LdaLrBackend, "plda": PldaBackend}


def make_backend(
    kind: str,
    *,
    lda_dims: int = 15,
    target: str | Sequence[float] | None = "uniform",
    **kwargs: Any,
) -> _LdaBackend:
    """A back-end by name (``lda_lr`` or ``plda``)."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown back-end {kind!r}; use one of {', '.join(BACKENDS)}")
    return BACKENDS[kind](lda_dims=lda_dims, target=target, **kwargs)


def fit_backends(
    kinds: Sequence[str | None],
    embeddings: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    lda_dims: int,
    target: str | Sequence[float] | None,
) -> dict[str, _LdaBackend]:
    """Every named back-end (``none`` and repeats skipped), fit on the same embeddings."""
    fitted: dict[str, _LdaBackend] = {}
    for kind in dict.fromkeys(kinds):
        if kind in (None, "none"):
            continue
        fitted[kind] = make_backend(kind, lda_dims=lda_dims, target=target).fit(
            embeddings, labels, classes
        )
    return fitted


def backend_posteriors(
    backends: dict[str, _LdaBackend], embeddings: np.ndarray
) -> dict[str, np.ndarray]:
    """``<kind>``: posteriors under the target prior; ``<kind>_train_prior``: before the shift."""
    out: dict[str, np.ndarray] = {}
    for kind, backend in backends.items():
        out[kind] = backend.predict_proba(embeddings)
        out[f"{kind}_train_prior"] = backend.predict_proba(embeddings, prior="train")
    return out


def load_backends(directory: str | Path, kinds: Sequence[str | None]) -> dict[str, _LdaBackend]:
    """The back-ends :meth:`_LdaBackend.save` wrote as ``backend-<kind>.npz`` (missing: skipped)."""
    loaded = {}
    for kind in dict.fromkeys(kinds):
        path = Path(directory) / f"backend-{kind}.npz"
        if path.exists():
            loaded[kind] = _LdaBackend.load(path)
    return loaded
