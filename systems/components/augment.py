"""On-the-fly waveform augmentation: additive noise, reverberation, speed perturbation.

Why on the fly rather than a pre-augmented copy of the corpus: every epoch sees a new noise
segment, SNR and room for each random chunk, at no disk cost. The recipes follow Kaldi/SpeechBrain:

* point-source noises (``RIRS_NOISES/pointsource_noises``, or MUSAN ``noise``/``music``/``speech``)
  added at a random SNR;
* simulated room impulse responses (``RIRS_NOISES/simulated_rirs``) convolved with the speech,
  aligned on the direct path so that labels (and chunk boundaries) stay in place;
* speed perturbation by resampling (soxr; linear interpolation as a fallback), which changes
  tempo and pitch together, like ``sox speed``. No torchaudio: its registry build needs CUDA.

Directories are searched recursively for ``.wav``/``.flac`` files and files are read through the
harness audio loader (so other sample rates are resampled). A directory that is given but does not
exist, or holds no audio, is a :class:`~harness.errors.HarnessError`: silently training without
the augmentation the user asked for would be worse than stopping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

log = logging.getLogger(__name__)
AUDIO_SUFFIXES = (".wav", ".flac")


def find_audio_files(directory: str | os.PathLike, what: str, param: str) -> list[Path]:
    """Sorted audio files under ``directory``, or one clear error naming the parameter to fix."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise HarnessError(
            f"{what} directory does not exist",
            file=path,
            fix=f"pass an existing directory with {param}=/path, or leave {param} empty to train without it",
        )
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise HarnessError(
            f"{what} directory holds no .wav or .flac files",
            file=path,
            fix=f"point {param} at the folder with the audio (e.g. RIRS_NOISES/pointsource_noises)",
        )
    return files


def speed_perturb(wave: np.ndarray, factor: float, sample_rate: int = 16_000) -> np.ndarray:
    """Play ``wave`` ``factor`` times faster (shorter and higher for factor > 1)."""
    wave = np.asarray(wave, dtype=np.float32)
    if factor == 1.0 or wave.size < 2:
        return wave
    try:
        import soxr

        return soxr.resample(wave, sample_rate * factor, sample_rate).astype(np.float32, copy=False)
    except Exception:  # pragma: no cover - soxr is a hard dependency; interpolation is the fallback
        target = max(1, int(round(wave.size / factor)))
        grid = np.linspace(0, wave.size - 1, target)
        return np.interp(grid, np.arange(wave.size), wave).astype(np.float32)


def add_noise(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix ``noise`` (looped or cut to length) into ``speech`` at ``snr_db``; silence stays silent + noise."""
    noise = np.resize(noise, speech.shape).astype(np.float32)  # np.resize repeats a short noise
    speech_power = float(np.mean(speech**2))
    noise_power = float(np.mean(noise**2))
    if noise_power < 1e-12:
        return speech
    reference = speech_power if speech_power > 1e-10 else 1e-4  # silent input: noise at a low level
    gain = np.sqrt(reference / (noise_power * 10 ** (snr_db / 10)))
    return (speech + gain * noise).astype(np.float32)


def reverberate(speech: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with a room response aligned on its direct path, keeping length and power."""
    from scipy.signal import fftconvolve

    rir = np.asarray(rir, dtype=np.float64)
    energy = np.sqrt(np.sum(rir**2))
    if energy < 1e-12:
        return speech
    rir = rir / energy
    delay = int(np.argmax(np.abs(rir)))
    wet = fftconvolve(speech.astype(np.float64), rir)[delay : delay + speech.size]
    dry_power, wet_power = np.mean(speech**2), np.mean(wet**2)
    if wet_power > 1e-12 and dry_power > 0:
        wet *= np.sqrt(dry_power / wet_power)
    return wet.astype(np.float32)


class Augmenter:
    """Noise and reverberation from local directories; a no-op when neither is given.

    Files are loaded on first use and kept (point-source noises and RIRs are small: the whole
    RIRS_NOISES set is about 1 GB as float32, so only ``max_cached`` files are held at once).
    """

    def __init__(
        self,
        noise_dir: str | os.PathLike | None = None,
        rir_dir: str | os.PathLike | None = None,
        *,
        noise_prob: float,
        rir_prob: float,
        snr_db: Sequence[float],
        max_cached: int = 2000,
    ) -> None:
        self.noise_files = find_audio_files(noise_dir, "noise", "noise_dir") if noise_dir else []
        self.rir_files = (
            find_audio_files(rir_dir, "room impulse response", "rir_dir") if rir_dir else []
        )
        self.noise_prob = noise_prob
        self.rir_prob = rir_prob
        self.snr_db = (float(snr_db[0]), float(snr_db[1]))
        self.max_cached = max_cached
        self._cache: dict[Path, np.ndarray] = {}

    @property
    def active(self) -> bool:
        return bool(self.noise_files or self.rir_files)

    def describe(self) -> str:
        if not self.active:
            return (
                "no noise or RIR directory given: training without additive noise or reverberation"
            )
        return f"augmenting with {len(self.noise_files)} noise files and {len(self.rir_files)} RIRs"

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.rir_files and rng.random() < self.rir_prob:
            wave = reverberate(wave, self._load(self.rir_files[rng.integers(len(self.rir_files))]))
        if self.noise_files and rng.random() < self.noise_prob:
            noise = self._load(self.noise_files[rng.integers(len(self.noise_files))])
            if noise.size > wave.size:
                start = int(rng.integers(noise.size - wave.size + 1))
                noise = noise[start : start + wave.size]
            wave = add_noise(wave, noise, float(rng.uniform(*self.snr_db)))
        return wave

    def _load(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            from harness.data.audio import load_audio

            if len(self._cache) >= self.max_cached:
                self._cache.pop(next(iter(self._cache)))
            self._cache[path] = load_audio(path)
        return self._cache[path]
