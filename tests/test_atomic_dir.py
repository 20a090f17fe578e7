"""Directories built aside and renamed into place: concurrent builds, failed builds, permissions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from harness.io import atomic_dir


def test_two_builds_of_one_directory_at_once_both_complete(tmp_path):
    """Two runs sharing a cache can store the same member at once: the second build used to
    delete the first one's partial directory while it was being written."""
    target = tmp_path / "members" / "key"
    with atomic_dir(target) as first:
        (first / "meta.json").write_text("first")
        with atomic_dir(target) as second:
            assert second != first
            (second / "meta.json").write_text("second")
        assert (first / "meta.json").read_text() == "first"
        (first / "predictions.csv").write_text("id\n")
    assert (target / "meta.json").read_text() == "first"  # the last to finish is in place
    assert (target / "predictions.csv").is_file()
    assert sorted(p.name for p in target.parent.iterdir()) == ["key"]  # nothing left aside


def test_a_failed_build_stays_hidden_until_its_process_has_ended(tmp_path):
    target = tmp_path / "corpus"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError
    assert not target.exists() and tmp.is_dir() and tmp.name.startswith(".corpus.")
    with atomic_dir(target) as again:  # this process is alive: its partial is kept
        (again / "whole").write_text("y")
    assert tmp.is_dir() and (target / "whole").is_file()
    # a partial left by a process that has ended is removed by the next build
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    stale = tmp_path / f".corpus.{socket.gethostname()}-{dead}-abc.partial"
    stale.mkdir()
    other_host = tmp_path / f".corpus.another-host-{dead}-abc.partial"
    other_host.mkdir()
    with atomic_dir(target):
        pass
    assert not stale.exists() and other_host.exists()


def test_a_built_directory_has_the_permissions_of_a_plain_mkdir(tmp_path):
    with atomic_dir(tmp_path / "built"):
        pass
    (tmp_path / "plain").mkdir()
    mode = lambda p: os.stat(p).st_mode & 0o777  # noqa: E731
    assert mode(tmp_path / "built") == mode(tmp_path / "plain")


def test_a_partial_from_another_host_is_removed_only_once_untouched_for_a_week(tmp_path):
    """Another host's process cannot be asked whether it lives: such partials were never
    removed. One untouched for a week is abandoned; a recent one may still be being written."""
    import time

    from harness.io import STALE_PARTIAL_SECONDS

    target = tmp_path / "members" / "key"
    target.parent.mkdir(parents=True)
    old = target.parent / ".key.another-host-12345-abc.partial"
    (old / "variants").mkdir(parents=True)
    (old / "variants" / "prior.csv").write_text("id\n")
    recent = target.parent / ".key.another-host-67890-def.partial"
    recent.mkdir()
    (recent / "predictions.csv").write_text("id\n")
    then = time.time() - STALE_PARTIAL_SECONDS - 60
    for path in (old, old / "variants", old / "variants" / "prior.csv"):
        os.utime(path, (then, then))
    half_old = target.parent / ".key.another-host-24680-ghi.partial"
    half_old.mkdir()
    (half_old / "fresh.csv").write_text("id\n")  # written just now, in an old folder
    os.utime(half_old, (then, then))
    with atomic_dir(target):
        pass
    assert not old.exists()
    assert recent.exists() and half_old.exists()


def test_a_partial_of_a_live_process_on_this_host_is_kept_however_old(tmp_path):
    """The week's rule is for other hosts, whose processes cannot be asked: a build of this
    host that is still running, whatever its files' age, was removed by it."""
    import time

    from harness.io import STALE_PARTIAL_SECONDS

    target = tmp_path / "members" / "key"
    target.parent.mkdir(parents=True)
    live = target.parent / f".key.{socket.gethostname()}-{os.getpid()}-abc.partial"
    live.mkdir()
    (live / "predictions.csv").write_text("id\n")
    then = time.time() - STALE_PARTIAL_SECONDS - 60
    for path in (live, live / "predictions.csv"):
        os.utime(path, (then, then))
    with atomic_dir(target):
        pass
    assert live.exists()
