"""Hot paths between the disk and a model: audio loading, length bucketing, feature-cache hits.

Every audio system reads each utterance through :func:`harness.data.audio.load_audio` (a native
16 kHz mono WAV is read as is; anything else is mixed down and resampled with soxr), batches by
length with :func:`systems.components.batching.bucket_batches`, and, on a re-run, reads its
features back from :meth:`harness.cache.Cache.features` instead of computing them. A corpus of
MSP-Podcast's size has over 100,000 utterances, so these run that many times or on that many
rows. Run with ``python -m pytest benchmarks/bench_audio_batching.py --benchmark-enable``.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from harness.cache import Cache
from harness.data.audio import SAMPLE_RATE, load_audio, write_audio
from systems.components.batching import bucket_batches, padding_fraction

SECONDS = 4.0
N_LENGTHS = 100_000
N_CACHED = 20_000
FEATURE_DIM = 88  # eGeMAPS functionals


@pytest.fixture(scope="module")
def wav_16k_mono(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("audio") / "native.wav"
    rng = np.random.default_rng(0)
    write_audio(path, (0.1 * rng.standard_normal(int(SECONDS * SAMPLE_RATE))).astype("f4"))
    return str(path)


@pytest.fixture(scope="module")
def wav_44k_stereo(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("audio") / "stereo.wav"
    rng = np.random.default_rng(1)
    sf.write(path, 0.1 * rng.standard_normal((int(SECONDS * 44_100), 2)), 44_100, "PCM_16")
    return str(path)


def test_load_audio_native_4s(benchmark, wav_16k_mono) -> None:
    audio = benchmark(load_audio, wav_16k_mono)
    assert audio.dtype == np.float32 and audio.shape == (int(SECONDS * SAMPLE_RATE),)


def test_load_audio_44k_stereo_resampled_4s(benchmark, wav_44k_stereo) -> None:
    audio = benchmark(load_audio, wav_44k_stereo)
    assert audio.ndim == 1 and abs(audio.size - SECONDS * SAMPLE_RATE) <= 1


def test_bucket_batches_100k_lengths(benchmark) -> None:
    """MSP-Podcast-like durations (log-normal, median about 4 s) in samples, under a padded
    budget of 64 s of audio per batch."""
    rng = np.random.default_rng(0)
    lengths = np.exp(rng.normal(np.log(4.0), 0.6, N_LENGTHS)) * SAMPLE_RATE
    batches = benchmark(bucket_batches, lengths, max_batch_size=64, max_padded=64 * SAMPLE_RATE)
    assert sorted(i for batch in batches for i in batch) == list(range(N_LENGTHS))
    assert padding_fraction(lengths, batches) < 0.05


def test_feature_cache_hit_20k_rows(benchmark, tmp_path) -> None:
    """A re-run's read of 20,000 cached eGeMAPS rows: nothing is recomputed."""
    ids = [f"utt_{i:05d}" for i in range(N_CACHED)]
    values = np.random.default_rng(0).standard_normal((N_CACHED, FEATURE_DIM)).astype("f4")
    cache = Cache(tmp_path)
    index = {key: i for i, key in enumerate(ids)}
    cache.features("bench", ids, {"v": 1}, lambda missing: values[[index[m] for m in missing]])

    def must_not_compute(missing):
        raise AssertionError(f"{len(missing)} rows recomputed on a cache hit")

    rows = benchmark(cache.features, "bench", ids, {"v": 1}, must_not_compute)
    np.testing.assert_array_equal(rows, values)
