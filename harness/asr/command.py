"""``harness transcribe``: turn the command's ``key=value`` options into one transcription job.

Kept out of :mod:`harness.asr.transcribe` so that transcription itself never depends on corpus
loading (corpus loading applies transcripts; the dependency runs one way).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from harness import registry
from harness.asr.transcribe import Progress, main
from harness.config import default_cache_dir
from harness.corpora import load_corpus
from harness.errors import HarnessError

_CLI_KEYS = {"asr", "corpus", "corpus_path", "cache_dir", "lang", "n", "seed", "splits", "split"}
_CLI_KEYS |= {"asr_params", "corpus_options", "progress"}


def cli_main(
    options: dict[str, Any], bars: Callable[[str], Progress] | None = None
) -> dict[str, Any]:
    """``harness transcribe asr=whisper corpus=demo [corpus_path=...] [model=...] [splits=...]``.

    ``options`` are the parsed ``key=value`` overrides. ASR parameters may be given plainly
    (``model=``, ``device=``, ``compute_type=``, ``language=``, ...), as ``asr_params.<name>=`` or as
    an ``asr_params={...}`` mapping; ``lang``/``n``/``seed`` choose the demo corpus.
    """

    from harness.asr.base import check_asr_params
    from harness.checks import check_command_options, nest_corpus_options

    options = dict(options)
    nest_corpus_options(options)
    asr = str(options.get("asr") or "whisper")
    accepted = set(inspect.signature(registry.get("asr", asr).__init__).parameters) - {"self"}
    asr_params = _cli_asr_params(options, accepted)
    check_command_options(
        {k: v for k, v in options.items() if k in _CLI_KEYS}, _CLI_KEYS, "transcribe"
    )
    check_asr_params(asr, asr_params)
    cache_dir = options.get("cache_dir") or default_cache_dir()
    corpus = load_corpus(
        options.get("corpus") or "demo",
        corpus_path=options.get("corpus_path"),
        corpus_options=options.get("corpus_options") or {},
        cache_dir=cache_dir,
        demo={key: options[key] for key in ("lang", "n", "seed") if key in options},
        bars=bars,
    )
    splits = options.get("splits", options.get("split"))
    if isinstance(splits, str):
        splits = [part.strip() for part in splits.split(",") if part.strip()]
    progress = bars(f"transcribing ({asr})") if bars else None
    return main(asr, corpus, asr_params, cache_dir, progress, splits)


def _cli_asr_params(options: dict[str, Any], accepted: set[str]) -> dict[str, Any]:
    params = dict(options.get("asr_params") or {})
    unknown = []
    for key, value in options.items():
        if key.startswith("asr_params."):
            params[key.removeprefix("asr_params.")] = value
        elif key in accepted:
            params[key] = value
        elif key not in _CLI_KEYS:
            unknown.append(key)
    if unknown:
        raise HarnessError(
            f"harness transcribe does not know {', '.join(sorted(unknown))}",
            fix=f"ASR parameters are {', '.join(sorted(accepted))}; corpus options are "
            "corpus=, corpus_path=, lang=, n=, seed=, splits=, cache_dir=",
        )
    return params
