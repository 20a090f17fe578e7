"""One module per challenge. A new challenge (e.g. Interspeech 2025 MSP-Podcast) is a new module
with a ``CHALLENGE`` object and one line in :mod:`harness.registry`."""
