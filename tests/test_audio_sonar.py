"""audio_sonar: the SONAR checkpoint converter against an independent reference forward, and the system.

No real checkpoint is needed: a synthetic state dict with fairseq2's key names and small sizes is
converted, and the converted model must reproduce a forward written here directly from the
source's equations (fairseq2 w2v-BERT frontend, Conformer block with Transformer-XL relative
attention and BatchNorm convolution, SONAR's trailing LayerNorm, SONAR's attention pooler).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from harness.errors import HarnessError
from systems.components.params import yaml_params
from systems.components.synthetic_speech import synthetic_corpus

D, HEADS, FFN, KERNEL, FEAT = 16, 2, 32, 3, 160
POOL = {"num_layers": 1, "num_heads": 2, "ffn_dim": 24, "dropout": 0.1}
ENCODER = {
    "hidden_size": D,
    "num_hidden_layers": 1,
    "num_attention_heads": HEADS,
    "intermediate_size": FFN,
    "conv_depthwise_kernel_size": KERNEL,
}
CLASSES = ("A", "S", "H", "U", "F", "D", "C", "N")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- a synthetic fairseq2 SONAR checkpoint -------------------------------------------------------
def _fairseq2_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.3):
        return torch.randn(*shape, generator=g) * scale

    def ln(prefix, dim=D):
        return {f"{prefix}.weight": 1 + r(dim, scale=0.1), f"{prefix}.bias": r(dim, scale=0.1)}

    def linear(prefix, out, inp, bias=True):
        items = {f"{prefix}.weight": r(out, inp)}
        if bias:
            items[f"{prefix}.bias"] = r(out, scale=0.1)
        return items

    s: dict[str, torch.Tensor] = {}
    s.update(ln("encoder_frontend.post_extract_layer_norm", FEAT))
    s.update(linear("encoder_frontend.model_dim_proj", D, FEAT))
    p = "encoder.layers.0"
    for ffn in ("ffn1", "ffn2"):
        s.update(ln(f"{p}.{ffn}_layer_norm"))
        s.update(linear(f"{p}.{ffn}.inner_proj", FFN, D))
        s.update(linear(f"{p}.{ffn}.output_proj", D, FFN))
    s.update(ln(f"{p}.self_attn_layer_norm"))
    for name in ("q_proj", "k_proj", "v_proj", "output_proj"):
        s.update(linear(f"{p}.self_attn.{name}", D, D))
    s[f"{p}.self_attn.sdpa.u_bias"] = r(HEADS, D // HEADS)
    s[f"{p}.self_attn.sdpa.v_bias"] = r(HEADS, D // HEADS)
    s[f"{p}.self_attn.sdpa.r_proj.weight"] = r(D, D)
    s.update(ln(f"{p}.conv_layer_norm"))
    s[f"{p}.conv.pointwise_conv1.weight"] = r(2 * D, D, 1)
    s[f"{p}.conv.depthwise_conv.weight"] = r(D, 1, KERNEL)
    s.update(ln(f"{p}.conv.batch_norm"))
    s[f"{p}.conv.batch_norm.running_mean"] = r(D, scale=0.2)
    s[f"{p}.conv.batch_norm.running_var"] = 0.5 + torch.rand(D, generator=g)
    s[f"{p}.conv.batch_norm.num_batches_tracked"] = torch.tensor(100)
    s[f"{p}.conv.pointwise_conv2.weight"] = r(D, D, 1)
    s.update(ln(f"{p}.layer_norm"))
    s.update(ln("layer_norm"))
    s["encoder_pooler.decoder_frontend.embed.weight"] = r(D, D)
    q = "encoder_pooler.decoder.layers.0"
    for attn in ("self_attn", "encoder_decoder_attn"):
        for name in ("q_proj", "k_proj", "v_proj", "output_proj"):
            s.update(linear(f"{q}.{attn}.{name}", D, D))
        s.update(ln(f"{q}.{attn}_layer_norm"))
    s.update(linear(f"{q}.ffn.inner_proj", POOL["ffn_dim"], D))
    s.update(linear(f"{q}.ffn.output_proj", D, POOL["ffn_dim"]))
    s.update(ln(f"{q}.ffn_layer_norm"))
    s["encoder_pooler.projection_out.weight"] = r(D, D)
    return s


# -- the reference forward, from the source's equations -----------------------------------------
def _ln(x, s, prefix):
    return F.layer_norm(x, (x.shape[-1],), s[f"{prefix}.weight"], s[f"{prefix}.bias"], 1e-5)


def _lin(x, s, prefix):
    return F.linear(x, s[f"{prefix}.weight"], s.get(f"{prefix}.bias"))


def _mha(queries, keys, s, prefix, heads):
    """Plain multi-head attention, (S, D) inputs."""
    dh = queries.shape[-1] // heads
    q = _lin(queries, s, f"{prefix}.q_proj").view(-1, heads, dh).transpose(0, 1)
    k = _lin(keys, s, f"{prefix}.k_proj").view(-1, heads, dh).transpose(0, 1)
    v = _lin(keys, s, f"{prefix}.v_proj").view(-1, heads, dh).transpose(0, 1)
    weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dh), dim=-1)
    return _lin(
        (weights @ v).transpose(0, 1).reshape(-1, queries.shape[-1]), s, f"{prefix}.output_proj"
    )


def _relative_table(length: int, dim: int) -> torch.Tensor:
    """Transformer-XL encodings for relative positions length-1, ..., 0, ..., -(length-1):
    interleaved sin (even dims) / cos (odd dims) of position * 10000^(-2i/dim)."""
    positions = torch.arange(length - 1, -length, -1, dtype=torch.float32)
    inv = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table = torch.zeros(2 * length - 1, dim)
    table[:, 0::2] = torch.sin(positions[:, None] * inv)
    table[:, 1::2] = torch.cos(positions[:, None] * inv)
    return table


def _relative_attention(x, s, prefix):
    """score(i, j) = [(q_i + u) . k_j + (q_i + v) . W_r R(i - j)] / sqrt(d_h), by explicit indexing."""
    length, dh = x.shape[0], D // HEADS
    q = _lin(x, s, f"{prefix}.q_proj").view(length, HEADS, dh)
    k = _lin(x, s, f"{prefix}.k_proj").view(length, HEADS, dh)
    v = _lin(x, s, f"{prefix}.v_proj").view(length, HEADS, dh)
    rel = F.linear(_relative_table(length, D), s[f"{prefix}.sdpa.r_proj.weight"]).view(
        -1, HEADS, dh
    )
    u_bias, v_bias = s[f"{prefix}.sdpa.u_bias"], s[f"{prefix}.sdpa.v_bias"]
    scores = torch.zeros(HEADS, length, length)
    for i in range(length):
        for j in range(length):
            row = length - 1 - (i - j)  # the table row of relative position i - j
            content = ((q[i] + u_bias) * k[j]).sum(-1)
            position = ((q[i] + v_bias) * rel[row]).sum(-1)
            scores[:, i, j] = (content + position) / math.sqrt(dh)
    out = torch.einsum("hij,jhd->ihd", torch.softmax(scores, dim=-1), v).reshape(length, D)
    return _lin(out, s, f"{prefix}.output_proj")


def _conformer_convolution(x, s, prefix):
    y = F.conv1d(x.T[None], s[f"{prefix}.pointwise_conv1.weight"])[0]  # (2D, S)
    y = y[:D] * torch.sigmoid(y[D:])  # GLU over channels
    y = F.conv1d(y[None], s[f"{prefix}.depthwise_conv.weight"], padding=KERNEL // 2, groups=D)[0]
    mean, var = s[f"{prefix}.batch_norm.running_mean"], s[f"{prefix}.batch_norm.running_var"]
    y = (y - mean[:, None]) / torch.sqrt(var[:, None] + 1e-5)
    y = y * s[f"{prefix}.batch_norm.weight"][:, None] + s[f"{prefix}.batch_norm.bias"][:, None]
    y = y * torch.sigmoid(y)  # Swish
    return F.conv1d(y[None], s[f"{prefix}.pointwise_conv2.weight"])[0].T


def _ffn(x, s, prefix, activation):
    return _lin(activation(_lin(x, s, f"{prefix}.inner_proj")), s, f"{prefix}.output_proj")


def reference_sonar(s, features):
    """(S, 160) stacked filterbanks -> (frames (S, D), sentence embedding (D,))."""
    h = _lin(
        _ln(features, s, "encoder_frontend.post_extract_layer_norm"),
        s,
        "encoder_frontend.model_dim_proj",
    )
    p = "encoder.layers.0"
    h = h + 0.5 * _ffn(_ln(h, s, f"{p}.ffn1_layer_norm"), s, f"{p}.ffn1", F.silu)
    h = h + _relative_attention(_ln(h, s, f"{p}.self_attn_layer_norm"), s, f"{p}.self_attn")
    h = h + _conformer_convolution(_ln(h, s, f"{p}.conv_layer_norm"), s, f"{p}.conv")
    h = h + 0.5 * _ffn(_ln(h, s, f"{p}.ffn2_layer_norm"), s, f"{p}.ffn2", F.silu)
    frames = _ln(_ln(h, s, f"{p}.layer_norm"), s, "layer_norm")
    # Pooler: one query = embed[bos=2] * sqrt(D) + sinusoid(0) = [sin 0 ..., cos 0 ...].
    position0 = torch.cat([torch.zeros(D // 2), torch.ones(D // 2)])
    x = (s["encoder_pooler.decoder_frontend.embed.weight"][2] * math.sqrt(D) + position0)[None]
    q = "encoder_pooler.decoder.layers.0"
    x = _ln(x + _mha(x, x, s, f"{q}.self_attn", POOL["num_heads"]), s, f"{q}.self_attn_layer_norm")
    x = _ln(
        x + _mha(x, frames, s, f"{q}.encoder_decoder_attn", POOL["num_heads"]),
        s,
        f"{q}.encoder_decoder_attn_layer_norm",
    )
    x = _ln(x + _ffn(x, s, f"{q}.ffn", F.relu), s, f"{q}.ffn_layer_norm")
    return frames, F.linear(x, s["encoder_pooler.projection_out.weight"])[0]


def _converted(state):
    from systems.components.sonar_convert import check_and_load
    from systems.components.sonar_pooler import (
        build_pooler,
        build_sonar_encoder,
        sonar_encoder_config,
    )

    config = sonar_encoder_config(**ENCODER)
    encoder, pooler = build_sonar_encoder(config), build_pooler(D, POOL)
    check_and_load(state, encoder, pooler)
    return encoder.eval(), pooler.eval()


def _features(length=23, seed=1):
    return torch.randn(length, FEAT, generator=torch.Generator().manual_seed(seed))


# -- converter -----------------------------------------------------------------------------------
def test_converted_model_reproduces_the_reference_forward() -> None:
    state = _fairseq2_state()
    encoder, pooler = _converted(state)
    features = _features()
    frames_ref, embedding_ref = reference_sonar(state, features)
    with torch.no_grad():
        frames = encoder(input_features=features[None]).last_hidden_state
        embedding = pooler(frames)[0]
        frames = pooler.layer_norm(frames)[0]
    torch.testing.assert_close(frames, frames_ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(embedding, embedding_ref, atol=1e-5, rtol=1e-4)


def test_padded_batch_gives_each_utterance_its_own_embedding() -> None:
    encoder, pooler = _converted(_fairseq2_state())
    short, long = _features(11, seed=2), _features(23, seed=3)
    batch = torch.zeros(2, 23, FEAT)
    batch[0, :11], batch[1] = short, long
    mask = torch.ones(2, 23, dtype=torch.long)
    mask[0, 11:] = 0
    with torch.no_grad():
        together = pooler(
            encoder(input_features=batch, attention_mask=mask).last_hidden_state, mask
        )
        alone = pooler(encoder(input_features=short[None]).last_hidden_state)
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=1e-4)


def _fairseq1_state(fairseq2: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same tensors under fairseq (v1) training names, written out by hand."""
    names = {
        "encoder_frontend.post_extract_layer_norm": "encoder.w2v_model.layer_norm",
        "encoder_frontend.model_dim_proj": "encoder.w2v_model.post_extract_proj",
        "layer_norm": "encoder.w2v_model.encoder.layer_norm",
        "encoder_pooler.decoder_frontend.embed": "decoder.embed_tokens",
    }
    layer = {
        "ffn1_layer_norm": "ffn1.layer_norm",
        "ffn1.inner_proj": "ffn1.w_1",
        "ffn1.output_proj": "ffn1.w_2",
        "ffn2_layer_norm": "ffn2.layer_norm",
        "ffn2.inner_proj": "ffn2.w_1",
        "ffn2.output_proj": "ffn2.w_2",
        "self_attn_layer_norm": "self_attn_layer_norm",
        "self_attn.q_proj": "self_attn.linear_q",
        "self_attn.k_proj": "self_attn.linear_k",
        "self_attn.v_proj": "self_attn.linear_v",
        "self_attn.output_proj": "self_attn.linear_out",
        "self_attn.sdpa.r_proj": "self_attn.linear_pos",
        "conv_layer_norm": "conv_module.layer_norm",
        "conv.pointwise_conv1": "conv_module.pointwise_conv1",
        "conv.depthwise_conv": "conv_module.depthwise_conv",
        "conv.batch_norm": "conv_module.batch_norm",
        "conv.pointwise_conv2": "conv_module.pointwise_conv2",
        "layer_norm": "final_layer_norm",
    }
    for new, old in layer.items():
        names[f"encoder.layers.0.{new}"] = f"encoder.w2v_model.encoder.layers.0.{old}"
    decoder = {
        "self_attn.q_proj": "self_attn.q_proj",
        "self_attn.k_proj": "self_attn.k_proj",
        "self_attn.v_proj": "self_attn.v_proj",
        "self_attn.output_proj": "self_attn.out_proj",
        "self_attn_layer_norm": "self_attn_layer_norm",
        "encoder_decoder_attn.q_proj": "encoder_attn.q_proj",
        "encoder_decoder_attn.k_proj": "encoder_attn.k_proj",
        "encoder_decoder_attn.v_proj": "encoder_attn.v_proj",
        "encoder_decoder_attn.output_proj": "encoder_attn.out_proj",
        "encoder_decoder_attn_layer_norm": "encoder_attn_layer_norm",
        "ffn.inner_proj": "fc1",
        "ffn.output_proj": "fc2",
        "ffn_layer_norm": "final_layer_norm",
    }
    for new, old in decoder.items():
        names[f"encoder_pooler.decoder.layers.0.{new}"] = f"decoder.layers.0.{old}"
    out = {}
    for key, value in fairseq2.items():
        if key.endswith("num_batches_tracked"):
            continue  # fairseq checkpoints do not carry it
        if key == "encoder_pooler.projection_out.weight":
            out["decoder.embed_out"] = value
        elif key.endswith(("sdpa.u_bias", "sdpa.v_bias")):
            out[f"encoder.w2v_model.encoder.layers.0.self_attn.pos_bias_{key[-6]}"] = value
        else:
            stem, _, leaf = key.rpartition(".")
            out[f"{names[stem]}.{leaf}"] = value
    out["encoder.w2v_model.mask_emb"] = torch.zeros(D)
    return out


