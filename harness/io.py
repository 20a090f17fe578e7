"""Atomic file output.

A run can be killed at any moment (Ctrl-C, OOM, a pre-empted node). Every file is written to a
temporary sibling and renamed into place, so a reader sees either the old file, the complete new
file, or nothing; never a truncated file that looks finished.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp creates 0600 files; give the result the permissions a plain open() would.
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(
        path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    )


def write_csv(path: str | os.PathLike, frame, **kwargs) -> Path:
    """Write a pandas DataFrame atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory under a hidden temporary name and rename it into place at the end.

    If the block fails, the partial directory is left under its ``.partial`` name for inspection
    but never under the final name; the next build of the same directory on this machine removes
    it once the process that wrote it has ended.

    Each build has a partial directory of its own (named after its host and process), so two
    processes building the same directory at once, as two runs that share a cache and a member
    can, never write into or delete each other's. The last to finish puts its directory in
    place; a reader sees the old complete directory, the new one, or (for an instant) none.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = f"{socket.gethostname()}-{os.getpid()}"
    _remove_stale_partials(path)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{path.name}.{owner}-", suffix=".partial", dir=path.parent)
    )
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would lock other users out of a shared cache
    yield tmp
    _swap_in(tmp, path)


def _swap_in(tmp: Path, path: Path) -> None:
    """Put ``tmp`` at ``path``, moving a directory already there aside first (a non-empty
    directory cannot be replaced in one rename)."""
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        try:
            os.replace(path, old)
        except FileNotFoundError:  # another build moved it aside first
            pass
    try:
        os.replace(tmp, path)
    except OSError:  # another build put its complete directory there in the meantime
        shutil.rmtree(tmp, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


STALE_PARTIAL_SECONDS = 7 * 24 * 3600
"""A partial build from another host whose files have not changed for a week is abandoned: its
process cannot be asked from here, but no build writes nothing for that long (a build writes its
files as it goes; training checkpoints live in work directories, not in partial builds)."""


def _remove_stale_partials(path: Path) -> None:
    """Partial builds of ``path`` left on this host by processes that have ended, and those of
    any host untouched for :data:`STALE_PARTIAL_SECONDS`."""
    import time

    host = socket.gethostname()
    ours = re.compile(rf"^\.{re.escape(path.name)}\.{re.escape(host)}-(\d+)-.*\.partial$")
    anyone = re.compile(rf"^\.{re.escape(path.name)}\..+-\d+-.*\.partial$")
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        match = ours.match(entry.name)
        if match:  # this host's: its process can be asked, and one alive is never interrupted
            stale = not _alive(int(match.group(1)))
        else:
            stale = bool(anyone.match(entry.name)) and (
                _last_change(entry.path) < time.time() - STALE_PARTIAL_SECONDS
            )
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)


def _last_change(folder: str) -> float:
    """The newest modification time of ``folder`` and everything in it."""
    newest = os.stat(folder).st_mtime
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            try:
                newest = max(newest, os.stat(os.path.join(root, name)).st_mtime)
            except OSError:
                continue
    return newest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
