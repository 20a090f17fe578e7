"""The SONAR speech encoder as torch modules: a w2v-BERT Conformer and SONAR's attention pooler.

Why this exists: SONAR's speech encoders (``sonar_speech_encoder_eng`` and the other languages)
are published as fairseq2 checkpoints, and fairseq2 does not import beside this torch. The
architecture (facebookresearch/SONAR ``sonar/models/sonar_speech/builder.py``, arch ``english``;
``sonar/nn/encoder_pooler.py``) is:

* fairseq2's w2v-BERT ``600m`` encoder: 80 log-mel bins stacked to 160 dims, LayerNorm(160),
  Linear(160 -> 1024), 24 Conformer blocks (16 heads, FFN 4096, Swish, depthwise kernel 31)
  with Transformer-XL relative positions (``u_bias``, ``v_bias``, ``r_proj``);
* a LayerNorm after the last block (moved out of the encoder by SONAR's loader);
* ``AttentionEncoderOutputPooler``: NOT a mean. One learned query (row ``bos_idx=2`` of a
  1024 x 1024 embedding table, scaled by sqrt(1024), plus the sinusoidal position 0) goes
  through a 3-layer post-norm Transformer decoder (6 layers for the non-English encoders) that
  cross-attends to the encoder frames; a bias-free Linear(1024, 1024) gives the sentence
  embedding.

transformers' ``Wav2Vec2BertModel`` computes the same frontend, feed-forward blocks and relative
attention (``position_embeddings_type="relative"``), but its convolution module is w2v-BERT 2.0's
(causal left padding, LayerNorm after the depthwise convolution). fairseq2's ``600m`` Conformer
uses symmetric ("same") padding and BatchNorm, so :func:`build_sonar_encoder` swaps in
:class:`SonarConvolutionModule`. The final LayerNorm lives in :class:`SonarAttentionPooler`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

SONAR_ENCODER = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    feature_projection_input_dim=160,
    conv_depthwise_kernel_size=31,
    hidden_act="swish",
    position_embeddings_type="relative",
    layer_norm_eps=1e-5,
)
"""fairseq2 ``wav2vec2_encoder_bert_600m`` in transformers' ``Wav2Vec2BertConfig`` terms."""

SONAR_POOLER = dict(num_layers=3, num_heads=16, ffn_dim=4096, dropout=0.1, bos_idx=2, pad_idx=1)
"""SONAR arch ``english``; ``non_english`` has 6 decoder layers."""

_INFERENCE_ONLY = dict(
    layerdrop=0.0,
    apply_spec_augment=False,
    mask_time_prob=0.0,
    hidden_dropout=0.0,
    activation_dropout=0.0,
    attention_dropout=0.0,
    feat_proj_dropout=0.0,
    conformer_conv_dropout=0.0,
)
"""fairseq2's ``600m`` encoder has dropout 0 everywhere and no LayerDrop."""


def sonar_encoder_config(**overrides: Any):
    """A ``Wav2Vec2BertConfig`` for the SONAR encoder (``overrides`` shrink it for tests/demo)."""
    from transformers import Wav2Vec2BertConfig

    return Wav2Vec2BertConfig(**{**SONAR_ENCODER, **_INFERENCE_ONLY, **overrides})