def test_fairseq1_layout_converts_to_the_same_model(tmp_path) -> None:
    from systems.components.sonar_convert import load_sonar

    state = _fairseq2_state()
    path = tmp_path / "sonar_fairseq1.pt"
    torch.save({"model": _fairseq1_state(state), "cfg": {"note": "plain data"}}, path)
    encoder, pooler = load_sonar(path, pooler_settings=POOL, encoder_overrides=ENCODER)
    features = _features()
    with torch.no_grad():
        embedding = pooler(encoder(input_features=features[None]).last_hidden_state)[0]
    torch.testing.assert_close(embedding, reference_sonar(state, features)[1], atol=1e-5, rtol=1e-4)


def test_wrapped_safetensors_checkpoint_loads(tmp_path) -> None:
    from safetensors.torch import save_file

    from systems.components.sonar_convert import load_sonar, pooler_layers_in

    state = _fairseq2_state()
    path = tmp_path / "sonar.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    assert pooler_layers_in(state) == 1
    encoder, pooler = load_sonar(path, pooler_settings=POOL, encoder_overrides=ENCODER)
    torch.testing.assert_close(
        pooler.projection_out.weight, state["encoder_pooler.projection_out.weight"]
    )


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda s: s.update({"encoder.layers.0.self_attn.extra.weight": torch.zeros(1)}), "unexpected key 'encoder.layers.0.self_attn.extra.weight'"),
        (lambda s: s.pop("encoder.layers.0.conv.depthwise_conv.weight"), "missing key 'encoder.encoder.layers.0.conv_module.depthwise_conv.weight'"),
        (lambda s: s.update({"layer_norm.weight": torch.ones(D + 1)}), "'layer_norm.weight' has shape (17,), the model expects (16,)"),
    ],
)  # fmt: skip
def test_unexpected_checkpoint_is_one_line_error(change, expected) -> None:
    state = _fairseq2_state()
    change(state)
    with pytest.raises(HarnessError) as info:
        _converted(state)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message.strip()
    assert "backbone=" in message


