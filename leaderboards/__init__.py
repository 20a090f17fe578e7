"""Leaderboards from run directories, beside the challenges' published results.

Reads ``runs/*/metrics.json`` (and, for paired tests, the saved predictions) and uses
:mod:`scoring`; it never trains anything and never imports torch or the harness, so tables can be
rebuilt anywhere the run directories are copied.
"""

from leaderboards.collect import collect_runs, latest_per_system, read_run
from leaderboards.compare import paired_comparison, read_predictions
from leaderboards.reference import load_reference
from leaderboards.render import (
    DEFAULT_CORPORA,
    leaderboard_frame,
    render_csv,
    render_markdown,
    render_rich,
)

__all__ = [
    "DEFAULT_CORPORA",
    "collect_runs",
    "latest_per_system",
    "leaderboard_frame",
    "load_reference",
    "paired_comparison",
    "read_predictions",
    "read_run",
    "render_csv",
    "render_markdown",
    "render_rich",
]
