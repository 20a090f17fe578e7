"""One look for every progress bar: what it counts, the bar, done of total, and time left.

Why one place: the CLI's loaders, the feature store and the training loops each show a bar, and
they should read alike. ``rich`` is imported only when a bar is built, so importing the engine
stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def rich_bar(description: str, **options: Any):
    """A transient ``rich.progress.Progress`` on standard error (standard output stays for what a
    command prints); ``options`` go to it (``console=``)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        **{"console": Console(stderr=True), **options},
    )


@contextmanager
def counting(description: str, total: int, *, show: bool = True) -> Iterator[Callable[[int], None]]:
    """``advance(n)`` for a bar over ``total`` items, drawn only on a terminal and when ``show``
    (a log file gets no bar frames); otherwise ``advance`` does nothing."""
    import sys

    if not show or total <= 0 or not sys.stderr.isatty():
        yield lambda n: None
        return
    with rich_bar(description) as progress:
        task = progress.add_task("", total=total)
        yield lambda n: progress.advance(task, n)
