"""One look for every progress bar: what it counts, the bar, done of total, and time left.

Why one place: the CLI's loaders, the feature store and the training loops each show a bar, and
they should read alike. ``rich`` is imported only when a bar is built, so importing the engine
stays fast.
"""

from __future__ import annotations

from typing import Any


def rich_bar(description: str, **options: Any):
    """A transient ``rich.progress.Progress``; ``options`` go to it (``console=``)."""
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
        **options,
    )
