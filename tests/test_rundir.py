"""Run directories: where they are made, what they are called, and that none is ever lost."""

from __future__ import annotations

import datetime as dt

import pytest

from harness import rundir as rundir_module
from harness.rundir import run_directory


def test_a_run_directory_under_home_is_made_where_it_was_checked(monkeypatch, tmp_path):
    """The writable check expands "~"; the run directory used to be made under ./~ instead."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with run_directory("~/runs", "text_tfidf") as rundir:
        (rundir.root / "metrics.json").write_text("{}")
    made = list((tmp_path / "home" / "runs").iterdir())
    assert len(made) == 1 and (made[0] / "metrics.json").is_file()
    assert not (tmp_path / "~").exists()


@pytest.fixture
def frozen_clock(monkeypatch):
    """Every run starts in the same second."""

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 12, 5, 19, 11, 30)

    monkeypatch.setattr(rundir_module._dt, "datetime", Frozen)


def test_two_runs_in_one_second_keep_both_directories(frozen_clock, tmp_path):
    """A cached run takes a fraction of a second: the second used to delete the first."""
    for content in ("first", "second"):
        with run_directory(tmp_path, "text_tfidf") as rundir:
            (rundir.root / "metrics.json").write_text(content)
    first, second = (
        tmp_path / "20261205-191130-text_tfidf",
        tmp_path / "20261205-191130-text_tfidf-2",
    )
    assert (first / "metrics.json").read_text() == "first"
    assert (second / "metrics.json").read_text() == "second"


def test_runs_side_by_side_never_share_a_partial_directory(frozen_clock, tmp_path):
    with run_directory(tmp_path, "fusion_lr") as outer:
        (outer.root / "config.yaml").write_text("outer")
        with run_directory(tmp_path, "fusion_lr") as inner:
            assert inner.root != outer.root and inner.final != outer.final
            (inner.root / "config.yaml").write_text("inner")
        assert (outer.root / "config.yaml").read_text() == "outer"  # still being written
    assert (outer.final / "config.yaml").read_text() == "outer"
    assert (inner.final / "config.yaml").read_text() == "inner"


def test_an_interrupted_run_leaves_only_its_partial_directory(frozen_clock, tmp_path):
    with pytest.raises(KeyboardInterrupt), run_directory(tmp_path, "text_tfidf") as rundir:
        (rundir.root / "metrics.json").write_text("{}")
        raise KeyboardInterrupt
    assert not rundir.final.exists() and rundir.root.is_dir()
    assert rundir.root.name.startswith(".") and rundir.root.name.endswith(".partial")
    with run_directory(tmp_path, "text_tfidf") as again:
        pass
    assert again.final.is_dir() and rundir.root.is_dir()  # the next run does not reuse it
