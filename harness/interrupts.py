"""Ctrl-C that survives native code: an interrupt during a C library call stops the run.

openSMILE runs Python callbacks through ctypes. Python's default SIGINT handler raises
KeyboardInterrupt inside whichever Python frame runs next, here such a callback, where ctypes
prints "Exception ignored" and drops it; the library carries on, returns NaN for that utterance,
and the run would finish as if nothing happened. :func:`deferred_interrupts` installs a SIGINT
handler that first *records* the signal: outside a :func:`native_call` it raises at once as
usual, inside one it only records, and the KeyboardInterrupt is raised when the native call
returns. Whatever swallowed it, a recorded signal is raised again when the guarded block ends, so
its results are never kept (:meth:`harness.cache.Cache.features` computes inside this guard).

Signal handlers belong to the main thread: elsewhere both context managers do nothing. A process
that ignores SIGINT (a background job) keeps ignoring it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _State:
    depth = 0
    """Nesting depth of :func:`deferred_interrupts` (the outermost installs the handler)."""
    native = 0
    """Nesting depth of :func:`native_call`: while positive the handler only records."""
    pending = False
    """A SIGINT arrived inside the outermost guard."""


def _handler(signum, frame) -> None:
    _State.pending = True
    if _State.native == 0:
        raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within the block, a Ctrl-C is never lost; at its end a recorded one is raised."""
    if not _main_thread() or (
        _State.depth == 0
        and signal.getsignal(signal.SIGINT)
        in (
            signal.SIG_IGN,
            None,
        )
    ):
        yield
        return
    outermost = _State.depth == 0
    previous = None
    if outermost:
        _State.pending = False
        previous = signal.signal(signal.SIGINT, _handler)
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if outermost:
            signal.signal(signal.SIGINT, previous)
            _State.native = 0
    if _State.pending:
        if outermost:
            _State.pending = False
        raise KeyboardInterrupt


@contextmanager
def native_call() -> Iterator[None]:
    """Mark a call into native code that runs Python callbacks: a Ctrl-C during it is raised
    as KeyboardInterrupt as soon as it returns (not inside a callback, where it would be lost)."""
    if not _main_thread() or _State.depth == 0:
        yield
        return
    _State.native += 1
    try:
        yield
    finally:
        _State.native -= 1
    if _State.pending:
        raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether a Ctrl-C arrived inside the current :func:`deferred_interrupts` block."""
    return _State.pending
