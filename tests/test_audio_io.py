"""Audio I/O on bad input: NaN/inf samples, truncated WAVs, stereo, and MP3 at corpus rates."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from harness.data import audio as A
from harness.errors import HarnessError


@pytest.fixture(autouse=True)
def _fresh_report():
    A.reset_audio_report()
    yield
    A.reset_audio_report()


def _tone(seconds: float, rate: int = 16_000, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_wav_with_non_finite_samples_is_an_error_naming_the_file(tmp_path, bad):
    path = tmp_path / "float.wav"
    samples = _tone(0.5)
    samples[100] = bad
    sf.write(path, samples, 16_000, subtype="FLOAT")
    with pytest.raises(HarnessError) as caught:
        A.load_audio(path, row="u1")
    assert caught.value.file == str(path) and caught.value.row == "u1"
    assert "NaN or infinite" in caught.value.message and caught.value.fix


def test_finite_float_wav_is_read_unchanged(tmp_path):
    path = tmp_path / "float.wav"
    samples = _tone(0.5)
    sf.write(path, samples, 16_000, subtype="FLOAT")
    np.testing.assert_array_equal(A.load_audio(path), samples)


def test_truncated_wav_is_read_with_a_warning_naming_the_file(tmp_path, caplog):
    full, cut = tmp_path / "full.wav", tmp_path / "cut.wav"
    A.write_audio(full, _tone(1.0))
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) - 8000])  # 4000 of 16000 frames lost
    with caplog.at_level(logging.WARNING, logger="harness.data.audio"):
        audio = A.load_audio(cut)
        A.load_audio(full)
    assert audio.size == 12_000  # what is there is read
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(cut) in warnings[0] and "cut short" in warnings[0]
    assert A.wav_data_shortfall(cut) == (32_000, 24_000)
    assert A.wav_data_shortfall(full) is None
    assert A.audio_report()["truncated"] == 1


def test_stereo_is_averaged_and_logged_once_naming_the_first_file(tmp_path, caplog):
    left = _tone(0.5)
    paths = []
    for i in range(3):
        path = tmp_path / f"stereo{i}.wav"
        sf.write(path, np.stack([left, 0.5 * left], axis=1), 16_000, subtype="FLOAT")
        paths.append(path)
    with caplog.at_level(logging.WARNING, logger="harness.data.audio"):
        outs = [A.load_audio(p) for p in paths]
    np.testing.assert_allclose(outs[0], 0.75 * left, atol=1e-6)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(paths[0]) in warnings[0] and "mono" in warnings[0]
    report = A.audio_report()
    assert report["multichannel"] == 3 and report["first_multichannel"] == str(paths[0])


def test_a_file_at_another_rate_is_resampled_and_the_first_one_named(tmp_path, caplog):
    """One 8 kHz file in a 16 kHz corpus is resampled, not rejected; the log names it, once."""
    paths = []
    for i in range(2):
        path = tmp_path / f"phone{i}.wav"
        sf.write(path, _tone(0.5, rate=8_000), 8_000, subtype="PCM_16")
        paths.append(path)
    with caplog.at_level(logging.INFO, logger="harness.data.audio"):
        outs = [A.load_audio(p) for p in paths]
    assert all(abs(out.size - 8_000) <= 1 for out in outs)
    lines = [r.getMessage() for r in caplog.records if "resampling" in r.getMessage()]
    assert lines == [f"resampling audio from 8000 Hz to 16000 Hz (first: {paths[0]})"]


def test_antiphase_stereo_that_averages_to_silence_is_named(tmp_path, caplog):
    path = tmp_path / "antiphase.wav"
    left = _tone(0.5)
    sf.write(path, np.stack([left, -left], axis=1), 16_000, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, logger="harness.data.audio"):
        audio = A.load_audio(path)
    assert np.abs(audio).max() < 1e-6  # the average really is silence
    named = [r.getMessage() for r in caplog.records if "cancel out" in r.getMessage()]
    assert len(named) == 1 and str(path) in named[0]
    assert A.audio_report()["cancelled"] == 1


@pytest.mark.parametrize("rate", [44_100, 48_000])
def test_mp3_is_decoded_and_resampled_to_16k(tmp_path, rate):
    """EmoSpeech's MEACorpus ships MP3 at 44.1/48 kHz; libsndfile >= 1.1 decodes MP3."""
    version = tuple(int(v) for v in sf.__libsndfile_version__.split(".")[:2])
    if version < (1, 1):
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} has no MP3")
    path = tmp_path / "speech.mp3"
    sf.write(path, _tone(1.0, rate, freq=440.0), rate, format="MP3")
    audio = A.load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # MP3 adds encoder delay/padding (about one frame); the length stays near 1 s at 16 kHz.
    assert abs(audio.size - 16_000) < 0.1 * 16_000
    spectrum = np.abs(np.fft.rfft(audio[2000:14000]))
    peak = np.argmax(spectrum) * 16_000 / 12_000
    assert abs(peak - 440.0) < 5  # the tone survives decoding and resampling


def test_mp3_decode_failure_names_libsndfile_when_too_old(tmp_path, monkeypatch):
    path = tmp_path / "x.mp3"
    path.write_bytes(b"not really an mp3")
    monkeypatch.setattr(sf, "__libsndfile_version__", "1.0.31")
    with pytest.raises(HarnessError) as caught:
        A.load_audio(path)
    assert "libsndfile >= 1.1" in caught.value.fix and "pip install" in caught.value.fix
    assert "\n" not in str(caught.value)