class SonarConvolutionModule(nn.Module):
    """fairseq2 ``ConformerConvolution`` behind the block's LayerNorm: pointwise conv -> GLU ->
    depthwise conv ("same" padding) -> BatchNorm -> Swish -> pointwise conv.

    Two choices beyond the source: padded frames are zeroed before the depthwise convolution
    (so a padded batch gives what each utterance gives alone), and BatchNorm uses its running
    statistics whenever its weights are frozen (LoRA fine-tuning must not drift the pretrained
    statistics).
    """

    def __init__(self, dim: int, kernel_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("the depthwise kernel size must be odd for 'same' padding")
        self.layer_norm = nn.LayerNorm(dim, eps=eps)
        self.pointwise_conv1 = nn.Conv1d(dim, 2 * dim, kernel_size=1, bias=False)
        self.depthwise_conv = nn.Conv1d(
            dim, dim, kernel_size, padding=kernel_size // 2, groups=dim, bias=False
        )
        self.batch_norm = nn.BatchNorm1d(dim)
        self.pointwise_conv2 = nn.Conv1d(dim, dim, kernel_size=1, bias=False)

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.layer_norm(hidden_states)
        x = F.glu(self.pointwise_conv1(x.transpose(1, 2)), dim=1)
        if attention_mask is not None:
            x = x.masked_fill(~attention_mask.bool().unsqueeze(1), 0.0)
        x = self.depthwise_conv(x)
        norm = self.batch_norm
        use_batch_stats = norm.training and norm.weight.requires_grad
        x = F.batch_norm(
            x,
            norm.running_mean,
            norm.running_var,
            norm.weight,
            norm.bias,
            training=use_batch_stats and x.shape[0] * x.shape[2] > 1,
            momentum=norm.momentum,
            eps=norm.eps,
        )
        return self.pointwise_conv2(F.silu(x)).transpose(1, 2)


def build_sonar_encoder(config) -> nn.Module:
    """``Wav2Vec2BertModel`` with every Conformer block's convolution replaced by SONAR's."""
    from transformers import Wav2Vec2BertModel

    model = Wav2Vec2BertModel(config)
    for layer in model.encoder.layers:
        layer.conv_module = SonarConvolutionModule(
            config.hidden_size, config.conv_depthwise_kernel_size, config.layer_norm_eps
        )
    return model


class _Attention(nn.Module):
    """fairseq2 ``StandardMultiheadAttention`` (biased q/k/v/output projections, scaled dot
    product); parameter names follow fairseq2 so the checkpoint maps 1:1."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor | None
    ) -> torch.Tensor:
        batch, length, dim = queries.shape

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, -1, self.heads, dim // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(queries)), split(self.k_proj(keys)), split(self.v_proj(keys))
        mask = None if key_mask is None else key_mask.bool()[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.output_proj(out.transpose(1, 2).reshape(batch, length, dim))


class _FeedForward(nn.Module):
    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.inner_proj = nn.Linear(dim, inner)
        self.output_proj = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_proj(F.relu(self.inner_proj(x)))


class _DecoderLayer(nn.Module):
    """fairseq2 ``StandardTransformerDecoderLayer`` in post-norm order."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = _Attention(dim, heads, dropout)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.encoder_decoder_attn = _Attention(dim, heads, dropout)
        self.encoder_decoder_attn_layer_norm = nn.LayerNorm(dim)
        self.ffn = _FeedForward(dim, ffn_dim)
        self.ffn_layer_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self.dropout(self.self_attn(x, x, None)))
        x = self.encoder_decoder_attn_layer_norm(
            x + self.dropout(self.encoder_decoder_attn(x, frames, mask))
        )
        return self.ffn_layer_norm(x + self.dropout(self.ffn(x)))


def sinusoid_position(dim: int, position: int) -> torch.Tensor:
    """fairseq2 ``SinusoidalPositionEncoder`` row: sines in the first half, cosines in the second,
    frequencies ``exp(-i * ln(10000) / (dim/2 - 1))``."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -math.log(10000.0) / (half - 1))
    angles = position * freqs
    return torch.cat([angles.sin(), angles.cos()])


class SonarAttentionPooler(nn.Module):
    """Frames (N, S, D) + frame mask -> one sentence embedding (N, D), as SONAR computes it.

    ``layer_norm`` is SONAR's LayerNorm after the encoder; ``final_dropout`` its dropout (0.1)
    on the frames. The single query is ``embed[bos_idx] * sqrt(D) + PE(0)``; ``output_dim`` lets
    :class:`~systems.components.speech_model.EmotionHead` use this as its pooling.
    """

    def __init__(
        self,
        dim: int,
        *,
        num_layers: int = 3,
        num_heads: int = 16,
        ffn_dim: int = 4096,
        dropout: float = 0.1,
        bos_idx: int = 2,
        pad_idx: int = 1,
    ) -> None:
        super().__init__()
        self.output_dim = dim
        self.bos_idx = bos_idx
        self.layer_norm = nn.LayerNorm(dim)
        self.final_dropout = nn.Dropout(dropout)
        self.embed = nn.Embedding(dim, dim, padding_idx=pad_idx)  # SONAR sizes the table by dim
        self.embed_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            [_DecoderLayer(dim, num_heads, ffn_dim, dropout) for _ in range(num_layers)]
        )
        self.projection_out = nn.Linear(dim, dim, bias=False)
        self.register_buffer("position0", sinusoid_position(dim, 0), persistent=False)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        frames = self.final_dropout(self.layer_norm(frames))
        query = self.embed.weight[self.bos_idx] * math.sqrt(self.output_dim) + self.position0
        x = self.embed_dropout(query.to(frames.dtype).expand(frames.shape[0], 1, -1))
        for layer in self.layers:
            x = layer(x, frames, mask)
        return self.projection_out(x).squeeze(1)


def build_pooler(dim: int, settings: dict[str, Any] | None = None) -> SonarAttentionPooler:
    """A pooler with SONAR's ``english`` sizes, updated by ``settings``."""
    return SonarAttentionPooler(dim, **{**SONAR_POOLER, **(settings or {})})
