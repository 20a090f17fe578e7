"""A loaded corpus: its Manifest plus what the runner and the leaderboard need to know about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Corpus:
    manifest: pd.DataFrame
    """All splits, in Manifest form (see :mod:`harness.data.manifest`)."""
    name: str
    """Stable identifier used to group runs in leaderboards, e.g. ``demo-en-n1000-s0``."""
    kind: str
    """Registry name of the reader (``demo``, ``msp_podcast``, ``emospeech``, ``meacorpus``)."""
    challenge: str
    """Registry name of the challenge whose classes and formats apply."""
    root: Path | None = None
    info: dict = field(default_factory=dict)
    """Free-form facts worth recording with a run (transcript source, counts of empty texts, ...)."""
    official: bool = False
    """Whether this is the corpus the challenge's published results were scored on (identified by
    its shape, not assumed from its layout): only then are its runs shown beside them."""
