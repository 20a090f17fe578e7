"""Shared fixtures: small demo corpora, built once per test session.

``demo_corpus_small`` (English, MSP-Podcast layout, Odyssey classes) and ``demo_corpus_es_small``
(Spanish, EmoSpeech layout) are real synthesised corpora, so tests of readers, systems and the
runner exercise the same code paths as a full run, at a size that builds in a few seconds.
"""

from __future__ import annotations

import signal

import pytest

SMALL_N = 160
SMALL_N_ES = 120


@pytest.fixture(scope="session", autouse=True)
def _sigint_as_at_a_terminal():
    """Ctrl-C raises KeyboardInterrupt, as in a terminal, however the suite was launched.

    A shell starts a background job (``cmd &``) with SIGINT ignored, and Python then never
    installs its handler; the harness rightly leaves an ignored SIGINT alone, so the tests of
    interrupt handling would test nothing there. They need the handler a user's run has.
    """
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@pytest.fixture(scope="session")
def demo_corpus_small(tmp_path_factory):
    """English demo corpus, n=160, seed 0: Train 96 (with O/X), Development 32, Test3 32."""
    from harness.data.demo import load_demo_corpus

    cache = tmp_path_factory.mktemp("harness-cache")
    return load_demo_corpus(lang="en", n=SMALL_N, seed=0, cache_dir=cache)


@pytest.fixture(scope="session")
def demo_corpus_es_small(tmp_path_factory):
    """Spanish demo corpus, n=120, seed 0: Train/Development carved from train.csv, Test 24."""
    from harness.data.demo import load_demo_corpus

    cache = tmp_path_factory.mktemp("harness-cache-es")
    return load_demo_corpus(lang="es", n=SMALL_N_ES, seed=0, cache_dir=cache)


@pytest.fixture
def bars(monkeypatch):
    """Every progress bar drawn, as ``(what it counts, completed, total)`` when it closes, with
    standard error posing as a terminal (off one, the bars draw nothing)."""
    import sys

    from harness import progress

    drawn: list[tuple[str, float, float | None]] = []
    real = progress.rich_bar

    def recording(description, **options):
        bar = real(description, **options)
        stop = bar.stop

        def record_and_stop():
            drawn.extend((t.description or description, t.completed, t.total) for t in bar.tasks)
            stop()

        bar.stop = record_and_stop
        return bar

    monkeypatch.setattr(progress, "rich_bar", recording)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    return drawn