def test_unreadable_checkpoint_is_one_line_error(tmp_path) -> None:
    from systems.components.sonar_convert import read_state

    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(HarnessError, match="cannot read the SONAR checkpoint"):
        read_state(path)


def test_missing_paper_weights_fail_with_one_line() -> None:
    from systems.audio_sonar import AudioSonar

    system = AudioSonar(**yaml_params("audio_sonar", seed=0))
    with pytest.raises(HarnessError) as info:
        system._new_model("categorical", 10)
    assert "sonar_speech_encoder_eng" in str(info.value)
    assert "backbone=/path/to/sonar_speech_encoder_eng.pt" in str(info.value)


@pytest.mark.slow
def test_paper_configuration_parameter_counts_on_meta() -> None:
    """Real SONAR English sizes: 605.6M encoder + 52.5M pooler; LoRA r=32 on q/k/v/out of 24
    layers = 24 x 4 x 2 x 32 x 1024 = 6,291,456; dense+BN head and 10 outputs = 1,061,898."""
    from systems.audio_sonar import paper_parameter_counts

    counts = paper_parameter_counts()
    assert counts["encoder"] == 605_594_944
    assert counts["pooler"] == 52_489_216
    assert counts["lora"] == 24 * 4 * 2 * 32 * 1024
    assert counts["head"] == (1024 * 1024 + 1024) + 2 * 1024 + (10 * 1024 + 10)
    assert counts["trainable"] == 7_353_354
    assert counts["total"] == counts["sonar_total"] + counts["lora"] + counts["head"]


