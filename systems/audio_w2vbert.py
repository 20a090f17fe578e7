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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError
from harness.params import (
    choice,
    either,
    flag,
    integer,
    items,
    number,
    optional,
    text,
)
from harness.system import System
from systems.components import backends
from systems.components.attribute_scale import check_scale, to_challenge, to_network
from systems.components.params import DROPOUT, PROBABILITY, model_config_rule, store_params
from systems.components.speech_training import (
    check_choice,
    inverse_frequency_weights,
    make_augmenter,
    output_codes,
    scored_softmax,
    train_on_chunks,
    training_rows,
)
from systems.components.threads import torch_threads

log = logging.getLogger(__name__)

CHUNK_RANGE = items(number(gt=0), length=2, ordered=True)
"""Seconds ``[shortest, longest]`` a training chunk is drawn uniformly from."""
BACKENDS = tuple(backends.BACKENDS)


class AudioW2VBert(System):
    """Speech encoder + attentive pooling head, with an LDA/LR back-end for the categorical task."""

    name = "audio_w2vbert"
    tasks = ("categorical", "attributes")
    modalities = ("audio",)
    cross_fit = False  # k refits of a network are too dear: stacking uses Dev_bal
    param_rules = {
        "backbone": text(),
        "scratch_config": optional(model_config_rule(model_types=("wav2vec2-bert", "wavlm"))),
        "finetune": choice("lora", "full", "frozen"),
        "lora_rank": integer(ge=1),
        "lora_alpha": number(gt=0),
        "lora_dropout": DROPOUT,
        "lora_targets": items(text()),
        "freeze_feature_encoder": flag(),
        "gradient_checkpointing": flag(),
        "pooling": choice("mean", "attentive", "attentive_stats"),
        "pooling_hidden": integer(ge=1),
        "head": choice("dense_bn", "baseline"),
        "embedding_dim": integer(ge=1),
        "head_dropout": DROPOUT,
        "extra_classes": flag(),
        "class_weighting": choice("none", "inverse_frequency"),
        "epochs": integer(ge=1),
        "lr": number(gt=0),
        "weight_decay": number(ge=0),
        "optimizer": choice("adam", "adamw"),
        "batch_size": integer(ge=1),
        "effective_batch": integer(ge=1),
        "warmup_fraction": PROBABILITY,
        "schedule": choice("linear", "cosine", "constant"),
        "chunk_seconds": CHUNK_RANGE,
        "attribute_chunk_seconds": CHUNK_RANGE,
        "finetune_chunk_seconds": optional(CHUNK_RANGE),  # null: no second attribute stage
        "finetune_epochs": integer(ge=0),  # 0: no second attribute stage
        "finetune_lr": optional(number(gt=0)),  # null: lr
        "finetune_balanced": flag(),
        "max_seconds": optional(number(gt=0)),  # null: whole utterances
        "attribute_loss": choice("ccc", "one_minus_ccc"),
        "attribute_scale": choice("tanh", "unit"),
        "noise_dir": optional(text()),
        "rir_dir": optional(text()),
        "noise_snr_db": items(number(), length=2, ordered=True),
        "augment_prob": PROBABILITY,
        "speed_prob": PROBABILITY,
        "speed_factors": items(number(gt=0), min_length=0),  # []: no speed perturbation
        "backend": choice(*BACKENDS, "none", None),
        "lda_dims": integer(ge=1),
        "extra_backends": items(choice(*BACKENDS, "none"), min_length=0),
        "output": choice("backend", "softmax"),
        # the back-ends' own target: auto is uniform there (they are not given the challenge's)
        "target_prior": either(
            choice("uniform", "auto", "train", "none", "off", None), items(number(gt=0))
        ),
        "infer_batch_seconds": number(gt=0),
        "cache_audio_hours": number(ge=0),  # 0: decode on every use
        "bf16": flag(),
        "cpu": flag(),
        "num_threads": optional(integer(ge=0)),  # null or 0: torch as it is
        "progress": flag(),
        "seed": optional(integer(ge=0)),
    }

    def __init__(
        self,
        *,
        backbone: str,
        scratch_config: dict | None,
        finetune: str,
        lora_rank: int,
        lora_alpha: int,
        lora_dropout: float,
        lora_targets: tuple[str, ...] | list[str],
        freeze_feature_encoder: bool,
        gradient_checkpointing: bool,
        pooling: str,
        pooling_hidden: int,
        head: str,
        embedding_dim: int,
        head_dropout: float,
        extra_classes: bool,
        class_weighting: str,
        epochs: int,
        lr: float,
        weight_decay: float,
        optimizer: str,
        batch_size: int,
        effective_batch: int,
        warmup_fraction: float,
        schedule: str,
        chunk_seconds: tuple[float, float] | list[float],
        attribute_chunk_seconds: tuple[float, float] | list[float],
        finetune_chunk_seconds: tuple[float, float] | list[float] | None,
        finetune_epochs: int,
        finetune_lr: float | None,
        finetune_balanced: bool,
        max_seconds: float | None,
        attribute_loss: str,
        attribute_scale: str,
        noise_dir: str | None,
        rir_dir: str | None,
        noise_snr_db: tuple[float, float] | list[float],
        augment_prob: float,
        speed_prob: float,
        speed_factors: tuple[float, ...] | list[float],
        backend: str,
        lda_dims: int,
        extra_backends: tuple[str, ...] | list[str],
        output: str,
        target_prior: str,
        infer_batch_seconds: float,
        cache_audio_hours: float,
        bf16: bool,
        cpu: bool,
        num_threads: int | None,
        progress: bool,
        seed: int,
    ) -> None:
        store_params(self, locals())

    def check_ready(self) -> None:
        """The backbone's weights are local and its config is one this system builds, and LoRA
        targets name its modules; a ``scratch_config`` builds it at random and trains it fully."""
        self._check_output()
        if self.scratch_config is None:
            from systems.components.params import yaml_params
            from systems.components.speech_model import check_backbone

            check_backbone(
                self.backbone,
                lora_targets=self.lora_targets if self.finetune == "lora" else None,
                default_targets=yaml_params(self.name)["lora_targets"],
            )

    def _check_output(self) -> None:
        """``output=backend`` names a back-end; otherwise the run would fail only after the
        network had trained."""
        if self.output == "backend" and self.backend in (None, "none"):
            raise HarnessError(
                f"output=backend needs a back-end, but backend={self.backend}",
                fix="pass backend=lda_lr (or backend=plda), or output=softmax",
            )

    # -- fit ---------------------------------------------------------------------------------------
    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> AudioW2VBert:
        """Train the network (resuming from ``work_dir`` if a checkpoint is there), then the back-end."""
        with torch_threads(self.num_threads):
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
        train = training_rows(
            train, task, self.classes_, extra_classes=self.extra_classes, who=self.name
        )
        self.outputs_ = output_codes(train, task, self.classes_)
        self.model_ = self._new_model(task, len(self.outputs_))
        self.history_: list[dict[str, Any]] = []
        if task == "categorical":
            self._fit_categorical(train, dev)
        else:
            self._fit_attributes(train, dev)
        self.fit_seconds_ = round(time.perf_counter() - started, 2)
        return self

    def _check_params(self) -> None:
        check_choice("output", self.output, ("backend", "softmax"))
        check_scale(self.attribute_scale)
        check_choice("attribute_loss", self.attribute_loss, ("ccc", "one_minus_ccc"))
        check_choice("class_weighting", self.class_weighting, ("none", "inverse_frequency"))

    # -- model -------------------------------------------------------------------------------------
    def _new_model(self, task: str, outputs: int):
        import torch

        from systems.components.speech_model import build_model, load_backbone

        backbone = load_backbone(self.backbone, scratch_config=self.scratch_config, seed=self.seed)
        finetune = self.finetune
        if self.scratch_config is not None and finetune == "lora":
            log.info(
                "audio_w2vbert: a scratch backbone trains fully (LoRA on random weights is moot)"
            )
            finetune = "full"
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
        self.normalize_input_ = self._reads_normalised()
        return model

    def _reads_normalised(self) -> bool:
        """Whether the checkpoint's feature extractor normalises the waveform (WavLM base: no;
        a random backbone from ``scratch_config`` has no extractor: yes)."""
        from systems.components.local_weights import local_model
        from systems.components.speech_features import reads_normalised

        scratch = self.scratch_config is not None
        return reads_normalised(None if scratch else local_model(self.backbone, "backbone"))

    def _device(self) -> str:
        """Where a loaded model runs: the GPU when there is one and ``cpu`` is not forced."""
        from systems.components.devices import torch_device

        return torch_device(bool(self.cpu))

    def _frontend(self):
        from systems.components.speech_features import frontend_for

        return frontend_for(
            self.backbone_config_["model_type"], getattr(self, "normalize_input_", True)
        )

    def _augmenter(self):
        return make_augmenter(
            self.noise_dir,
            self.rir_dir,
            prob=self.augment_prob,
            snr_db=self.noise_snr_db,
            who="audio_w2vbert",
        )

    def _train_config(self, stage: str, *, epochs: int, lr: float):
        from systems.components.training import TrainConfig

        checkpoint_dir = None
        if self.work_dir is not None:
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
        params = {k: v for k, v in self.get_params().items() if k != "progress"}
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

        summary = train_on_chunks(
            self.model_,
            source,
            targets,
            loss_fn,
            evaluate,
            frontend=self._frontend(),
            augmenter=self._augmenter_,
            chunk_seconds=chunk_seconds,
            speed_prob=self.speed_prob,
            speed_factors=self.speed_factors,
            config=self._train_config(stage, epochs=epochs, lr=lr),
            seed=self.seed,
            balance=balance,
            target_dtype=target_dtype or torch.long,
            description=f"audio_w2vbert {self.task_} {stage}",
        )
        self.history_.append({"stage": stage, **summary})

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
            description=f"{self.name}: predicting",
            show_progress=bool(self.progress),
        )

    def _run_frame(self, data: pd.DataFrame) -> dict[str, np.ndarray]:
        return self._run(self._source(data.reset_index(drop=True)))

    # -- categorical -------------------------------------------------------------------------------
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
        return inverse_frequency_weights(targets, len(self.outputs_))

    def _network_prior(self) -> np.ndarray:
        """The prior that the network's scored-class softmax corresponds to."""
        if self.class_weighting == "inverse_frequency":
            return np.full(len(self.classes_), 1.0 / len(self.classes_))
        return self.train_prior_

    def _categorical_evaluator(self, dev: pd.DataFrame | None):
        """Macro-F1 on Dev_bal of the uniform-prior softmax, for best-epoch selection."""
        if dev is None or len(dev) == 0:
            return None
        import scoring

        source = self._source(dev)
        truth = dev["label"].astype(str).to_numpy()

        def evaluate(model) -> float:
            posteriors = self._softmax(self._run_with(model, source)["output"], uniform=True)
            predicted = np.asarray(self.classes_)[posteriors.argmax(axis=1)]
            return float(scoring.macro_f1(truth, predicted, labels=list(self.classes_)))

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
        prior = self._network_prior() if uniform else None
        return scored_softmax(logits, len(self.classes_), from_prior=prior)

    def _fit_backends(self, source, labels: np.ndarray) -> None:
        from systems.components.backends import fit_backends

        self.backends_ = fit_backends(
            [self.backend, *self.extra_backends],
            self._run(source)["embedding"],
            labels,
            self.classes_,
            lda_dims=self.lda_dims,
            target=self.target_prior,
        )
        if self.output == "backend" and self.backend not in self.backends_:
            raise HarnessError(
                "output=backend needs a back-end",
                fix="set backend=lda_lr (or plda), or output=softmax",
            )

    def training_prior(self) -> np.ndarray | None:
        """The prior that :meth:`predict`'s posteriors correspond to (uniform after the bias shift)."""
        if self.task_ != "categorical":
            return None
        if self.output == "backend":
            return self.backends_[self.backend].target_prior()
        return self._network_prior()

    # -- attributes --------------------------------------------------------------------------------
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
        import scoring

        source = self._source(dev)
        truth = dev[list(ATTRIBUTES)].to_numpy(dtype=np.float64)

        def evaluate(model) -> float:
            predicted = self._unscale(self._run_with(model, source)["output"])
            return float(
                np.mean([scoring.ccc(predicted[:, j], truth[:, j]) for j in range(truth.shape[1])])
            )

        return evaluate

    def _scale(self, values: np.ndarray) -> np.ndarray:
        return to_network(values, self.attribute_scale)

    def _unscale(self, values: np.ndarray) -> np.ndarray:
        return to_challenge(values, self.attribute_scale)

    # -- predict -----------------------------------------------------------------------------------
    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        """Posteriors over the 8 scored classes (the back-end's, uniform prior) or A/V/D on 1-7."""
        return self.predict_with_variants(data)[0]

    def predict_with_variants(
        self, data: pd.DataFrame
    ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """The output, and the network's own softmax and every back-end side by side (categorical
        only), from one forward pass.

        ``softmax`` is the network under the training prior, ``softmax_uniform`` the same moved to
        a uniform prior; ``<backend>`` is the back-end after the bias shift and
        ``<backend>_train_prior`` before it.
        """
        with torch_threads(self.num_threads):
            variants, primary = self._predict_all_unlocked(data)
        return variants[primary], (variants if self.task_ == "categorical" else {})

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
        from systems.components.backends import backend_posteriors

        posteriors = {
            "softmax": self._softmax(result["output"], uniform=False),
            "softmax_uniform": self._softmax(result["output"], uniform=True),
            **backend_posteriors(self.backends_, result["embedding"]),
        }
        variants = {k: P.categorical(ids, v, self.classes_) for k, v in posteriors.items()}
        return variants, (self.backend if self.output == "backend" else "softmax")

    def embeddings(self, data: pd.DataFrame) -> np.ndarray:
        """Utterance embeddings from the dense layer after pooling (what the back-end sees)."""
        self._check_fitted()
        with torch_threads(self.num_threads):
            return self._run_frame(data)["embedding"]

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise HarnessError("audio_w2vbert is not fitted", fix="call fit() or load() first")

    # -- persistence and report --------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Parameters, architecture, weights (trainable ones for pretrained backbones) and back-ends."""
        from systems.components.training import save_weights

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
        # A scratch backbone has no weights to rebuild from: everything is saved.
        full = self.scratch_config is not None
        save_weights(self.model_, directory / "model.safetensors", full=full)
        for kind, backend in getattr(self, "backends_", {}).items():
            backend.save(directory / f"backend-{kind}.npz")

    @classmethod
    def load(cls, directory: str | Path) -> AudioW2VBert:
        from safetensors.torch import load_file

        from systems.components.backends import load_backends

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
            system.backends_ = load_backends(directory, [system.backend, *system.extra_backends])
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
