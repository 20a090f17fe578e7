"""Attention-pooling fusion of frozen speech and text encoder states (the EmoSpeech 2024 winner).

Why a component: the network that trains on top of frozen encoders is small and self-contained,
and the same pieces (a softmax-weighted sum of encoder layers, one learned query that pools a
sequence, a Linear/LayerNorm/GELU classifier) serve ablations, ensembles and the GPU benchmark.

* :class:`LayerWeightedSum`: ``softmax(a)``-weighted sum over the encoder's hidden layers; the
  logits ``a`` are the only trained speech-encoder parameters (initialised equal).
* :class:`QueryAttentionPooling`: ``w_t = softmax_t(u^T h_t / sqrt(E))``, ``c = sum_t w_t h_t``
  with one trainable ``u``; padded positions get exactly zero weight.
* :class:`AttnPoolFusion`: LayerNorm on the speech frames and on the text tokens, then either ONE
  pooling over the two sequences concatenated along time (``fusion="joint"``, the winning
  configuration) or one pooling per modality with the pooled vectors concatenated
  (``fusion="concat"``), then the classifier.

Shapes: speech states ``(batch, layers, frames, dim)``, text states ``(batch, tokens, dim)``,
masks ``(batch, time)`` with 1 for real positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from systems.components.pooling import masked_softmax

MODALITIES = ("audio", "text")
FUSIONS = ("joint", "concat")


class LayerWeightedSum(nn.Module):
    """Learned convex combination of ``num_layers`` hidden layers."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(int(num_layers)))

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return torch.einsum("l,bltd->btd", self.weights().to(states.dtype), states)


class QueryAttentionPooling(nn.Module):
    """One trainable query scores every position (scaled dot product); weighted mean over time."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = int(dim)
        self.query = nn.Parameter(torch.empty(self.dim))
        # Xavier-normal for a (dim, 1) matrix, as the reference implementation initialises it.
        nn.init.normal_(self.query, std=math.sqrt(2.0 / (self.dim + 1)))

    def weights(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        scores = torch.einsum("btd,d->bt", frames, self.query.to(frames.dtype)) / math.sqrt(
            self.dim
        )
        return masked_softmax(scores, mask)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.einsum("bt,btd->bd", self.weights(frames, mask), frames)


def classifier(
    in_dim: int, width: int, hidden_layers: int, dropout: float, outputs: int
) -> nn.Sequential:
    """Input dropout, an input block and ``hidden_layers`` more blocks, then the output layer.

    Each block is Linear, LayerNorm, GELU, Dropout. ``hidden_layers`` counts the blocks after
    the input block, as the reference's ``classifier_hidden_layers`` flag does (2 -> 3 blocks).
    """
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    previous = int(in_dim)
    for _ in range(int(hidden_layers) + 1):
        layers += [nn.Linear(previous, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout)]
        previous = int(width)
    layers.append(nn.Linear(previous, int(outputs)))
    return nn.Sequential(*layers)


class AttnPoolFusion(nn.Module):
    """Layer-weighted speech + text tokens -> attention pooling -> classifier logits."""

    def __init__(
        self,
        *,
        modalities: Sequence[str],
        speech_layers: int,
        speech_dim: int,
        text_dim: int,
        fusion: str,
        width: int,
        hidden_layers: int,
        dropout: float,
        outputs: int,
    ) -> None:
        super().__init__()
        self.modalities = tuple(m for m in MODALITIES if m in modalities)
        if not self.modalities or set(modalities) - set(MODALITIES):
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}")
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}")
        self.fusion = fusion
        self.audio = "audio" in self.modalities
        self.text = "text" in self.modalities
        self.text_projection: nn.Module | None = None
        if self.audio:
            self.layer_weights = LayerWeightedSum(speech_layers)
            self.speech_norm = nn.LayerNorm(speech_dim)
        if self.text:
            self.text_norm = nn.LayerNorm(text_dim)
        joint_dim = speech_dim if self.audio else text_dim
        if fusion == "joint" or len(self.modalities) == 1:
            if self.audio and self.text and text_dim != speech_dim:
                # Widths differ (the demo encoders may): one linear map to the speech width.
                self.text_projection = nn.Linear(text_dim, speech_dim)
            self.pooling = QueryAttentionPooling(joint_dim)
            pooled_dim = joint_dim
        else:
            self.speech_pooling = QueryAttentionPooling(speech_dim)
            self.text_pooling = QueryAttentionPooling(text_dim)
            pooled_dim = speech_dim + text_dim
        self.pooled_dim = pooled_dim
        self.classifier = classifier(pooled_dim, width, hidden_layers, dropout, outputs)

    def sequences(self, speech=None, speech_mask=None, text=None, text_mask=None):
        """The normalised (frames, mask) pairs the pooling sees, one per modality used."""
        out = []
        if self.audio:
            out.append((self.speech_norm(self.layer_weights(speech)), speech_mask))
        if self.text:
            tokens = self.text_norm(text)
            if self.text_projection is not None:
                tokens = self.text_projection(tokens)
            out.append((tokens, text_mask))
        return out

    def pooled(self, speech=None, speech_mask=None, text=None, text_mask=None) -> torch.Tensor:
        parts = self.sequences(speech, speech_mask, text, text_mask)
        if hasattr(self, "pooling"):
            frames = torch.cat([f for f, _ in parts], dim=1)
            masks = [f.new_ones(f.shape[:2]) if m is None else m.to(f.dtype) for f, m in parts]
            return self.pooling(frames, torch.cat(masks, dim=1))
        (speech_frames, s_mask), (text_frames, t_mask) = parts
        return torch.cat(
            [self.speech_pooling(speech_frames, s_mask), self.text_pooling(text_frames, t_mask)],
            dim=1,
        )

    def forward(self, speech=None, speech_mask=None, text=None, text_mask=None) -> torch.Tensor:
        return self.classifier(self.pooled(speech, speech_mask, text, text_mask))


# -- batches --------------------------------------------------------------------------------------
def crop_indices(length: int, crop: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices of a random ``crop``-frame window; a shorter sequence is repeated first.

    Repetition padding as in the reference: the sequence is tiled ``ceil(crop / length)`` times
    and the window is drawn from the tiled sequence, so a short utterance fills the window.
    """
    length, crop = int(length), int(crop)
    if length <= 0:
        raise ValueError("cannot crop an empty sequence")
    if crop <= 0:
        return np.arange(length)
    tiled = np.tile(np.arange(length), math.ceil(crop / length))
    start = int(rng.integers(0, tiled.size - crop + 1))
    return tiled[start : start + crop]


