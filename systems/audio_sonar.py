"""``audio_sonar``: the SONAR speech encoder fine-tuned with LoRA, scored by PLDA (TalTech, post-evaluation).

The seed paper's best category fusion pairs this audio system with the 4-bit LLaMA-2-70B text model.
It is ``audio_w2vbert``'s recipe (same LoRA, optimiser, chunks, augmentation, head and CCC loss;
that class's training and back-end code is reused as is) with two changes:

* the encoder is SONAR's speech encoder (``sonar_speech_encoder_eng``): fairseq2's w2v-BERT 600M
  Conformer, loaded from the published fairseq2 checkpoint by
  :mod:`systems.components.sonar_convert`, and SONAR's own pooler
  (:class:`~systems.components.sonar_pooler.SonarAttentionPooler`, a 3-layer Transformer decoder
  with one learned query, not a mean) giving the 1024-dim sentence embedding that the dense+BN
  head reads;
* the categorical output is the PLDA back-end on the head's embeddings. PLDA scores are
  class-conditional likelihoods, so its output is formed with a uniform prior and needs no bias
  shift: :meth:`training_prior` says uniform, and the harness's ``prior`` variant equals ``raw``
  by construction. The evidence is in the named variants beside it: ``plda_train_prior`` (the
  same likelihoods under the training prior), ``lda_lr`` / ``lda_lr_train_prior`` (LDA + LR shifted
  to uniform / as trained) and ``softmax`` / ``softmax_uniform`` (the network's own softmax).

The ``demo`` profile builds a tiny encoder of the same classes (Conformer with relative positions,
SONAR convolution, SONAR pooler) from config and trains it from scratch on the CPU.

torch, transformers and peft are imported inside methods: importing this module is cheap.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.params import choice, integer, mapping, optional
from systems.audio_w2vbert import AudioW2VBert
from systems.components.params import DROPOUT, model_config_rule, store_params

log = logging.getLogger(__name__)

PAPER_CHECKPOINT = "sonar_speech_encoder_eng"


class AudioSonar(AudioW2VBert):
    """SONAR speech encoder (+ LoRA) -> SONAR pooler -> dense+BN head; PLDA on the embeddings."""

    name = "audio_sonar"
    tasks = ("categorical", "attributes")
    modalities = ("audio",)
    param_rules = {
        **AudioW2VBert.param_rules,
        # sonar_encoder_config: always a Wav2Vec2BertConfig, with SONAR's "same"-padded convolution
        "scratch_config": optional(model_config_rule(model_types=None, odd_kernel=True)),
        "pooler_config": optional(
            mapping(
                num_layers=integer(ge=1),
                num_heads=integer(ge=1),
                ffn_dim=integer(ge=1),
                dropout=DROPOUT,
                bos_idx=integer(ge=0),
                pad_idx=integer(ge=0),
            )
        ),
        "pooler_finetune": choice("frozen", "full"),
        "pooling": choice("sonar"),  # SONAR's attention pooler; other poolings: audio_w2vbert
    }

    def __init__(
        self,
        *,
        backbone: str,
        scratch_config: dict | None,
        pooler_config: dict | None,
        pooler_finetune: str,
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

    # -- model --------------------------------------------------------------------------------
    def _check_params(self) -> None:
        super()._check_params()
        if self.pooling != "sonar":
            raise HarnessError(
                f"audio_sonar pools with SONAR's pooler, not {self.pooling!r}",
                fix="use pooling=sonar (or system=audio_w2vbert for other poolings)",
            )
        if self.pooler_finetune not in ("frozen", "full"):
            raise HarnessError(
                f"unknown pooler_finetune {self.pooler_finetune!r}", fix="use frozen or full"
            )

    def _new_model(self, task: str, outputs: int):
        import torch

        from systems.components.sonar_pooler import (
            build_pooler,
            build_sonar_encoder,
            sonar_encoder_config,
        )
        from systems.components.speech_model import MODEL_PARAMS, build_model

        scratch = self.scratch_config is not None
        if scratch:
            config = sonar_encoder_config(**self.scratch_config)
            torch.manual_seed(self.seed)
            encoder = build_sonar_encoder(config)
            pooler = build_pooler(config.hidden_size, self.pooler_config)
        else:
            encoder, pooler = self._load_checkpoint()
        finetune = "full" if scratch and self.finetune == "lora" else self.finetune
        torch.manual_seed(self.seed)
        settings = {k: getattr(self, k) for k in MODEL_PARAMS if k != "pooling"}
        settings["finetune"] = finetune
        # The head is built with a mean pooling, then given SONAR's pooler (same output width).
        model = build_model(encoder, outputs=outputs, task=task, pooling="mean", **settings)
        model.head.pool = pooler
        if not scratch and (self.pooler_finetune == "frozen" or finetune == "frozen"):
            pooler.requires_grad_(False)
        self.backbone_config_ = encoder.config.to_dict()
        return model

    def check_ready(self) -> None:
        """The fairseq2 checkpoint is a local file (unless a ``scratch_config`` is given), the
        pooler's heads split the encoder's width, and LoRA targets name modules of the encoder.
        The checkpoint fixes the architecture, so its module tree is built from SONAR's config
        on the meta device without reading the file."""
        from systems.components.sonar_pooler import SONAR_POOLER, sonar_encoder_config

        self._check_output()
        config = sonar_encoder_config(**(self.scratch_config or {}))
        heads = int({**SONAR_POOLER, **(self.pooler_config or {})}["num_heads"])
        if config.hidden_size % heads:
            raise HarnessError(
                f"pooler_config.num_heads={heads} does not divide the encoder's width "
                f"{config.hidden_size}",
                fix=f"pass pooler_config.num_heads={_divisor_near(config.hidden_size, heads)}",
            )
        if self.scratch_config is None:
            self._checkpoint_path()
            if self.finetune == "lora":
                from systems.components.model_checks import check_lora_targets, meta_modules
                from systems.components.params import yaml_params
                from systems.components.sonar_pooler import build_sonar_encoder

                check_lora_targets(
                    list(self.lora_targets),
                    meta_modules(lambda: build_sonar_encoder(config)),
                    param="lora_targets",
                    model="the SONAR speech encoder",
                    default=yaml_params(self.name)["lora_targets"],
                )

    def _checkpoint_path(self) -> Path:
        path = Path(str(self.backbone)).expanduser()
        if not path.is_file():
            raise HarnessError(
                f"SONAR speech encoder weights {str(self.backbone)!r} are not available offline",
                fix="download the fairseq2 checkpoint once and pass "
                "backbone=/path/to/sonar_speech_encoder_eng.pt",
            )
        return path

    def _load_checkpoint(self):
        from systems.components.sonar_convert import load_sonar

        return load_sonar(self._checkpoint_path(), pooler_settings=self.pooler_config)

    def report(self) -> dict[str, Any]:
        facts = super().report()
        if facts:
            facts["encoder"] = "sonar"
            facts["pooler"] = "sonar attention pooler" + (
                "" if self.scratch_config is not None else f" ({self.pooler_finetune})"
            )
        return facts


def paper_parameter_counts(**overrides: Any) -> dict[str, int]:
    """Parameters of the paper configuration, counted on the meta device (no weights, no memory).

    The real SONAR speech encoder (``english``: 24 Conformer layers, 3 pooler layers) with LoRA
    r=32 on ``linear_q/k/v/out``, the frozen pooler and the 10-output dense+BN head, built exactly
    as :meth:`AudioSonar._new_model` builds it.
    """
    import torch

    from systems.components.lora import count_parameters
    from systems.components.params import yaml_params
    from systems.components.sonar_pooler import (
        build_pooler,
        build_sonar_encoder,
        sonar_encoder_config,
    )
    from systems.components.speech_model import MODEL_PARAMS, build_model

    params = yaml_params("audio_sonar")
    keys = [k for k in MODEL_PARAMS if k != "pooling"]  # the pooling is SONAR's, set below
    settings = {"outputs": 10, "task": "categorical", **{k: params[k] for k in keys}, **overrides}
    with torch.device("meta"):
        encoder = build_sonar_encoder(sonar_encoder_config())
        pooler = build_pooler(encoder.config.hidden_size)
        encoder_total = sum(p.numel() for p in encoder.parameters())
        pooler_total = sum(p.numel() for p in pooler.parameters())
        model = build_model(encoder, pooling="mean", **settings)
        model.head.pool = pooler
        pooler.requires_grad_(False)
    trainable, total = count_parameters(model)
    head_trainable = sum(p.numel() for p in model.head.parameters() if p.requires_grad)
    return {
        "encoder": encoder_total,
        "pooler": pooler_total,
        "sonar_total": encoder_total + pooler_total,
        "total": total,
        "trainable": trainable,
        "lora": trainable - head_trainable,
        "head": head_trainable,
    }


def _divisor_near(width: int, heads: int) -> int:
    """The head count nearest ``heads`` that splits ``width`` evenly (the smaller on a tie)."""
    return min(
        (d for d in range(1, width + 1) if width % d == 0), key=lambda d: (abs(d - heads), d)
    )
