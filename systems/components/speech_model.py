"""A self-supervised speech encoder with a pooling head for emotion: classes or A/V/D attributes.

Why one module for the TalTech system and the Odyssey 2024 baseline: both are "backbone -> pool
over frames -> small head"; they differ in the backbone (w2v-BERT 2.0 with LoRA vs WavLM fully
fine-tuned), the pooling (attentive vs attentive statistics) and the head (dense+ReLU+BatchNorm vs
Linear+LayerNorm+ReLU+dropout). Keeping them in one code path means a fix to masking, chunking or
resume applies to both.

Backbones come from a local directory or the Hugging Face cache only (``local_files_only=True``);
a missing checkpoint is one :class:`~harness.errors.MissingModelError` line. A ``scratch_config``
builds the same model class from its transformers config with random weights instead (the demo
and the tests).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError, MissingModelError, first_line
from systems.components.pooling import build_pooling

log = logging.getLogger(__name__)

MODEL_PARAMS: tuple[str, ...] = (
    "finetune",
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "lora_targets",
    "freeze_feature_encoder",
    "gradient_checkpointing",
    "pooling",
    "pooling_hidden",
    "head",
    "embedding_dim",
    "head_dropout",
)
"""The system parameters :func:`build_model` takes, by the same names."""

_CONFIG_CLASSES = {"wav2vec2-bert": "Wav2Vec2BertConfig", "wavlm": "WavLMConfig"}
_MODEL_CLASSES = {"wav2vec2-bert": "Wav2Vec2BertModel", "wavlm": "WavLMModel"}


def _transformers_class(table: dict[str, str], model_type: str):
    import transformers

    if model_type not in table:
        raise HarnessError(
            f"unsupported backbone type {model_type!r}",
            fix=f"use a {' or '.join(table)} checkpoint",
        )
    return getattr(transformers, table[model_type])


def check_backbone(
    backbone: str,
    *,
    lora_targets: Sequence[str] | None,
    default_targets: Sequence[str],
) -> None:
    """What :func:`load_backbone` and LoRA will need, read from the config alone (for
    ``check_ready``): local weights, a supported model type, and LoRA targets that name modules
    of that network (``None``: no LoRA)."""
    from systems.components.local_weights import local_model
    from systems.components.model_checks import (
        check_lora_targets,
        check_weights,
        meta_modules,
        read_config,
    )

    path = local_model(backbone, "backbone")
    config = read_config(path, param="backbone", what="a speech encoder")
    model_class = _transformers_class(_MODEL_CLASSES, config.model_type)
    check_weights(path, param="backbone", what="a speech encoder")
    if lora_targets is not None:
        check_lora_targets(
            list(lora_targets),
            meta_modules(lambda: model_class(config)),
            param="lora_targets",
            model=f"{backbone} ({config.model_type})",
            default=default_targets,
        )


def scratch_backbone_config(scratch_config: dict[str, Any]):
    """A transformers config from a dict; ``model_type`` picks the class (default w2v-BERT)."""
    settings = dict(scratch_config)
    model_type = settings.pop("model_type", "wav2vec2-bert")
    return _transformers_class(_CONFIG_CLASSES, model_type)(**settings)


def load_backbone(
    backbone: str,
    *,
    scratch_config: dict[str, Any] | None = None,
    layerdrop: float | None = 0.0,
    seed: int = 0,
) -> nn.Module:
    """The encoder, from ``scratch_config`` (random weights) or from local weights only.

    ``layerdrop`` overrides the checkpoint's value: w2v-BERT 2.0 ships 0.1, and a skipped layer
    leaves parameters without gradients, which breaks DDP (and LoRA adapters in skipped layers
    would learn from fewer batches).
    """
    if scratch_config is not None:
        config = scratch_backbone_config(scratch_config)
        if layerdrop is not None:
            config.layerdrop = layerdrop
        torch.manual_seed(seed)
        return _transformers_class(_MODEL_CLASSES, config.model_type)(config)
    from transformers import AutoConfig

    from systems.components.local_weights import local_model

    path = local_model(backbone, "backbone")  # the same test as check_ready
    kwargs = {"local_files_only": True}
    if layerdrop is not None:
        kwargs["layerdrop"] = layerdrop
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        model_class = _transformers_class(_MODEL_CLASSES, config.model_type)
        return model_class.from_pretrained(path, **kwargs)
    except HarnessError:
        raise
    except (OSError, ValueError) as exc:
        if os.path.isdir(path):
            raise HarnessError(
                f"cannot load a speech encoder from this directory ({first_line(exc)[:160]})",
                file=path,
                fix="pass a directory with config.json and model weights saved by transformers",
            ) from None
        raise MissingModelError(backbone, "backbone") from None


class EmotionHead(nn.Module):
    """Pooling, one dense embedding layer, output layer.

    ``dense_bn`` (TalTech): Linear -> ReLU -> BatchNorm; for attributes a tanh then a 3-output
    Linear. ``baseline`` (Odyssey 2024): Linear -> LayerNorm -> ReLU -> dropout -> Linear.
    The embedding the back-end uses is the output of the dense block (before tanh or dropout).
    """

    def __init__(
        self,
        dim: int,
        outputs: int,
        *,
        task: str,
        pooling: str,
        pooling_hidden: int,
        kind: str,
        embedding_dim: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.pool = build_pooling(pooling, dim, pooling_hidden)
        self.kind = kind
        self.task = task
        if kind == "dense_bn":
            self.dense = nn.Linear(self.pool.output_dim, embedding_dim)
            self.norm = nn.BatchNorm1d(embedding_dim)
            self.dropout = nn.Identity()
        elif kind == "baseline":
            self.dense = nn.Linear(self.pool.output_dim, embedding_dim)
            self.norm = nn.LayerNorm(embedding_dim)
            self.dropout = nn.Dropout(dropout)
        else:
            raise ValueError(f"unknown head {kind!r}; use dense_bn or baseline")
        self.output = nn.Linear(embedding_dim, outputs)

    def embed(self, frames: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        hidden = self.dense(self.pool(frames, mask))
        if self.kind == "baseline":
            return F.relu(self.norm(hidden))
        return self._batch_norm(F.relu(hidden))

    def _batch_norm(self, hidden: torch.Tensor) -> torch.Tensor:
        """BatchNorm that tolerates a final training batch of one (uses running statistics)."""
        if self.training and hidden.shape[0] == 1:
            norm = self.norm
            return F.batch_norm(
                hidden,
                norm.running_mean,
                norm.running_var,
                norm.weight,
                norm.bias,
                training=False,
                eps=norm.eps,
            )
        return self.norm(hidden)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        embedding = self.embed(frames, mask)
        hidden = self.dropout(embedding)
        if self.task == "attributes" and self.kind == "dense_bn":
            hidden = torch.tanh(hidden)
        return {"output": self.output(hidden), "embedding": embedding}


class SpeechEmotionModel(nn.Module):
    """Backbone (optionally LoRA-wrapped) + :class:`EmotionHead`; forward takes front-end output."""

    def __init__(self, backbone: nn.Module, head: EmotionHead, input_name: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.input_name = input_name

    def base_backbone(self) -> nn.Module:
        """The transformers model under any peft wrapper."""
        backbone = self.backbone
        return backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone

    def frame_mask(self, frames: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mask of encoder frames: the input mask for w2v-BERT, downsampled for WavLM's CNN."""
        if frames.shape[1] == attention_mask.shape[1]:
            return attention_mask
        return self.base_backbone()._get_feature_vector_attention_mask(
            frames.shape[1], attention_mask
        )

    def forward(
        self, attention_mask: torch.Tensor, **inputs: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        frames = self.backbone(attention_mask=attention_mask, **inputs).last_hidden_state
        return self.head(frames, self.frame_mask(frames, attention_mask))


def build_model(
    backbone_module: nn.Module,
    *,
    outputs: int,
    task: str,
    finetune: str,
    lora_rank: int,
    lora_alpha: int,
    lora_dropout: float,
    lora_targets: Sequence[str],
    freeze_feature_encoder: bool,
    gradient_checkpointing: bool,
    pooling: str,
    pooling_hidden: int,
    head: str,
    embedding_dim: int,
    head_dropout: float,
) -> SpeechEmotionModel:
    """Set up fine-tuning (``lora``, ``full`` or ``frozen``) and attach the head. Every setting
    is an argument: the values live in the system's YAML."""
    from systems.components.speech_features import frontend_for

    config = backbone_module.config
    _freeze_unused_mask_embedding(backbone_module)
    if gradient_checkpointing:
        _enable_checkpointing(backbone_module)
    if finetune == "lora":
        import warnings

        from systems.components.lora import apply_lora

        with warnings.catch_warnings():  # transformers 5 deprecation noise from inside peft
            warnings.simplefilter("ignore", FutureWarning)
            backbone_module = apply_lora(
                backbone_module,
                rank=lora_rank,
                alpha=lora_alpha,
                dropout=lora_dropout,
                target_modules=list(lora_targets),
            )
    elif finetune == "frozen":
        backbone_module.requires_grad_(False)
    elif finetune == "full":
        if freeze_feature_encoder and hasattr(backbone_module, "freeze_feature_encoder"):
            backbone_module.freeze_feature_encoder()
    else:
        raise HarnessError(
            f"unknown finetune mode {finetune!r}", fix="use finetune=lora, full or frozen"
        )
    head_module = EmotionHead(
        config.hidden_size,
        outputs,
        task=task,
        pooling=pooling,
        pooling_hidden=pooling_hidden,
        kind=head,
        embedding_dim=embedding_dim,
        dropout=head_dropout,
    )
    return SpeechEmotionModel(
        backbone_module, head_module, frontend_for(config.model_type).input_name
    )


def _enable_checkpointing(backbone: nn.Module) -> None:
    """Recompute encoder activations in the backward pass (memory for time); non-reentrant, so it
    works with a frozen input and LoRA. transformers 5 renamed the method."""
    kwargs = {"use_reentrant": False}
    if hasattr(backbone, "activation_checkpointing_enable"):
        backbone.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:  # transformers 4.x
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def _freeze_unused_mask_embedding(backbone: nn.Module) -> None:
    """SpecAugment's learned mask vector gets no gradient when masking is off; under DDP an
    unused trainable parameter is an error ("Expected to have finished reduction ...")."""
    config = backbone.config
    masking = config.apply_spec_augment and (
        config.mask_time_prob > 0 or config.mask_feature_prob > 0
    )
    embedding = getattr(backbone, "masked_spec_embed", None)
    if embedding is not None and not masking:
        embedding.requires_grad_(False)


def paper_trainable_parameters(**overrides: Any) -> dict[str, int]:
    """Trainable/total parameters of the paper configuration, counted without weights (meta device).

    Builds the real ``Wav2Vec2BertConfig`` (its defaults are w2v-BERT 2.0's architecture), wraps it
    with LoRA and the 10-output head exactly as :func:`build_model` does, on ``torch.device("meta")``
    so no memory is allocated and nothing is downloaded.
    """
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

    from systems.components.lora import count_parameters
    from systems.components.params import yaml_params

    paper = yaml_params("audio_w2vbert")
    settings = {key: paper[key] for key in MODEL_PARAMS}
    settings.update({"outputs": 10, "task": "categorical", **overrides})
    with torch.device("meta"):
        backbone = Wav2Vec2BertModel(Wav2Vec2BertConfig(layerdrop=0.0))
        model = build_model(backbone, **settings)
    trainable, total = count_parameters(model)
    head_trainable = sum(p.numel() for p in model.head.parameters() if p.requires_grad)
    return {
        "trainable": trainable,
        "total": total,
        "lora": trainable - head_trainable,
        "head": head_trainable,
    }
