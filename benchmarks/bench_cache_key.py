"""What a member cache hit costs in key building: the audio stamp and the code digest.

Every run builds each member's key before it can reuse the member's cached predictions, so both
parts are on the path of every cache hit. The audio stamp stats each audio file (it does not
read them); the code digest reads the system's sources once per process. Run with
``python -m pytest benchmarks/bench_cache_key.py --benchmark-enable``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from harness.cache import audio_stamp
from harness.code_digest import forget, source_digest

N_FILES = 20_000


@pytest.fixture(scope="module")
def audio_frame(tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("audio")
    paths = []
    for i in range(N_FILES):
        path = root / f"utt_{i:05d}.wav"
        path.write_bytes(b"RIFF")
        paths.append(str(path))
    return pd.DataFrame({"id": [f"utt_{i:05d}.wav" for i in range(N_FILES)], "path": paths})


def test_audio_stamp_20k_files(benchmark, audio_frame) -> None:
    stamp = benchmark(audio_stamp, audio_frame)
    assert len(stamp) == 20


def test_source_digest_cold(benchmark) -> None:
    """The first key of a process: find and read every module ``audio_embed`` imports."""

    def cold() -> str:
        forget()
        return source_digest("systems.audio_embed")

    assert len(benchmark(cold)) == 20


def test_source_digest_warm(benchmark) -> None:
    """Every later key of the same system in that process."""
    source_digest("systems.audio_embed")
    assert len(benchmark(source_digest, "systems.audio_embed")) == 20
