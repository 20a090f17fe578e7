"""One module per challenge. A new challenge (e.g. Interspeech 2025 MSP-Podcast) is a new module
with a ``CHALLENGE`` object, one line in :mod:`harness.registry` and its published rows in
``leaderboards/reference.csv``."""
