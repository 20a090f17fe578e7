"""The frozen speech encoders shared by audio_embed and multimodal_attnpool: the input a checkpoint
expects (filterbanks, raw or normalised waveforms), the Whisper input window, and fixes that work
when pasted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import HarnessError
from systems.components.frozen_encoders import speech_states
from systems.components.speech_encoders import TransformersEncoder, WhisperEncoder

WAV2VEC2_TINY = {
    "model_type": "wav2vec2",
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "conv_dim": [16] * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}
W2VBERT_TINY = {
    "model_type": "wav2vec2-bert",
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "feature_projection_input_dim": 160,
    "conv_depthwise_kernel_size": 3,
    "output_hidden_size": 16,
}


def _wave(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * 16_000))).astype(np.float32)


@pytest.mark.parametrize("scratch", [WAV2VEC2_TINY, W2VBERT_TINY], ids=["wav2vec2", "w2v-bert"])
def test_attnpool_states_come_from_the_checkpoints_own_input(scratch):
    """w2v-BERT reads filterbanks, not the waveform; its states are every transformer layer."""
    encoder = speech_states(None, scratch=scratch)
    states = encoder.encode(_wave(1.0))
    assert tuple(states.shape[::2]) == (2, 16)  # (layers, frames, dim): the 2 transformer layers
    assert encoder.num_layers == 2 and encoder.dim == 16
    assert states.shape[1] > 10 and np.isfinite(states.numpy()).all()


def test_a_file_shorter_than_the_convolutions_still_gives_states():
    states = speech_states(None, scratch=WAV2VEC2_TINY).encode(_wave(0.005))
    assert states.shape[0] == 2 and states.shape[1] >= 1


def _saved_wav2vec2(directory, do_normalize: bool):
    from transformers import AutoConfig, AutoModel

    settings = {k: v for k, v in WAV2VEC2_TINY.items() if k != "model_type"}
    AutoModel.from_config(AutoConfig.for_model("wav2vec2", **settings)).save_pretrained(directory)
    (directory / "preprocessor_config.json").write_text(
        json.dumps({"do_normalize": do_normalize, "sampling_rate": 16000})
    )
    return str(directory)


def _network_input(encoder: TransformersEncoder, wave: np.ndarray) -> np.ndarray:
    """The waveform the network's convolutions receive when ``encoder`` encodes ``wave``."""
    seen = []
    hook = encoder.load().feature_extractor.register_forward_pre_hook(
        lambda module, args: seen.append(args[0][0].numpy().copy())
    )
    try:
        encoder.frames([wave])
    finally:
        hook.remove()
    return seen[0]


def test_the_waveform_is_normalised_only_where_the_checkpoint_says_so(tmp_path):
    """WavLM and HuBERT base models say do_normalize: false; they must see the raw waveform."""
    wave = 0.05 + _wave(1.0)
    raw = _network_input(TransformersEncoder(_saved_wav2vec2(tmp_path / "raw", False)), wave)
    normed = _network_input(TransformersEncoder(_saved_wav2vec2(tmp_path / "normed", True)), wave)
    np.testing.assert_allclose(raw, wave, atol=1e-7)
    expected = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
    np.testing.assert_allclose(normed, expected, atol=1e-4)


def test_raw_waveform_checkpoints_get_their_own_cache_entries(tmp_path):
    path = _saved_wav2vec2(tmp_path / "model", True)
    normalised_id = TransformersEncoder(path).encoder_id()
    (tmp_path / "model" / "preprocessor_config.json").write_text('{"do_normalize": false}')
    assert TransformersEncoder(path).encoder_id() != normalised_id


