"""The feature store behind eGeMAPS, audio_embed and text_embed: computed in chunks, each stored
when it completed, so an interrupted encoding resumes where it stopped and keeps nothing computed
while interrupted."""

from __future__ import annotations

import numpy as np
import pytest

from harness.cache import Cache, digest


def _rows(ids: list[str]) -> np.ndarray:
    """A deterministic feature row per id (layers x dims, as audio_embed stores)."""
    return np.stack([np.full((2, 3), float(i[1:]), dtype=np.float32) for i in ids])


def test_an_interrupted_encoding_resumes_at_the_chunk_it_was_in(tmp_path):
    ids = [f"u{i}" for i in range(10)]
    calls: list[list[str]] = []

    def interrupted(chunk):
        calls.append(list(chunk))
        if len(calls) == 3:  # the third chunk is interrupted half-way
            raise KeyboardInterrupt
        return _rows(chunk)

    with pytest.raises(KeyboardInterrupt):
        Cache(tmp_path).features("probe", ids, {"v": 1}, interrupted, chunk_rows=3)
    assert len(list(tmp_path.rglob("*.npz"))) == 2  # the two completed chunks, nothing else

    resumed: list[list[str]] = []

    def compute(chunk):
        resumed.append(list(chunk))
        return _rows(chunk)

    values = Cache(tmp_path).features("probe", ids, {"v": 1}, compute, chunk_rows=3)
    assert resumed == [["u6", "u7", "u8"], ["u9"]]  # only what the interrupt left undone
    np.testing.assert_array_equal(values, _rows(ids))
    again = Cache(tmp_path).features("probe", ids[::-1], {"v": 1}, compute, chunk_rows=3)
    np.testing.assert_array_equal(again, _rows(ids[::-1]))
    assert len(resumed) == 2  # the third call computed nothing


def test_repeated_ids_share_a_row_and_each_is_computed_once(tmp_path):
    seen: list[str] = []

    def compute(chunk):
        seen.extend(chunk)
        return _rows(chunk)

    ids = ["u1", "u2", "u1", "u3", "u2"]
    values = Cache(tmp_path).features("probe", ids, {"v": 1}, compute, chunk_rows=2)
    assert sorted(seen) == ["u1", "u2", "u3"]
    np.testing.assert_array_equal(values, _rows(ids))


def test_a_store_written_in_one_file_is_still_read(tmp_path):
    """Stores written before the chunking (one features.npz per payload) keep serving."""
    directory = tmp_path / "features" / "probe" / digest({"v": 1})
    directory.mkdir(parents=True)
    np.savez(directory / "features.npz", ids=np.asarray(["u1", "u2"]), values=_rows(["u1", "u2"]))

    def compute(chunk):
        assert chunk == ["u3"]
        return _rows(chunk)

    values = Cache(tmp_path).features("probe", ["u2", "u3", "u1"], {"v": 1}, compute)
    np.testing.assert_array_equal(values, _rows(["u2", "u3", "u1"]))


def test_reduce_keeps_a_weighting_of_each_block_and_never_the_whole_rows(tmp_path):
    """audio_embed with a fixed layer keeps one layer of every row; the rows are weighted shard
    by shard, so all layers of the whole corpus are never in memory at once."""
    ids = [f"u{i}" for i in range(10)]
    Cache(tmp_path).features("probe", ids, {"v": 1}, _rows, chunk_rows=3)  # stored whole
    blocks: list[int] = []

    def second_layer(block):
        blocks.append(len(block))
        return block[:, 1]

    values = Cache(tmp_path).features(
        "probe", ids, {"v": 1}, _rows, chunk_rows=3, reduce=second_layer
    )
    np.testing.assert_array_equal(values, _rows(ids)[:, 1])
    assert max(blocks) <= 3 and sum(blocks) == 10
    fresh = Cache(tmp_path / "fresh").features(
        "probe", ids, {"v": 1}, _rows, chunk_rows=4, reduce=second_layer
    )
    np.testing.assert_array_equal(fresh, _rows(ids)[:, 1])
    again = Cache(tmp_path / "fresh").features("probe", ids, {"v": 1}, _rows)
    assert again.shape == (10, 2, 3)  # the store kept every layer


def test_a_terminal_shows_a_bar_over_the_chunks_and_the_rows_are_the_same(tmp_path, bars):
    """On a terminal, more than one chunk to compute draws a progress bar (the shared
    harness.progress look); the rows it returns are those of a run without one."""
    ids = [f"u{i}" for i in range(7)]
    values = Cache(tmp_path / "tty").features("probe", ids, {"v": 1}, _rows, chunk_rows=3)
    assert bars == [("computing probe", 7, 7)]
    np.testing.assert_array_equal(values, _rows(ids))


def test_bars_write_nothing_off_a_terminal(capfd):
    """Off a terminal (a log file, CI) the bars draw nothing at all: rich would still write a
    blank line when a bar closes, which lands between a run's log lines."""
    pytest.importorskip("torch")
    from harness.progress import counting
    from systems.components.training import _progress

    with counting("computing probe", 3) as advance:
        advance(3)
    with _progress(True) as bar:
        task = bar.add_task("training", total=2)
        bar.advance(task)
        bar.advance(task)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
