"""One module per challenge. A new challenge (e.g. Interspeech 2025 MSP-Podcast) is a new module
with a ``CHALLENGE`` object, one line in :mod:`harness.registry` and its published rows in
``leaderboards/reference.csv``."""

from __future__ import annotations


def match_submission_header(header: list[str]) -> tuple[str, str] | None:
    """The one registered (challenge, task) whose submission header this is; else the one whose
    columns it has in another order (so that the check then names the right order); else None.
    ``harness validate`` and ``harness score`` use it when no ``challenge=`` or ``task=`` is
    given: an ``id,label`` file is EmoSpeech's, ``FileName,EmoClass`` Odyssey's."""
    from harness import registry

    exact, reordered = [], []
    for name in registry.names("challenges"):
        challenge = registry.get("challenges", name)
        for task in challenge.tasks:
            columns = challenge.submission_columns(task)
            if header == columns:
                exact.append((name, task))
            elif sorted(header) == sorted(columns):
                reordered.append((name, task))
    for matches in (exact, reordered):
        if len(matches) == 1:
            return matches[0]
    return None