def test_audio_w2vbert_fine_tunes_a_raw_waveform_checkpoint_on_raw_input(tmp_path):
    from systems.audio_w2vbert import AudioW2VBert
    from systems.components.params import yaml_params
    from systems.components.speech_model import load_backbone

    load_backbone(
        "unused", scratch_config={**W2VBERT_TINY, "model_type": "wavlm", "conv_dim": [16] * 7,
                                  "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2},
        seed=0,
    ).save_pretrained(tmp_path / "wavlm")  # fmt: skip
    (tmp_path / "wavlm" / "preprocessor_config.json").write_text('{"do_normalize": false}')
    params = yaml_params("audio_w2vbert", seed=0, finetune="frozen")
    system = AudioW2VBert(**{**params, "backbone": str(tmp_path / "wavlm")})
    system._new_model("categorical", 4)
    frontend = system._frontend()
    assert frontend.input_name == "input_values" and frontend.normalize is False
    wave = _wave(0.5)
    np.testing.assert_allclose(frontend([wave])["input_values"][0].numpy(), wave, atol=1e-7)


# -- Whisper (CTranslate2, the bundled tiny.en) ----------------------------------------------------
def test_an_utterance_longer_than_the_short_window_gets_a_longer_window_not_cuts():
    """One per window, an utterance that does not fit ``window_seconds`` is encoded whole in the
    next multiple of it (19 s in 24 s), exactly as in a window of that length, not in 8 s
    pieces that never see each other; every frame is kept."""
    encoder = WhisperEncoder(pack_seconds=0, window_seconds=8.0, batch_size=1)
    long, short = _wave(19.0), _wave(2.0, seed=1)
    frames = encoder.frames([long, short])
    assert frames[0].shape == (1, 950, 384)  # 19 s at 20 ms per frame
    assert frames[1].shape == (1, 100, 384)
    assert encoder.stats["windows"] == 2  # 24 s and 8 s
    whole = WhisperEncoder(pack_seconds=0, window_seconds=24.0).frames([long])[0]
    np.testing.assert_allclose(frames[0], whole, atol=1e-4)


def test_only_an_utterance_longer_than_30_s_is_cut_and_its_pieces_stay_in_order():
    """65 s: pieces of 30, 30 and 5 s, in windows of 30, 30 and 8 s (encoded shortest window
    first), joined in the utterance's order."""
    encoder = WhisperEncoder(pack_seconds=0, window_seconds=8.0)
    wave = _wave(65.0)
    frames = encoder.frames([wave])[0]
    assert frames.shape == (1, 3250, 384) and encoder.stats["windows"] == 3
    full = WhisperEncoder(pack_seconds=0)
    np.testing.assert_allclose(frames[:, :1500], full.frames([wave[: 30 * 16_000]])[0], atol=1e-4)
    tail = WhisperEncoder(pack_seconds=0, window_seconds=8.0).frames([wave[60 * 16_000 :]])[0]
    np.testing.assert_allclose(frames[:, 3000:], tail, atol=1e-4)


def test_attnpool_whisper_states_use_the_window_and_keep_the_utterances_frames():
    encoder = speech_states("whisper-tiny.en", window_seconds=8.0)
    states = encoder.encode(_wave(12.0))
    assert tuple(states.shape) == (1, 600, 384) and encoder.num_layers == 1


def test_loading_the_attnpool_whisper_on_a_cpu_prints_no_warning(capfd):
    """compute_type=default on a CPU converts the saved float16 weights to float32; CTranslate2
    said so in a warning line in the middle of the run's log, with nothing to act on."""
    encoder = WhisperEncoder(pack_seconds=0, compute_type="default", device="cpu")
    encoder.load()
    assert "warning" not in capfd.readouterr().err


def test_whisper_window_values_are_checked():
    with pytest.raises(HarnessError, match="between 0 and 30"):
        WhisperEncoder(window_seconds=45)
    with pytest.raises(HarnessError, match="longer than Whisper's 8 s window"):
        WhisperEncoder(pack_seconds=30, window_seconds=8)


def test_a_missing_whisper_directory_names_audio_embeds_own_parameter(tmp_path):
    with pytest.raises(HarnessError) as error:
        WhisperEncoder(str(tmp_path / "nowhere")).check()
    message = str(error.value)
    assert "pass encoder=whisper:/path/to/dir" in message and " model=" not in message


def test_an_unreadable_whisper_model_names_attnpools_own_parameter(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    from systems.components.frozen_encoders import _speech_encoder

    encoder = _speech_encoder(str(tmp_path), None, 8.0, 0, True, 1)
    with pytest.raises(HarnessError) as error:
        encoder.load()
    assert "pass speech_backbone=/path/to/ct2-whisper-dir" in str(error.value)


# -- where the encoders run -------------------------------------------------------------------------
def test_auto_is_the_gpu_where_there_is_one_and_cpu_forces_the_cpu(monkeypatch):
    import ctranslate2
    import torch

    from systems.components.devices import resolve

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: 1)
    assert resolve("auto") == "cuda" and resolve("auto", runtime="ctranslate2") == "cuda"
    assert resolve("cpu") == "cpu" and resolve("cuda:1") == "cuda:1"

    def no_cuda_build():
        raise RuntimeError("CTranslate2 was built without CUDA")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", no_cuda_build)
    assert resolve("auto") == "cpu" and resolve("auto", runtime="ctranslate2") == "cpu"


@pytest.mark.parametrize("system", ["audio_embed", "text_embed"])
def test_frozen_encoder_systems_use_the_gpu_unless_told_not_to(system):
    """On a GPU machine the encoders run there (an hour of MSP-Podcast audio on a CPU is a day's
    encoding); ``cpu=true`` keeps them on the CPU."""
    from harness.system import system_class
    from systems.components.params import yaml_params

    cls = system_class(system)
    encoder = "/models/wavlm" if system == "audio_embed" else "/models/minilm"
    default = cls(**yaml_params(system, seed=0, encoder=encoder))._encoder()
    forced = cls(**yaml_params(system, seed=0, encoder=encoder, cpu=True))._encoder()
    assert default.device == "auto" and forced.device == "cpu"


def test_a_long_recording_is_encoded_in_pieces_whose_frames_are_joined(monkeypatch):
    import systems.components.speech_encoders as module

    monkeypatch.setattr(module, "TRANSFORMERS_PIECE_SECONDS", 2.0)
    encoder = TransformersEncoder("scratch", scratch_config=WAV2VEC2_TINY)
    calls = []
    encoder.load().register_forward_pre_hook(
        lambda m, args, kwargs: calls.append(1), with_kwargs=True
    )
    long = _wave(5.0)
    frames = encoder.frames([long])[0]
    assert len(calls) == 3  # 2 s + 2 s + 1 s
    assert frames.shape[:2] == (3, 247)  # 99 + 99 + 49 frames of 20 ms (each piece loses one)
    np.testing.assert_allclose(frames[:, :99], encoder.frames([long[:32_000]])[0], atol=1e-5)


def test_the_whisper_width_is_measured_not_assumed(monkeypatch):
    """A CTranslate2 directory's config.json has no d_model: a larger Whisper (1,280 wide for
    large) must not be taken for tiny's 384, or the attention head is built the wrong width."""
    encoder = WhisperEncoder(pack_seconds=0, window_seconds=8.0)
    assert encoder.dim() == 384 == encoder.frames([_wave(1.0)])[0].shape[-1]
    wider = WhisperEncoder(pack_seconds=0, window_seconds=8.0)
    monkeypatch.setattr(
        WhisperEncoder, "_encode", staticmethod(lambda whisper, mels: np.zeros((1, 400, 1280)))
    )
    assert wider.dim() == 1280


@pytest.mark.parametrize(
    ("model_type", "message", "fix"),
    [
        ("whisper", "runs through CTranslate2", "encoder=whisper:/path/to/converted-dir"),
        ("bert", "not a speech encoder", "encoder= a wav2vec2, wav2vec2-bert"),
    ],
)
def test_a_checkpoint_that_is_no_speech_encoder_is_refused_before_encoding(
    tmp_path, model_type, message, fix
):
    """A transformers Whisper or a text model read as a speech encoder would fail on the first
    utterance, after the corpus was built; its config says so at check time."""
    from transformers import AutoConfig

    AutoConfig.for_model(model_type).save_pretrained(tmp_path)
    with pytest.raises(HarnessError) as error:
        TransformersEncoder(str(tmp_path)).check()
    assert message in str(error.value) and fix in str(error.value)
    with pytest.raises(HarnessError, match="speech_backbone="):
        speech_states(str(tmp_path)).encoder.check()
