"""Load a published SONAR speech-encoder checkpoint without fairseq2, with strict key and shape checks.

Why: fairseq2 and sonar-space pin their own CUDA torch and do not import here, yet the weights are
plain tensors. This module renames them onto :func:`~systems.components.sonar_pooler.build_sonar_encoder`
(transformers' ``Wav2Vec2BertModel`` with SONAR's convolution) and
:class:`~systems.components.sonar_pooler.SonarAttentionPooler`.

Two layouts are accepted, both found in SONAR's loader (``sonar/models/sonar_speech/loader.py``):

* fairseq2 (what ``load_sonar_speech_model`` builds): ``encoder_frontend.*``, ``encoder.layers.N.*``,
  ``layer_norm.*``, ``encoder_pooler.*``;
* fairseq (v1) training checkpoints: ``encoder.w2v_model.*`` and ``decoder.*``, first renamed to the
  fairseq2 layout with the loader's own key map.

Either may be wrapped as ``{"model": state_dict, ...}`` (fairseq2 and fairseq both do). Files are
read with ``torch.load(weights_only=True)`` or safetensors, never unpickled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, first_line

_FAIRSEQ1_TO_FAIRSEQ2: list[tuple[str, str]] = [
    (r"^encoder\.w2v_model\.layer_norm\.", "encoder_frontend.post_extract_layer_norm."),
    (r"^encoder\.w2v_model\.post_extract_proj\.", "encoder_frontend.model_dim_proj."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.conv_module\.batch_norm\.", r"encoder.layers.\1.conv.batch_norm."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.conv_module\.depthwise_conv\.", r"encoder.layers.\1.conv.depthwise_conv."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.conv_module\.layer_norm\.", r"encoder.layers.\1.conv_layer_norm."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.conv_module\.pointwise_conv(1|2)\.", r"encoder.layers.\1.conv.pointwise_conv\2."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.ffn(1|2)\.layer_norm\.", r"encoder.layers.\1.ffn\2_layer_norm."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.ffn(1|2)\.w_1\.", r"encoder.layers.\1.ffn\2.inner_proj."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.ffn(1|2)\.w_2\.", r"encoder.layers.\1.ffn\2.output_proj."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.self_attn\.linear_(q|k|v)\.", r"encoder.layers.\1.self_attn.\2_proj."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.self_attn\.linear_out\.", r"encoder.layers.\1.self_attn.output_proj."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.self_attn\.linear_pos\.", r"encoder.layers.\1.self_attn.sdpa.r_proj."),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.self_attn\.pos_bias_u$", r"encoder.layers.\1.self_attn.sdpa.u_bias"),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.self_attn\.pos_bias_v$", r"encoder.layers.\1.self_attn.sdpa.v_bias"),
    (r"^encoder\.w2v_model\.encoder\.layers\.(\d+)\.final_layer_norm\.", r"encoder.layers.\1.layer_norm."),
    # The Conformer's redundant trailing LayerNorm: SONAR moves it after the encoder.
    (r"^encoder\.w2v_model\.encoder\.layer_norm\.", "layer_norm."),
    (r"^decoder\.embed_tokens\.", "encoder_pooler.decoder_frontend.embed."),
    (r"^decoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"encoder_pooler.decoder.layers.\1.self_attn_layer_norm."),
    (r"^decoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"encoder_pooler.decoder.layers.\1.self_attn.output_proj."),
    (r"^decoder\.layers\.(\d+)\.self_attn\.", r"encoder_pooler.decoder.layers.\1.self_attn."),
    (r"^decoder\.layers\.(\d+)\.encoder_attn_layer_norm\.", r"encoder_pooler.decoder.layers.\1.encoder_decoder_attn_layer_norm."),
    (r"^decoder\.layers\.(\d+)\.encoder_attn\.out_proj\.", r"encoder_pooler.decoder.layers.\1.encoder_decoder_attn.output_proj."),
    (r"^decoder\.layers\.(\d+)\.encoder_attn\.", r"encoder_pooler.decoder.layers.\1.encoder_decoder_attn."),
    (r"^decoder\.layers\.(\d+)\.fc1\.", r"encoder_pooler.decoder.layers.\1.ffn.inner_proj."),
    (r"^decoder\.layers\.(\d+)\.fc2\.", r"encoder_pooler.decoder.layers.\1.ffn.output_proj."),
    (r"^decoder\.layers\.(\d+)\.final_layer_norm\.", r"encoder_pooler.decoder.layers.\1.ffn_layer_norm."),
    (r"^decoder\.embed_out$", "encoder_pooler.projection_out.weight"),
]  # fmt: skip
"""SONAR's ``convert_sonar_speech_checkpoint`` key map (fairseq -> fairseq2), for a Conformer."""

