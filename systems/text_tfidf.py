"""``text_tfidf``: word and character n-gram TF-IDF, then a logistic regression (ridge for attributes).

A strong, cheap text baseline: it needs no GPU and no weights, trains in a second on the demo, and
is the floor a transcript model has to beat. Character n-grams make it robust to ASR spelling
errors; word bigrams catch short emotional phrases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.params import choice, integer, items, number, optional
from harness.prior import class_prior
from harness.system import System
from systems.components.features import attribute_rows, attribute_targets, scored_rows, texts
from systems.components.params import store_params


class TextTfidf(System):
    name = "text_tfidf"
    tasks = ("categorical", "attributes")
    modalities = ("text",)
    param_rules = {
        "word_ngrams": items(integer(ge=1), length=2, ordered=True),
        "char_ngrams": items(integer(ge=1), length=2, ordered=True),
        "min_df": integer(ge=1),
        "max_features": optional(integer(ge=1)),
        "C": number(gt=0),
        "alpha": number(gt=0),
        "class_weight": choice(None, "balanced"),
        "seed": optional(integer(ge=0)),
    }

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] | list[int],
        char_ngrams: tuple[int, int] | list[int],
        min_df: int,
        max_features: int | None,
        C: float,
        alpha: float,
        class_weight: str | None,
        seed: int,
    ) -> None:
        store_params(self, locals())

    def _vectorizers(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        common = {
            "lowercase": True,
            "sublinear_tf": True,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "dtype": np.float32,
        }
        return {
            "word": TfidfVectorizer(analyzer="word", ngram_range=tuple(self.word_ngrams), **common),
            "char": TfidfVectorizer(
                analyzer="char_wb", ngram_range=tuple(self.char_ngrams), **common
            ),
        }

    def _transform(self, frame: pd.DataFrame):
        from scipy.sparse import hstack

        text, self.empty_predict_ = texts(frame, who=self.name)
        return hstack([v.transform(text) for v in self.vectorizers_.values()]).tocsr()

    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> TextTfidf:
        from scipy.sparse import hstack
        from sklearn.linear_model import LogisticRegression, Ridge

        self.check_task(task)
        self.task_, self.classes_ = task, tuple(classes)
        rows = scored_rows(train, classes) if task == "categorical" else attribute_rows(train)
        text, self.empty_train_ = texts(rows, who=self.name)
        self.vectorizers_ = self._vectorizers()
        features = hstack([v.fit_transform(text) for v in self.vectorizers_.values()]).tocsr()
        if task == "categorical":
            self.model_ = LogisticRegression(
                C=self.C, max_iter=2000, class_weight=self.class_weight, random_state=self.seed
            )
            self.model_.fit(features, rows["label"].to_numpy(dtype=str))
            self.class_prior_ = class_prior(rows["label"], classes)
        else:
            self.model_ = Ridge(alpha=self.alpha, random_state=self.seed)
            self.model_.fit(features, attribute_targets(rows))
            self.class_prior_ = None
        return self

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        features = self._transform(data)
        ids = data["id"].tolist()
        if self.task_ == "categorical":
            return P.categorical(
                ids, _aligned_proba(self.model_, features, self.classes_), self.classes_
            )
        return P.attributes(ids, self.model_.predict(features))

    def report(self) -> dict[str, Any]:
        return {
            "empty_transcripts_train": int(getattr(self, "empty_train_", 0)),
            "vocabulary": {k: len(v.vocabulary_) for k, v in self.vectorizers_.items()},
        }

    def save(self, directory: str | Path) -> None:
        from harness.io import write_json
        from systems.components.sk_state import head_state, save_estimators

        directory = Path(directory)
        save_estimators(
            directory,
            {"model": self.model_},
            {
                **head_state(self),
            },
        )
        self._save_params(directory)
        for name, vectorizer in self.vectorizers_.items():
            vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
            write_json(directory / f"vocabulary_{name}.json", vocabulary)
            with open(directory / f"idf_{name}.npy", "wb") as handle:
                np.save(handle, vectorizer.idf_)

    @classmethod
    def load(cls, directory: str | Path) -> TextTfidf:
        from systems.components.sk_state import load_estimators, restore_head

        directory = Path(directory)
        system = cls.from_params(cls._read_params(directory)["params"])
        estimators, extra = load_estimators(directory)
        system.model_ = estimators["model"]
        restore_head(system, extra)
        system.vectorizers_ = system._vectorizers()
        for name, vectorizer in system.vectorizers_.items():
            vectorizer.vocabulary_ = json.loads((directory / f"vocabulary_{name}.json").read_text())
            vectorizer.idf_ = np.load(directory / f"idf_{name}.npy", allow_pickle=False)
        return system


def _aligned_proba(model, features, classes) -> np.ndarray:
    """Posterior columns in the challenge's class order, zeros for classes absent from training."""
    proba = model.predict_proba(features)
    out = np.zeros((proba.shape[0], len(classes)))
    index = {c: i for i, c in enumerate(classes)}
    for j, label in enumerate(model.classes_):
        out[:, index[str(label)]] = proba[:, j]
    return out
