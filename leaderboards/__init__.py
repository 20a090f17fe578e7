"""Leaderboards from run directories, beside the challenges' published results.

Reads ``runs/*/metrics.json`` (and, for paired tests, the saved predictions) and uses
:mod:`scoring`; it never trains anything and never imports torch. The one thing it asks of the
harness is which corpora each challenge is scored on (``Challenge.corpora``, from the registry),
and only when a table with published rows is built, so importing it stays light.
"""

from leaderboards.collect import collect_runs, latest_per_system, over_seeds, read_run
from leaderboards.compare import paired_comparison, read_predictions
from leaderboards.reference import load_reference
from leaderboards.render import (
    challenge_corpora,
    leaderboard_frame,
    render_csv,
    render_markdown,
    render_rich,
)

__all__ = [
    "challenge_corpora",
    "collect_runs",
    "latest_per_system",
    "leaderboard_frame",
    "load_reference",
    "over_seeds",
    "paired_comparison",
    "read_predictions",
    "read_run",
    "render_csv",
    "render_markdown",
    "render_rich",
]
