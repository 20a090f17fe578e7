"""The transcript cache belongs to one corpus and one version of each audio file.

Two folders of the same layout, with the same file names, must never share transcripts; an
audio file edited after it was transcribed (a new size, or any new mtime, older or newer) is
transcribed again; a transcript whose audio is unchanged is reused.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_asr import CountingASR  # noqa: E402

from harness.asr.transcribe import (  # noqa: E402
    transcribe_corpus,
    transcript_dir,
    transcript_filename,
)
from harness.data.audio import write_audio  # noqa: E402
from harness.data.corpus import Corpus  # noqa: E402
from harness.data.manifest import make_manifest  # noqa: E402


def _tone(samples: int) -> np.ndarray:
    return (0.1 * np.sin(2 * np.pi * 220 * np.arange(samples) / 16_000)).astype(np.float32)


def msp_like(root: Path, lengths: list[int], *, with_root: bool = True) -> Corpus:
    """An MSP-Podcast-layout corpus: the kind's own name, FileNames MSP-PODCAST_0001_000i.wav."""
    rows = []
    for i, samples in enumerate(lengths):
        name = f"MSP-PODCAST_0001_{i:04d}.wav"
        write_audio(root / "Audios" / name, _tone(samples))
        rows.append({"id": name, "path": str(root / "Audios" / name), "split": "Train"})
    manifest = make_manifest(pd.DataFrame(rows), "msp")
    return Corpus(
        manifest, "msp-podcast", "msp_podcast", "odyssey2024", root=root if with_root else None
    )


@pytest.mark.parametrize("with_root", [True, False])
def test_two_corpora_with_the_same_ids_never_share_transcripts(tmp_path, with_root):
    first = msp_like(tmp_path / "a", [1600, 3200], with_root=with_root)
    second = msp_like(tmp_path / "b", [4800, 6400], with_root=with_root)
    assert first.manifest["id"].tolist() == second.manifest["id"].tolist()
    cache = tmp_path / "cache"
    a = transcribe_corpus(first, CountingASR(), cache_dir=cache)
    backend = CountingASR()
    b = transcribe_corpus(second, backend, cache_dir=cache)
    assert a.directory != b.directory
    assert b.n_transcribed == 2 and backend.calls == [4800, 6400]
    assert set(b.transcripts.values()) == {"a heard 4800 samples", "a heard 6400 samples"}
    assert set(a.transcripts.values()) == {"a heard 1600 samples", "a heard 3200 samples"}


def test_an_unchanged_corpus_is_reused_and_the_same_folder_is_the_same_corpus(tmp_path):
    corpus = msp_like(tmp_path / "a", [1600, 3200])
    cache = tmp_path / "cache"
    first = transcribe_corpus(corpus, CountingASR(), cache_dir=cache)
    # The same folder reached through another spelling of its path is the same corpus.
    alias = Corpus(corpus.manifest, corpus.name, corpus.kind, corpus.challenge, tmp_path / "a/.")
    backend = CountingASR()
    again = transcribe_corpus(alias, backend, cache_dir=cache)
    assert again.directory == first.directory
    assert backend.calls == [] and backend.loaded == 0 and again.n_skipped == 2


def test_an_edited_file_with_its_old_mtime_is_transcribed_again(tmp_path):
    """A new size is a new file, even where the editor kept the modification time."""
    corpus = msp_like(tmp_path / "a", [1600, 3200])
    cache = tmp_path / "cache"
    transcribe_corpus(corpus, CountingASR(), cache_dir=cache)
    path = Path(corpus.manifest["path"].iloc[1])
    before = path.stat()
    write_audio(path, _tone(8000))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    backend = CountingASR()
    result = transcribe_corpus(corpus, backend, cache_dir=cache)
    assert backend.calls == [8000] and result.n_transcribed == 1
    assert result.transcripts[path.name] == "a heard 8000 samples"


def test_a_file_restored_with_an_older_mtime_is_transcribed_again(tmp_path):
    """Same size, mtime moved back (a backup restored with cp -p): still a different file."""
    corpus = msp_like(tmp_path / "a", [1600, 3200])
    cache = tmp_path / "cache"
    transcribe_corpus(corpus, CountingASR(), cache_dir=cache)
    path = Path(corpus.manifest["path"].iloc[0])
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns - 10**9))
    backend = CountingASR()
    result = transcribe_corpus(corpus, backend, cache_dir=cache)
    assert backend.calls == [1600] and result.n_transcribed == 1


def test_a_failed_redo_never_leaves_the_stale_transcript(tmp_path):
    """Audio edited, re-transcription fails: the next run must not reuse the old transcript."""

    class Failing(CountingASR):
        def _transcribe_batch(self, audios):
            raise RuntimeError("decoder crashed")

    corpus = msp_like(tmp_path / "a", [1600, 3200])
    cache = tmp_path / "cache"
    first = transcribe_corpus(corpus, CountingASR(), cache_dir=cache)
    path = Path(corpus.manifest["path"].iloc[0])
    write_audio(path, _tone(4000))
    with pytest.raises(RuntimeError, match="decoder crashed"):
        transcribe_corpus(corpus, Failing(), cache_dir=cache)
    assert not (first.directory / transcript_filename(path.name)).exists()
    backend = CountingASR()
    result = transcribe_corpus(corpus, backend, cache_dir=cache)
    assert backend.calls == [4000]
    assert result.transcripts[path.name] == "a heard 4000 samples"


def test_demo_corpus_transcripts_live_under_its_name_and_are_reused(demo_corpus_small, tmp_path):
    corpus = demo_corpus_small
    cache = tmp_path / "cache"
    directory = transcript_dir(corpus, CountingASR(), cache)
    assert directory.parent.name.startswith(corpus.name + "-")
    first = transcribe_corpus(corpus, CountingASR(), cache_dir=cache)
    assert first.directory == directory and first.n_transcribed == len(corpus.manifest)
    backend = CountingASR()
    again = transcribe_corpus(corpus, backend, cache_dir=cache)
    assert backend.calls == [] and again.n_skipped == len(corpus.manifest)