_FAIRSEQ2_TO_PROJECT: list[tuple[str, str]] = [
    (r"^encoder_frontend\.post_extract_layer_norm\.", "encoder.feature_projection.layer_norm."),
    (r"^encoder_frontend\.model_dim_proj\.", "encoder.feature_projection.projection."),
    (r"^encoder\.layers\.(\d+)\.ffn(1|2)_layer_norm\.", r"encoder.encoder.layers.\1.ffn\2_layer_norm."),
    (r"^encoder\.layers\.(\d+)\.ffn(1|2)\.inner_proj\.", r"encoder.encoder.layers.\1.ffn\2.intermediate_dense."),
    (r"^encoder\.layers\.(\d+)\.ffn(1|2)\.output_proj\.", r"encoder.encoder.layers.\1.ffn\2.output_dense."),
    (r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"encoder.encoder.layers.\1.self_attn_layer_norm."),
    (r"^encoder\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.", r"encoder.encoder.layers.\1.self_attn.linear_\2."),
    (r"^encoder\.layers\.(\d+)\.self_attn\.output_proj\.", r"encoder.encoder.layers.\1.self_attn.linear_out."),
    (r"^encoder\.layers\.(\d+)\.self_attn\.sdpa\.r_proj\.", r"encoder.encoder.layers.\1.self_attn.linear_pos."),
    (r"^encoder\.layers\.(\d+)\.self_attn\.sdpa\.u_bias$", r"encoder.encoder.layers.\1.self_attn.pos_bias_u"),
    (r"^encoder\.layers\.(\d+)\.self_attn\.sdpa\.v_bias$", r"encoder.encoder.layers.\1.self_attn.pos_bias_v"),
    (r"^encoder\.layers\.(\d+)\.conv_layer_norm\.", r"encoder.encoder.layers.\1.conv_module.layer_norm."),
    (r"^encoder\.layers\.(\d+)\.conv\.", r"encoder.encoder.layers.\1.conv_module."),
    (r"^encoder\.layers\.(\d+)\.layer_norm\.", r"encoder.encoder.layers.\1.final_layer_norm."),
    (r"^layer_norm\.", "pooler.layer_norm."),
    (r"^encoder_pooler\.decoder_frontend\.embed\.", "pooler.embed."),
    (r"^encoder_pooler\.decoder\.layers\.", "pooler.layers."),
    (r"^encoder_pooler\.projection_out\.", "pooler.projection_out."),
]  # fmt: skip
"""fairseq2 SONAR names -> ``encoder.<Wav2Vec2BertModel name>`` / ``pooler.<pooler name>``."""

_DROPPED = (re.compile(r"^encoder\.w2v_model\.mask_emb$"),)
"""Training-only tensors SONAR's own loader deletes too."""

_OPTIONAL = re.compile(r"\.num_batches_tracked$")
"""BatchNorm's step counter: absent from fairseq checkpoints, unused at inference."""


def _rename(key: str, table: list[tuple[str, str]]) -> str | None:
    for pattern, replacement in table:
        new, count = re.subn(pattern, replacement, key)
        if count:
            return new
    return None