# -- the system ----------------------------------------------------------------------------------
FAST = yaml_params(
    "audio_sonar",
    "tiny",
    scratch_config={
        **ENCODER,
        "hidden_size": 32,
        "intermediate_size": 64,
        "conv_depthwise_kernel_size": 7,
    },
    pooler_config={"num_layers": 1, "num_heads": 2, "ffn_dim": 32, "dropout": 0.1},
    embedding_dim=32,
    epochs=3,
    lr=3e-3,
    effective_batch=16,
    chunk_seconds=[1.0, 1.5],
    lda_dims=3,
    max_seconds=None,
    seed=0,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> pd.DataFrame:
    return synthetic_corpus(tmp_path_factory.mktemp("sonar_synth"))


def _split(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame[frame["split"] == name].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(corpus):
    from systems.audio_sonar import AudioSonar

    return AudioSonar(**FAST).fit(
        _split(corpus, "Train"), _split(corpus, "Development"), task="categorical", classes=CLASSES
    )


def _macro_f1(truth, predictions: pd.DataFrame) -> float:
    from sklearn.metrics import f1_score

    predicted = np.asarray(predictions.columns)[predictions.to_numpy().argmax(axis=1)]
    present = sorted(set(truth))
    return float(f1_score(list(truth), predicted, labels=present, average="macro", zero_division=0))


def test_tiny_sonar_learns_and_reports_plda_beside_lda_lr_and_softmax(fitted, corpus) -> None:
    test = _split(corpus, "Test3")
    output, variants = fitted.predict_with_variants(test)
    assert set(variants) == {
        "plda",
        "plda_train_prior",
        "lda_lr",
        "lda_lr_train_prior",
        "softmax",
        "softmax_uniform",
    }
    pd.testing.assert_frame_equal(output, variants["plda"])
    assert list(output.columns) == list(CLASSES)
    np.testing.assert_allclose(output.sum(axis=1), 1.0, atol=1e-9)
    # PLDA's posteriors are formed under the uniform prior: that is what it declares.
    np.testing.assert_allclose(fitted.training_prior(), np.full(8, 1 / 8))
    # Held-out Test3 has 4 classes, 6 utterances each: chance macro-F1 is about 0.25.
    assert _macro_f1(test["label"], output) > 0.4
    assert type(fitted.model_.head.pool).__name__ == "SonarAttentionPooler"


def test_save_and_load_give_identical_predictions(fitted, corpus, tmp_path) -> None:
    from systems.audio_sonar import AudioSonar

    test = _split(corpus, "Test3")
    fitted.save(tmp_path / "model")
    loaded = AudioSonar.load(tmp_path / "model")
    before, before_variants = fitted.predict_with_variants(test)
    after, after_variants = loaded.predict_with_variants(test)
    pd.testing.assert_frame_equal(before, after)
    for name, frame in before_variants.items():
        pd.testing.assert_frame_equal(after_variants[name], frame)


def test_attributes_use_the_ccc_head_on_the_challenge_scale(corpus) -> None:
    from systems.audio_sonar import AudioSonar

    system = AudioSonar(**{**FAST, "epochs": 1, "finetune_epochs": 1})
    system.fit(_split(corpus, "Train"), None, task="attributes", classes=CLASSES)
    predicted, variants = system.predict_with_variants(_split(corpus, "Test3"))
    assert list(predicted.columns) == ["arousal", "valence", "dominance"]
    assert predicted.to_numpy().min() >= 1.0 and predicted.to_numpy().max() <= 7.0
    assert variants == {}
    assert [stage["stage"] for stage in system.history_] == ["stage1", "stage2"]


def test_other_poolings_are_refused() -> None:
    from systems.audio_sonar import AudioSonar

    with pytest.raises(HarnessError, match="pooling=sonar"):
        AudioSonar(**{**FAST, "pooling": "attentive"})._check_params()
