"""``audio_egemaps``: openSMILE eGeMAPSv02 functionals, standardised, then logistic regression
(ridge for attributes).

eGeMAPS is the standard minimal acoustic parameter set for affect (pitch, loudness, jitter,
shimmer, spectral slope, rates): 88 interpretable numbers per utterance. It is the audio floor a
neural model has to beat, and it captures exactly the prosody that carries arousal and dominance.
openSMILE is research-only licensed, so it is an optional extra (``pip install
'ser-harness[opensmile]'``); without it this system fails with one line saying so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.errors import HarnessError
from harness.params import choice, integer, number, optional
from harness.prior import class_prior
from harness.system import System
from systems.components.features import attribute_rows, attribute_targets, audio_paths, scored_rows
from systems.components.params import store_params

log = logging.getLogger(__name__)
FEATURE_SET = "eGeMAPSv02"
PURPOSE = "the audio_egemaps system (openSMILE eGeMAPS)"


def extract_egemaps(frame: pd.DataFrame, n_jobs: int = 1) -> np.ndarray:
    """eGeMAPSv02 functionals for every row (88 columns), read through the harness audio loader.

    openSMILE is single-threaded, so ``n_jobs`` > 1 splits the rows over forked processes, in
    chunks of about 128 rows so that an interrupt cancels what has not started. A Ctrl-C (which
    openSMILE's callbacks would swallow) raises KeyboardInterrupt here, in a worker too; a NaN
    feature row is an error naming the file.
    """
    if n_jobs > 1 and len(frame) >= 64:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if "fork" in multiprocessing.get_all_start_methods():
            parts = np.array_split(np.arange(len(frame)), max(n_jobs, len(frame) // 128))
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=context) as pool:
                try:  # a worker's KeyboardInterrupt or error comes back here
                    chunks = list(pool.map(extract_egemaps, [frame.iloc[p] for p in parts]))
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
            return np.concatenate(chunks)
    from harness.data.audio import SAMPLE_RATE, load_audio
    from harness.errors import require
    from harness.interrupts import deferred_interrupts, native_call

    opensmile = require("opensmile", "opensmile", PURPOSE)
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    rows = []
    with deferred_interrupts():
        for utterance, path in zip(frame["id"], audio_paths(frame, who="audio_egemaps")):
            audio = load_audio(path, row=utterance)
            minimum = SAMPLE_RATE // 2  # openSMILE needs a few frames; pad with silence
            if audio.size < minimum:
                audio = np.pad(audio, (0, minimum - audio.size))
            with native_call():
                functionals = smile.process_signal(audio, SAMPLE_RATE)
            rows.append(_finite_row(functionals.to_numpy(dtype=np.float32)[0], path, utterance))
    return np.stack(rows) if rows else np.zeros((0, 88), dtype=np.float32)


def _finite_row(row: np.ndarray, path: str, utterance: str) -> np.ndarray:
    """openSMILE's row for one file, or an error: a NaN feature is a failure, never a 0."""
    bad = int((~np.isfinite(row)).sum())
    if bad:
        raise HarnessError(
            f"openSMILE returned {bad} of {row.size} eGeMAPS features as NaN or infinite "
            f"(utterance {utterance!r})",
            file=path,
            fix="check that the file decodes and holds sound; re-export it as 16 kHz WAV or "
            "remove its row from the corpus",
        )
    return row


class AudioEgemaps(System):
    name = "audio_egemaps"
    tasks = ("categorical", "attributes")
    modalities = ("audio",)
    param_rules = {
        "C": number(gt=0),
        "alpha": number(gt=0),
        "class_weight": choice(None, "balanced"),
        "clip": optional(number(gt=0)),
        "n_jobs": integer(ge=1),
        "seed": optional(integer(ge=0)),
    }

    def __init__(
        self,
        *,
        C: float,
        alpha: float,
        class_weight: str | None,
        clip: float | None,
        n_jobs: int,
        seed: int,
    ) -> None:
        store_params(self, locals())

    def check_ready(self) -> None:
        """openSMILE (the optional ``opensmile`` extra) is installed."""
        from systems.components.local_weights import require_installed

        require_installed("opensmile", "opensmile", PURPOSE)

    def _features(self, frame: pd.DataFrame) -> np.ndarray:
        """eGeMAPS functionals, from the harness cache when :meth:`use_workspace` gave one."""
        if self.cache_dir is None:
            return extract_egemaps(frame, self.n_jobs)
        from harness.cache import Cache
        from harness.data.audio import file_stamp

        # Keyed by each file's path, size and mtime: a replaced file is re-extracted. A row
        # without audio is one error line here, before anything is stamped or extracted.
        paths = audio_paths(frame, who=self.name)
        ids = [f"{p}|{file_stamp(p) or 'missing'}" for p in map(str, paths)]
        lookup = dict(zip(ids, range(len(ids))))

        def compute(missing: list[str]) -> np.ndarray:
            return extract_egemaps(frame.iloc[[lookup[m] for m in missing]], self.n_jobs)

        return Cache(self.cache_dir).features("egemaps", ids, {"feature_set": FEATURE_SET}, compute)

    def _scale(self, features: np.ndarray) -> np.ndarray:
        """Standardise, then clip: some eGeMAPS functionals are ratios (e.g. stddevNorm) that
        explode when their mean is near zero, and one such outlier makes a linear model
        extrapolate wildly."""
        scaled = self.scaler_.transform(features)
        return scaled if self.clip is None else np.clip(scaled, -self.clip, self.clip)

    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> AudioEgemaps:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.preprocessing import StandardScaler

        self.check_task(task)
        self.task_, self.classes_ = task, tuple(classes)
        rows = scored_rows(train, classes) if task == "categorical" else attribute_rows(train)
        features = self._features(rows)
        self.scaler_ = StandardScaler().fit(features)
        scaled = self._scale(features)
        if task == "categorical":
            self.model_ = LogisticRegression(
                C=self.C, max_iter=3000, class_weight=self.class_weight, random_state=self.seed
            )
            self.model_.fit(scaled, rows["label"].to_numpy(dtype=str))
            self.class_prior_ = class_prior(rows["label"], classes)
        else:
            self.model_ = Ridge(alpha=self.alpha, random_state=self.seed).fit(
                scaled, attribute_targets(rows)
            )
            self.class_prior_ = None
        return self

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        from systems.text_tfidf import _aligned_proba

        scaled = self._scale(self._features(data))
        ids = data["id"].tolist()
        if self.task_ == "categorical":
            return P.categorical(
                ids, _aligned_proba(self.model_, scaled, self.classes_), self.classes_
            )
        return P.attributes(ids, self.model_.predict(scaled))

    def report(self) -> dict[str, Any]:
        return {"feature_set": FEATURE_SET, "n_features": int(self.scaler_.n_features_in_)}

    def save(self, directory: str | Path) -> None:
        from systems.components.sk_state import head_state, save_estimators

        directory = Path(directory)
        save_estimators(
            directory,
            {"scaler": self.scaler_, "model": self.model_},
            {
                **head_state(self),
            },
        )
        self._save_params(directory)

    @classmethod
    def load(cls, directory: str | Path) -> AudioEgemaps:
        from systems.components.sk_state import load_estimators, restore_head

        directory = Path(directory)
        system = cls(**cls._read_params(directory)["params"])
        estimators, extra = load_estimators(directory)
        system.scaler_, system.model_ = estimators["scaler"], estimators["model"]
        restore_head(system, extra)
        return system
