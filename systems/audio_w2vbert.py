"""``audio_w2vbert``: the TalTech Odyssey 2024 audio system, and the official baseline as a profile.

The paper configuration (Härm & Alumäe, Odyssey 2024):

* backbone ``facebook/w2v-bert-2.0`` (transformers ``Wav2Vec2BertModel``) on
  ``SeamlessM4TFeatureExtractor`` features (80 log-mel bins stacked to 160 dims), adapted with
  LoRA (rank 32, alpha 32, dropout 0.05) on the Conformer's attention projections: 6.29M adapter
  weights + 1.19M head = 7.48M trainable parameters (counted on the meta device, see
  :func:`systems.components.speech_model.paper_trainable_parameters`);
* attentive pooling over frames (padding masked), dense layer with ReLU and BatchNorm, output
  layer over the 8 scored classes plus O and X as extra training classes;
* cross-entropy on random 2-4 s chunks, speed perturbation on half of the batches, optional
  point-source noise and simulated RIRs; Adam, lr 1e-4, weight decay 1e-3, effective batch 64,
  10 epochs, warm-up then linear decay;
* back-end: embeddings from the dense layer, standardise, LDA to 15 dims, multinomial LR trained
  without O and X, biases shifted to a uniform prior over the 8 classes;
* attributes: the head ends in tanh + a 3-output linear layer, loss = -mean CCC, 3-4 s chunks,
  then fine-tuning on 6-8 s chunks with training data balanced over the categories.

The ``odyssey_baseline`` profile runs the organisers' baseline through the same code: WavLM-large
fully fine-tuned with a frozen CNN, attentive statistics pooling, Linear/LayerNorm/ReLU/dropout
head, class-weighted cross-entropy, AdamW 1e-5, 12 s crops; attributes in [0, 1] with 1 - CCC.

The ``demo`` profile builds a tiny ``Wav2Vec2BertModel`` from its config and trains it from
scratch on the CPU (no LoRA on random weights).

torch, transformers and peft are imported inside methods: importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError
from harness.system import System

log = logging.getLogger(__name__)

_ATTRIBUTE_SCALES = {
    # name: (low, high) of the network's target range; challenge values 1..7 map linearly onto it.
    "tanh": (-1.0, 1.0),
    "unit": (0.0, 1.0),
}
_CHALLENGE_RANGE = (1.0, 7.0)
_warned_no_augmentation = False


class AudioW2VBert(System):
    """Speech encoder + attentive pooling head, with an LDA/LR back-end for the categorical task."""

    name = "audio_w2vbert"
    tasks = ("categorical", "attributes")
    modalities = ("audio",)

    def __init__(
        self,
        backbone: str = "facebook/w2v-bert-2.0",
        scratch_config: dict | None = None,
        finetune: str = "lora",
        lora_rank: int = 32,
        lora_alpha: int = 32,
        lora_dropout: float = 0.05,
        lora_targets: tuple[str, ...] | list[str] = (
            "linear_q",
            "linear_k",
            "linear_v",
            "linear_out",
        ),
        freeze_feature_encoder: bool = True,
        gradient_checkpointing: bool = False,
        pooling: str = "attentive",
        pooling_hidden: int = 128,
        head: str = "dense_bn",
        embedding_dim: int = 1024,
        head_dropout: float = 0.5,
        extra_classes: bool = True,
        class_weighting: str = "none",
        epochs: int = 10,
        lr: float = 1e-4,
        weight_decay: float = 1e-3,
        optimizer: str = "adam",
        batch_size: int = 16,
        effective_batch: int = 64,
        warmup_fraction: float = 0.1,
        schedule: str = "linear",
        chunk_seconds: tuple[float, float] | list[float] = (2.0, 4.0),
        attribute_chunk_seconds: tuple[float, float] | list[float] = (3.0, 4.0),
        finetune_chunk_seconds: tuple[float, float] | list[float] | None = (6.0, 8.0),
        finetune_epochs: int = 2,
        finetune_lr: float | None = None,
        finetune_balanced: bool = True,
        max_seconds: float | None = None,
        attribute_loss: str = "ccc",
        attribute_scale: str = "tanh",
        noise_dir: str | None = None,
        rir_dir: str | None = None,
        noise_snr_db: tuple[float, float] | list[float] = (0.0, 15.0),
        augment_prob: float = 0.5,
        speed_prob: float = 0.5,
        speed_factors: tuple[float, ...] | list[float] = (0.9, 1.1),
        backend: str = "lda_lr",
        lda_dims: int = 15,
        extra_backends: tuple[str, ...] | list[str] = (),
        output: str = "backend",
        target_prior: str = "uniform",
        infer_batch_seconds: float = 120.0,
        cache_audio_hours: float = 2.0,
        bf16: bool = True,
        cpu: bool = False,
        num_threads: int | None = None,
        progress: bool = False,
        seed: int = 0,
        work_dir: str | None = None,
    ) -> None:
        self.backbone = backbone
        self.scratch_config = scratch_config
        self.finetune = finetune
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_targets = lora_targets
        self.freeze_feature_encoder = freeze_feature_encoder
        self.gradient_checkpointing = gradient_checkpointing
        self.pooling = pooling
        self.pooling_hidden = pooling_hidden
        self.head = head
        self.embedding_dim = embedding_dim
        self.head_dropout = head_dropout
        self.extra_classes = extra_classes
        self.class_weighting = class_weighting
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.effective_batch = effective_batch
        self.warmup_fraction = warmup_fraction
        self.schedule = schedule
        self.chunk_seconds = chunk_seconds
        self.attribute_chunk_seconds = attribute_chunk_seconds
        self.finetune_chunk_seconds = finetune_chunk_seconds
        self.finetune_epochs = finetune_epochs
        self.finetune_lr = finetune_lr
        self.finetune_balanced = finetune_balanced
        self.max_seconds = max_seconds
        self.attribute_loss = attribute_loss
        self.attribute_scale = attribute_scale
        self.noise_dir = noise_dir
        self.rir_dir = rir_dir
        self.noise_snr_db = noise_snr_db
        self.augment_prob = augment_prob
        self.speed_prob = speed_prob
        self.speed_factors = speed_factors
        self.backend = backend
        self.lda_dims = lda_dims
        self.extra_backends = extra_backends
        self.output = output
        self.target_prior = target_prior
        self.infer_batch_seconds = infer_batch_seconds
        self.cache_audio_hours = cache_audio_hours
        self.bf16 = bf16
        self.cpu = cpu
        self.num_threads = num_threads
        self.progress = progress
        self.seed = seed
        self.work_dir = work_dir

    # ==========================================================================================
    # fit
    # ==========================================================================================
    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> AudioW2VBert:
        """Train the network (resuming from ``work_dir`` if a checkpoint is there), then the back-end."""
        with _torch_threads(self.num_threads):
            return self._fit(train, dev, task=task, classes=classes)

    def _fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> AudioW2VBert:
        self.check_task(task)
        self._check_params()
        started = time.perf_counter()
        self.task_ = task
        self.classes_ = tuple(classes)
        self._augmenter_ = self._augmenter()  # a wrong noise/RIR directory fails before any work
        self._last_run = None
        train = self._training_rows(train, task)
        self.outputs_ = self._output_codes(train, task)
        self.model_ = self._new_model(task, len(self.outputs_))
        self.history_: list[dict[str, Any]] = []
        if task == "categorical":
            self._fit_categorical(train, dev)
        else:
            self._fit_attributes(train, dev)
        self.fit_seconds_ = round(time.perf_counter() - started, 2)
        return self

    def _check_params(self) -> None:
        if self.output not in ("backend", "softmax"):
            raise HarnessError(
                f"unknown output {self.output!r}", fix="use output=backend or output=softmax"
            )
        if self.attribute_scale not in _ATTRIBUTE_SCALES:
            raise HarnessError(
                f"unknown attribute_scale {self.attribute_scale!r}", fix="use tanh or unit"
            )
        if self.attribute_loss not in ("ccc", "one_minus_ccc"):
            raise HarnessError(
                f"unknown attribute_loss {self.attribute_loss!r}", fix="use ccc or one_minus_ccc"
            )
        if self.class_weighting not in ("none", "inverse_frequency"):
            raise HarnessError(
                f"unknown class_weighting {self.class_weighting!r}",
                fix="use none or inverse_frequency",
            )

    def _training_rows(self, train: pd.DataFrame, task: str) -> pd.DataFrame:
        """Rows with a usable reference; O/X are kept only as extra classes when asked to."""
        if task == "categorical":
            keep = train["label"].notna()
            if not self.extra_classes:
                keep &= train["label"].isin(self.classes_)
        else:
            keep = train[list(ATTRIBUTES)].notna().all(axis=1)
        rows = train[keep].reset_index(drop=True)
        if len(rows) < 2:
            raise HarnessError(
                f"audio_w2vbert needs labelled training utterances for {task}; found {len(rows)}"
            )
        return rows

    def _output_codes(self, train: pd.DataFrame, task: str) -> tuple[str, ...]:
        if task == "attributes":
            return ATTRIBUTES
        extra = sorted(set(train["label"].astype(str)) - set(self.classes_))
        return (*self.classes_, *extra)

    # -- model --------------------------------------------------------------------------------
    def _new_model(self, task: str, outputs: int):
        import torch

        from systems.components.speech_model import build_model, load_backbone

        backbone = load_backbone(self.backbone, scratch_config=self.scratch_config, seed=self.seed)
        if self.scratch_config is not None and self.finetune == "lora":
            log.info(
                "audio_w2vbert: scratch backbone trains fully (LoRA on random weights is pointless)"
            )
        finetune = (
            "full"
            if (self.scratch_config is not None and self.finetune == "lora")
            else self.finetune
        )
        torch.manual_seed(self.seed)
        model = build_model(
            backbone,
            outputs=outputs,
            task=task,
            finetune=finetune,
            lora_rank=self.lora_rank,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            lora_targets=list(self.lora_targets),
            freeze_feature_encoder=self.freeze_feature_encoder,
            gradient_checkpointing=self.gradient_checkpointing,
            pooling=self.pooling,
            pooling_hidden=self.pooling_hidden,
            head=self.head,
            embedding_dim=self.embedding_dim,
            head_dropout=self.head_dropout,
        )
        self.backbone_config_ = backbone.config.to_dict()
        return model

    def _device(self) -> str:
        """Where a loaded model runs: the GPU when there is one and ``cpu`` is not forced."""
        import torch

        return "cuda" if torch.cuda.is_available() and not self.cpu else "cpu"

    def _frontend(self):
        from systems.components.speech_features import frontend_for

        return frontend_for(self.backbone_config_["model_type"])

    def _augmenter(self):
        """Noise/RIR augmenter, or None; says once per process when training runs without it."""
        global _warned_no_augmentation
        from systems.components.augment import Augmenter

        augmenter = Augmenter(
            self.noise_dir,
            self.rir_dir,
            noise_prob=self.augment_prob,
            rir_prob=self.augment_prob,
            snr_db=tuple(self.noise_snr_db),
        )
        if not augmenter.active:
            if not _warned_no_augmentation:
                log.info("audio_w2vbert: %s", augmenter.describe())
                _warned_no_augmentation = True
            return None
        log.info("audio_w2vbert: %s", augmenter.describe())
        return augmenter

    def _train_config(self, stage: str, *, epochs: int, lr: float):
        from systems.components.training import TrainConfig

        checkpoint_dir = None
        if self.work_dir:
            checkpoint_dir = str(
                Path(self.work_dir) / f"{self.task_}-{self._fingerprint()}" / stage
            )
        return TrainConfig(
            epochs=epochs,
            lr=lr,
            weight_decay=self.weight_decay,
            optimizer=self.optimizer,
            batch_size=self.batch_size,
            effective_batch=self.effective_batch,
            warmup_fraction=self.warmup_fraction,
            schedule=self.schedule,
            bf16=self.bf16,
            seed=self.seed,
            checkpoint_dir=checkpoint_dir,
            cpu=self.cpu,
            progress=self.progress,
        )

    def _fingerprint(self) -> str:
        """Checkpoints are only resumed by the same parameters, task and classes."""
        params = {k: v for k, v in self.get_params().items() if k not in ("work_dir", "progress")}
        blob = json.dumps(
            [params, self.task_, list(self.classes_), list(self.outputs_)],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha1(blob.encode()).hexdigest()[:10]

    def _train_stage(
        self,
        stage: str,
        source,
        targets: np.ndarray,
        loss_fn,
        evaluate,
        *,
        chunk_seconds,
        epochs: int,
        lr: float,
        balance=None,
        target_dtype=None,
    ) -> None:
        import torch

        from systems.components.audio_data import ChunkCollate, ChunkConfig, ChunkDataset
        from systems.components.training import train

        dataset = ChunkDataset(source, targets, balance=balance, seed=self.seed)
        chunking = ChunkConfig(
            chunk_seconds=(float(chunk_seconds[0]), float(chunk_seconds[1])),
            speed_prob=self.speed_prob,
            speed_factors=tuple(self.speed_factors),
            seed=self.seed,
        )
        collate = ChunkCollate(
            dataset,
            self._frontend(),
            chunking,
            self._augmenter_,
            target_dtype=target_dtype or torch.long,
        )
        history = train(
            self.model_,
            dataset,
            collate,
            loss_fn,
            self._train_config(stage, epochs=epochs, lr=lr),
            evaluate=evaluate,
            on_epoch_start=dataset.set_epoch,
            description=f"audio_w2vbert {self.task_} {stage}",
        )
        self.history_.append(
            {
                "stage": stage,
                "loss": history["loss"],
                "dev": history["dev"],
                "best_epoch": history["best_epoch"],
                "steps": history["steps"],
                "num_processes": history["num_processes"],
                "accumulation_steps": history["accumulation_steps"],
            }
        )

    def _source(self, frame: pd.DataFrame):
        from systems.components.audio_data import AudioSource

        return AudioSource(frame, max_cache_hours=self.cache_audio_hours)

    def _run(self, source) -> dict[str, np.ndarray]:
        """Network outputs and embeddings for whole utterances (first ``max_seconds``)."""
        from systems.components.audio_data import run_model

        device = next(self.model_.parameters()).device
        return run_model(
            self.model_,
            self._frontend(),
            source,
            max_seconds=self.max_seconds,
            batch_seconds=self.infer_batch_seconds,
            device=device,
        )

    def _run_frame(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        """:meth:`_run` on a Manifest, remembering the last answer: the runner calls ``predict``
        and ``predict_variants`` on the same rows, and the network should run once."""
        key = (id(self.model_), tuple(data["id"].astype(str)), tuple(data["path"].astype(str)))
        cached = getattr(self, "_last_run", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        result = self._run(self._source(data.reset_index(drop=True)))
        self._last_run = (key, result)
        return result

    # -- categorical --------------------------------------------------------------------------
    def _fit_categorical(self, train: pd.DataFrame, dev: pd.DataFrame) -> None:
        import torch
        import torch.nn.functional as F

        from harness.prior import class_prior

        labels = train["label"].astype(str).to_numpy()
        targets = np.asarray([self.outputs_.index(v) for v in labels], dtype=np.int64)
        weights = self._class_weights(targets)
        self.train_prior_ = class_prior(labels[np.isin(labels, self.classes_)], self.classes_)
        weight_tensor = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)

        def loss_fn(model, batch):
            logits = model(**batch["inputs"])["output"].float()
            weight = None if weight_tensor is None else weight_tensor.to(logits.device)
            return F.cross_entropy(logits, batch["target"], weight=weight)

        dev_rows = (
            dev[dev["label"].isin(self.classes_)].reset_index(drop=True) if dev is not None else dev
        )
        evaluate = self._categorical_evaluator(dev_rows)
        source = self._source(train)
        self._train_stage(
            "stage1",
            source,
            targets,
            loss_fn,
            evaluate,
            chunk_seconds=self.chunk_seconds,
            epochs=self.epochs,
            lr=self.lr,
        )
        self._fit_backends(source, labels)

    def _class_weights(self, targets: np.ndarray) -> np.ndarray | None:
        """Baseline weighting N / (K * count): every class contributes equally to the loss."""
        if self.class_weighting == "none":
            return None
        counts = np.bincount(targets, minlength=len(self.outputs_)).astype(float)
        weights = np.where(
            counts > 0, counts.sum() / (len(self.outputs_) * np.maximum(counts, 1)), 0.0
        )
        return weights

    def _network_prior(self) -> np.ndarray:
        """The prior that the network's scored-class softmax corresponds to."""
        if self.class_weighting == "inverse_frequency":
            return np.full(len(self.classes_), 1.0 / len(self.classes_))
        return self.train_prior_

    def _categorical_evaluator(self, dev: pd.DataFrame | None):
        """Macro-F1 on Dev_bal of the uniform-prior softmax, for best-epoch selection."""
        if dev is None or len(dev) == 0:
            return None
        from sklearn.metrics import f1_score

        source = self._source(dev)
        truth = dev["label"].astype(str).to_numpy()

        def evaluate(model) -> float:
            posteriors = self._softmax(self._run_with(model, source)["output"], uniform=True)
            predicted = np.asarray(self.classes_)[posteriors.argmax(axis=1)]
            return float(
                f1_score(
                    truth, predicted, labels=list(self.classes_), average="macro", zero_division=0
                )
            )

        return evaluate

    def _run_with(self, model, source) -> dict[str, np.ndarray]:
        saved = self.model_
        self.model_ = model
        try:
            return self._run(source)
        finally:
            self.model_ = saved

    def _softmax(self, logits: np.ndarray, *, uniform: bool) -> np.ndarray:
        """Softmax over the scored classes only (O/X columns dropped, renormalised)."""
        from harness.prior import correct

        scored = logits[:, : len(self.classes_)].astype(np.float64)
        scored = np.exp(scored - scored.max(axis=1, keepdims=True))
        scored /= scored.sum(axis=1, keepdims=True)
        if uniform:
            uniform_prior = np.full(len(self.classes_), 1.0 / len(self.classes_))
            scored = correct(scored, self._network_prior(), uniform_prior)
        return scored

    def _fit_backends(self, source, labels: np.ndarray) -> None:
        from systems.components.backends import make_backend

        embeddings = self._run(source)["embedding"]
        self.backends_ = {}
        for kind in dict.fromkeys([self.backend, *self.extra_backends]):
            if kind in (None, "none"):
                continue
            self.backends_[kind] = make_backend(
                kind, lda_dims=self.lda_dims, target=self.target_prior
            ).fit(embeddings, labels, self.classes_)
        if self.output == "backend" and self.backend not in self.backends_:
            raise HarnessError(
                "output=backend needs a back-end",
                fix="set backend=lda_lr (or plda), or output=softmax",
            )

    @property
    def class_prior_(self) -> np.ndarray:
        """The prior that :meth:`predict`'s posteriors correspond to (uniform after the bias shift)."""
        if self.output == "backend":
            return self.backends_[self.backend].target_prior()
        return self._network_prior()

    # -- attributes ---------------------------------------------------------------------------
    def _fit_attributes(self, train: pd.DataFrame, dev: pd.DataFrame) -> None:
        import torch

        from systems.components.ccc_loss import ccc_loss, one_minus_ccc_loss

        targets = self._scale(train[list(ATTRIBUTES)].to_numpy(dtype=np.float64)).astype(np.float32)
        criterion = ccc_loss if self.attribute_loss == "ccc" else one_minus_ccc_loss

        def loss_fn(model, batch):
            return criterion(model(**batch["inputs"])["output"].float(), batch["target"])

        dev_rows = (
            dev[dev[list(ATTRIBUTES)].notna().all(axis=1)].reset_index(drop=True)
            if dev is not None
            else dev
        )
        evaluate = self._attribute_evaluator(dev_rows)
        source = self._source(train)
        self._train_stage(
            "stage1",
            source,
            targets,
            loss_fn,
            evaluate,
            chunk_seconds=self.attribute_chunk_seconds,
            epochs=self.epochs,
            lr=self.lr,
            target_dtype=torch.float32,
        )
        if self.finetune_chunk_seconds and self.finetune_epochs > 0:
            balance = None
            if self.finetune_balanced and train["label"].notna().any():
                balance = train["label"].fillna("?").astype(str).to_numpy()
            self._train_stage(
                "stage2",
                source,
                targets,
                loss_fn,
                evaluate,
                chunk_seconds=self.finetune_chunk_seconds,
                epochs=self.finetune_epochs,
                lr=self.finetune_lr or self.lr,
                balance=balance,
                target_dtype=torch.float32,
            )

    def _attribute_evaluator(self, dev: pd.DataFrame | None):
        if dev is None or len(dev) < 2:
            return None
        import torch

        from systems.components.ccc_loss import ccc

        source = self._source(dev)
        truth = torch.as_tensor(dev[list(ATTRIBUTES)].to_numpy(dtype=np.float64))

        def evaluate(model) -> float:
            predicted = torch.as_tensor(self._unscale(self._run_with(model, source)["output"]))
            return float(ccc(predicted, truth).mean())

        return evaluate

    def _scale(self, values: np.ndarray) -> np.ndarray:
        low, high = _ATTRIBUTE_SCALES[self.attribute_scale]
        c_low, c_high = _CHALLENGE_RANGE
        return low + (values - c_low) * (high - low) / (c_high - c_low)

    def _unscale(self, values: np.ndarray) -> np.ndarray:
        low, high = _ATTRIBUTE_SCALES[self.attribute_scale]
        c_low, c_high = _CHALLENGE_RANGE
        return np.clip(
            c_low + (np.asarray(values, np.float64) - low) * (c_high - c_low) / (high - low),
            c_low,
            c_high,
        )

    # ==========================================================================================
    # predict
    # ==========================================================================================
    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        """Posteriors over the 8 scored classes (the back-end's, uniform prior) or A/V/D on 1-7."""
        variants, primary = self._predict_all(data)
        return variants[primary]

    def predict_variants(self, data: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """The network's own softmax and every back-end, side by side (categorical only).

        ``softmax`` is the network under the training prior, ``softmax_uniform`` the same moved to
        a uniform prior; ``<backend>`` is the back-end after the bias shift and
        ``<backend>_train_prior`` before it.
        """
        if self.task_ != "categorical":
            return {}
        variants, _ = self._predict_all(data)
        return variants

    def _predict_all(self, data: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], str]:
        with _torch_threads(self.num_threads):
            return self._predict_all_unlocked(data)

    def _predict_all_unlocked(self, data: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], str]:
        self._check_fitted()
        ids = data["id"].astype(str).tolist()
        if len(data) == 0:
            columns = self.classes_ if self.task_ == "categorical" else ATTRIBUTES
            empty = np.zeros((0, len(columns)))
            frame = (
                P.categorical([], empty, self.classes_)
                if self.task_ == "categorical"
                else P.attributes([], empty)
            )
            return {"primary": frame}, "primary"
        result = self._run_frame(data)
        if self.task_ == "attributes":
            return {"attributes": P.attributes(ids, self._unscale(result["output"]))}, "attributes"
        variants = {
            "softmax": P.categorical(
                ids, self._softmax(result["output"], uniform=False), self.classes_
            ),
            "softmax_uniform": P.categorical(
                ids, self._softmax(result["output"], uniform=True), self.classes_
            ),
        }
        for kind, backend in self.backends_.items():
            variants[kind] = P.categorical(
                ids, backend.predict_proba(result["embedding"]), self.classes_
            )
            variants[f"{kind}_train_prior"] = P.categorical(
                ids, backend.predict_proba(result["embedding"], prior="train"), self.classes_
            )
        return variants, (self.backend if self.output == "backend" else "softmax")

    def embeddings(self, data: pd.DataFrame) -> np.ndarray:
        """Utterance embeddings from the dense layer after pooling (what the back-end sees)."""
        self._check_fitted()
        with _torch_threads(self.num_threads):
            return self._run_frame(data)["embedding"]

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise HarnessError("audio_w2vbert is not fitted", fix="call fit() or load() first")

    # ==========================================================================================
    # persistence and report
    # ==========================================================================================
    def save(self, directory: str | Path) -> None:
        """Parameters, architecture, weights (trainable ones for pretrained backbones) and back-ends."""
        from safetensors.torch import save_file

        from harness.io import atomic_path
        from systems.components.training import trainable_state

        self._check_fitted()
        directory = Path(directory)
        state = {
            "task": self.task_,
            "classes": list(self.classes_),
            "outputs": list(self.outputs_),
            "backbone_config": self.backbone_config_,
            "history": self.history_,
            "fit_seconds": getattr(self, "fit_seconds_", None),
        }
        if self.task_ == "categorical":
            state["train_prior"] = [float(v) for v in self.train_prior_]
        self._save_params(directory, {"state": state})
        model = self.model_
        tensors = model.state_dict() if self.scratch_config is not None else trainable_state(model)
        with atomic_path(directory / "model.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
        for kind, backend in getattr(self, "backends_", {}).items():
            backend.save(directory / f"backend-{kind}.npz")

    @classmethod
    def load(cls, directory: str | Path) -> AudioW2VBert:
        from safetensors.torch import load_file

        from systems.components.backends import _LdaBackend

        directory = Path(directory)
        saved = cls._read_params(directory)
        system = cls(**saved["params"])
        state = saved["state"]
        system.task_ = state["task"]
        system.classes_ = tuple(state["classes"])
        system.outputs_ = tuple(state["outputs"])
        system.history_ = state["history"]
        system.fit_seconds_ = state.get("fit_seconds")
        system.model_ = system._new_model(system.task_, len(system.outputs_))
        system.model_.load_state_dict(
            load_file(str(directory / "model.safetensors")),
            strict=system.scratch_config is not None,
        )
        system.model_.to(system._device()).eval()
        if system.task_ == "categorical":
            system.train_prior_ = np.asarray(state["train_prior"])
            system.backends_ = {}
            for kind in dict.fromkeys([system.backend, *system.extra_backends]):
                path = directory / f"backend-{kind}.npz"
                if path.exists():
                    system.backends_[kind] = _LdaBackend.load(path)
        return system

    def report(self) -> dict[str, Any]:
        """Trainable parameters, per-epoch losses/dev scores, back-end facts, fit time."""
        if not hasattr(self, "model_"):
            return {}
        from systems.components.lora import count_parameters

        trainable, total = count_parameters(self.model_)
        facts: dict[str, Any] = {
            "trainable_parameters": trainable,
            "total_parameters": total,
            "backbone": "scratch" if self.scratch_config is not None else self.backbone,
            "outputs": list(self.outputs_),
            "training": self.history_,
            "fit_seconds": getattr(self, "fit_seconds_", None),
        }
        if self.task_ == "categorical":
            facts["output"] = self.output
            facts["backends"] = {k: b.report() for k, b in self.backends_.items()}
        return facts


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` intra-op threads, then restore the previous setting.

    Why: the demo model's matrices are tiny, and on a shared 2-core machine OpenMP's spinning
    threads make 2 threads several times slower than 1 (measured: 117 vs 13 ms per utterance).
    """
    if not count:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(before)