def unwrap(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict inside a fairseq/fairseq2 checkpoint (``{"model": ...}``), or the mapping itself."""
    inner = checkpoint.get("model") if isinstance(checkpoint, Mapping) else None
    return dict(inner if isinstance(inner, Mapping) else checkpoint)


def to_fairseq2_layout(state: Mapping[str, Any]) -> dict[str, Any]:
    """Rename a fairseq (v1) SONAR checkpoint to fairseq2's names; fairseq2 keys pass unchanged."""
    if not any(k.startswith(("encoder.w2v_model.", "decoder.")) for k in state):
        return dict(state)
    renamed = {}
    for key, value in state.items():
        if any(p.match(key) for p in _DROPPED):
            continue
        renamed[_rename(key, _FAIRSEQ1_TO_FAIRSEQ2) or key] = value
    return renamed


def to_project_layout(state: Mapping[str, Any]) -> dict[str, Any]:
    """fairseq2 names -> names of a ``{"encoder": ..., "pooler": ...}`` module pair; a key
    that matches no rule keeps its name and is reported by :func:`check_and_load`."""
    return {
        _rename(key, _FAIRSEQ2_TO_PROJECT) or f"<unmapped>{key}": value
        for key, value in to_fairseq2_layout(state).items()
    }


def _original_name(converted: str, state: Mapping[str, Any]) -> str:
    for key in to_fairseq2_layout(state):
        if _rename(key, _FAIRSEQ2_TO_PROJECT) == converted:
            return key
    return converted.removeprefix("<unmapped>")


def check_and_load(
    state: Mapping[str, Any], encoder, pooler, *, source: str = "checkpoint"
) -> None:
    """Load ``state`` (either layout) into ``encoder`` and ``pooler``, strictly.

    Raises one :class:`HarnessError` naming the first unexpected key, missing key or wrong shape.
    """
    import torch

    converted = to_project_layout(state)
    expected = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    expected.update({f"pooler.{k}": v for k, v in pooler.state_dict().items()})
    fix = (
        "pass the fairseq2 SONAR speech encoder .pt (e.g. sonar_speech_encoder_eng.pt) as backbone="
    )
    for key in sorted(converted):
        if key not in expected:
            raise HarnessError(
                f"not a SONAR speech encoder: unexpected key {_original_name(key, state)!r}",
                file=source,
                fix=fix,
            )
    missing = sorted(k for k in expected if k not in converted and not _OPTIONAL.search(k))
    if missing:
        raise HarnessError(
            f"not a SONAR speech encoder of this size: missing key {missing[0]!r} "
            f"({len(missing)} missing)",
            file=source,
            fix=fix,
        )
    for key, value in converted.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise HarnessError(
                f"SONAR checkpoint key {_original_name(key, state)!r} has shape "
                f"{tuple(value.shape)}, the model expects {tuple(expected[key].shape)}",
                file=source,
                fix=fix,
            )
    with torch.no_grad():
        for prefix, module in (("encoder.", encoder), ("pooler.", pooler)):
            part = {k[len(prefix) :]: v for k, v in converted.items() if k.startswith(prefix)}
            own = module.state_dict()
            for name in own:
                if name not in part and _OPTIONAL.search(name):
                    part[name] = own[name]
            module.load_state_dict(part, strict=True)


def read_state(path: str | Path) -> dict[str, Any]:
    """Tensors of a ``.pt`` (``weights_only=True``) or ``.safetensors`` file, unwrapped."""
    import torch

    path = Path(path).expanduser()
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return unwrap(load_file(str(path)))
        return unwrap(torch.load(str(path), map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line for the user
        raise HarnessError(
            f"cannot read the SONAR checkpoint ({type(exc).__name__}: {first_line(exc)[:160]})",
            file=path,
            fix="pass a fairseq2 .pt saved by torch.save, or a .safetensors file",
        ) from None


def pooler_layers_in(state: Mapping[str, Any]) -> int:
    """How many decoder layers the checkpoint's pooler has (3: English, 6: other languages)."""
    indices = {
        int(m.group(1))
        for k in to_fairseq2_layout(state)
        if (m := re.match(r"^encoder_pooler\.decoder\.layers\.(\d+)\.", k))
    }
    return max(indices) + 1 if indices else 0


def load_sonar(
    path: str | Path,
    *,
    pooler_settings: dict[str, Any] | None = None,
    encoder_overrides: dict[str, Any] | None = None,
):
    """(encoder, pooler) with the checkpoint's weights, in eval mode (``encoder_overrides``:
    ``Wav2Vec2BertConfig`` sizes other than SONAR's, for small test checkpoints)."""
    from systems.components.sonar_pooler import (
        build_pooler,
        build_sonar_encoder,
        sonar_encoder_config,
    )

    state = read_state(path)
    settings = dict(pooler_settings or {})
    layers = pooler_layers_in(state)
    if layers:
        settings["num_layers"] = layers
    config = sonar_encoder_config(**(encoder_overrides or {}))
    encoder = build_sonar_encoder(config)
    pooler = build_pooler(config.hidden_size, settings)
    check_and_load(state, encoder, pooler, source=str(path))
    return encoder.eval(), pooler.eval()
