"""On-the-fly augmentation: noise at an SNR, aligned reverberation, speed perturbation, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.audio import write_audio
from harness.errors import HarnessError
from systems.components.augment import (
    Augmenter,
    add_noise,
    find_audio_files,
    reverberate,
    speed_perturb,
)
from systems.components.params import yaml_params

_PAPER = yaml_params("audio_w2vbert")
PROBS = {
    "noise_prob": _PAPER["augment_prob"],
    "rir_prob": _PAPER["augment_prob"],
    "snr_db": _PAPER["noise_snr_db"],
}


def _tone(seconds: float = 1.0, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_missing_directory_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(HarnessError) as error:
        Augmenter(noise_dir=tmp_path / "no-such-dir", **PROBS)
    message = str(error.value)
    assert "does not exist" in message and "noise_dir" in message and "\n" not in message


def test_directory_without_audio_is_an_error(tmp_path) -> None:
    (tmp_path / "readme.txt").write_text("no audio here")
    with pytest.raises(HarnessError, match="rir_dir"):
        Augmenter(rir_dir=tmp_path, **PROBS)


def test_no_directories_is_a_no_op() -> None:
    augmenter = Augmenter(**PROBS)
    wave = _tone()
    assert not augmenter.active and "without" in augmenter.describe()
    assert augmenter(wave, np.random.default_rng(0)) is wave


def test_noise_is_added_at_the_requested_snr() -> None:
    speech = _tone()
    noise = np.random.default_rng(0).standard_normal(4000).astype(np.float32)  # shorter: looped
    mixed = add_noise(speech, noise, snr_db=10.0)
    residual = mixed - speech
    snr = 10 * np.log10(np.mean(speech**2) / np.mean(residual**2))
    assert mixed.shape == speech.shape and abs(snr - 10.0) < 0.01


def test_noise_on_silence_stays_finite() -> None:
    mixed = add_noise(np.zeros(1000, np.float32), np.ones(1000, np.float32), 5.0)
    assert np.isfinite(mixed).all() and np.abs(mixed).max() > 0


def test_reverberation_keeps_length_power_and_alignment() -> None:
    speech = np.zeros(8000, np.float32)
    speech[1000] = 1.0
    rir = np.zeros(2000)
    rir[300] = 1.0  # direct path after 300 samples
    rir[800] = 0.5
    wet = reverberate(speech, rir)
    assert wet.shape == speech.shape
    assert int(np.argmax(np.abs(wet))) == 1000  # direct path aligned on the original position
    np.testing.assert_allclose(np.mean(wet**2), np.mean(speech**2), rtol=1e-6)


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_changes_length_and_pitch(factor: float) -> None:
    wave = _tone(2.0)
    fast = speed_perturb(wave, factor)
    assert abs(fast.size - wave.size / factor) <= 2
    spectrum = np.abs(np.fft.rfft(fast))
    peak_hz = np.argmax(spectrum) * 16_000 / fast.size
    assert abs(peak_hz - 220 * factor) < 3


def test_augmenter_reads_local_directories(tmp_path) -> None:
    noise_dir, rir_dir = tmp_path / "pointsource_noises", tmp_path / "simulated_rirs" / "smallroom"
    rng = np.random.default_rng(0)
    write_audio(noise_dir / "noise-01.wav", 0.1 * rng.standard_normal(24_000).astype(np.float32))
    rir = np.zeros(1600, np.float32)
    rir[10], rir[400] = 0.9, 0.3
    write_audio(rir_dir / "Room001-00001.wav", rir, sample_rate=8_000)  # other rates are resampled
    assert len(find_audio_files(tmp_path / "simulated_rirs", "rir", "rir_dir")) == 1
    augmenter = Augmenter(
        noise_dir, tmp_path / "simulated_rirs", noise_prob=1.0, rir_prob=1.0, snr_db=(0.0, 15.0)
    )
    wave = _tone()
    out = augmenter(wave, np.random.default_rng(1))
    assert augmenter.active and out.shape == wave.shape and np.isfinite(out).all()
    assert not np.allclose(out, wave)