def pad_sequences(
    items: Sequence[torch.Tensor], time_axis: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad tensors along ``time_axis`` and stack them; a (batch, time) mask of real positions."""
    longest = max(int(item.shape[time_axis]) for item in items)
    shape = list(items[0].shape)
    shape[time_axis] = longest
    batch = items[0].new_zeros((len(items), *shape))
    mask = torch.zeros((len(items), longest), dtype=torch.float32)
    for row, item in enumerate(items):
        n = int(item.shape[time_axis])
        index = [row] + [slice(None)] * item.dim()
        index[time_axis + 1] = slice(0, n)
        batch[tuple(index)] = item
        mask[row, :n] = 1.0
    return batch, mask


# -- the paper configuration's size -----------------------------------------------------------
XLSR_300M = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    feat_extract_norm="layer",
    do_stable_layer_norm=True,
    conv_bias=True,
)
"""``Wav2Vec2Config`` of facebook/wav2vec2-xls-r-300m (the paper's speech encoder)."""
ROBERTA_LARGE_BNE = dict(
    vocab_size=50262,
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    max_position_embeddings=514,
    type_vocab_size=1,
)
"""``RobertaConfig`` of PlanTL-GOB-ES/roberta-large-bne (the paper's text encoder)."""


def paper_trainable_parameters(outputs: int = 6) -> dict[str, int]:
    """Trainable parameters of the paper configuration, counted on the meta device.

    The encoders are built from the real configs (XLS-R 300M: wav2vec 2.0 large, 24 layers of
    1024; RoBERTa-large BNE: 24 layers of 1024, vocabulary 50262) without weights, to read their
    depth and width and to count what stays frozen.
    """
    from transformers import RobertaConfig, RobertaModel, Wav2Vec2Config, Wav2Vec2Model

    speech_config = Wav2Vec2Config(**XLSR_300M)
    text_config = RobertaConfig(**ROBERTA_LARGE_BNE)
    with torch.device("meta"):
        speech = Wav2Vec2Model(speech_config)
        text = RobertaModel(text_config, add_pooling_layer=False)
        head = AttnPoolFusion(
            modalities=MODALITIES,
            speech_layers=speech_config.num_hidden_layers,
            speech_dim=speech_config.hidden_size,
            text_dim=text_config.hidden_size,
            fusion="joint",
            width=512,
            hidden_layers=2,
            dropout=0.1,
            outputs=outputs,
        )

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    parts = {
        "layer_weights": count(head.layer_weights),
        "speech_layernorm": count(head.speech_norm),
        "text_layernorm": count(head.text_norm),
        "pooling_query": count(head.pooling),
        "classifier": count(head.classifier),
    }
    return {
        **parts,
        "trainable": sum(parts.values()),
        "frozen_speech_encoder": count(speech),
        "frozen_text_encoder": count(text),
    }
