"""Name -> "module:object" for systems, challenges, corpora and ASR back-ends.

Like lm-evaluation-harness, names map to import strings, and nothing is imported until a name is
used, so ``harness ls`` and ``harness --help`` stay fast even though systems pull in torch.
Third-party packages add entries through the entry-point groups ``harness.systems``,
``harness.challenges``, ``harness.corpora`` and ``harness.asr``.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.errors import HarnessError, did_you_mean

KINDS = ("systems", "challenges", "corpora", "asr")
_SINGULAR = {
    "systems": "system",
    "challenges": "challenge",
    "corpora": "corpus",
    "asr": "ASR back-end",
}

_BUILTIN: dict[str, dict[str, str]] = {
    "systems": {
        "text_tfidf": "systems.text_tfidf:TextTfidf",
        "audio_egemaps": "systems.audio_egemaps:AudioEgemaps",
        "fusion_interp": "systems.fusion:FusionInterp",
        "fusion_lr": "systems.fusion:FusionLR",
        "audio_w2vbert": "systems.audio_w2vbert:AudioW2VBert",
        "audio_sonar": "systems.audio_sonar:AudioSonar",
        "text_llm": "systems.text_llm:TextLLM",
        "text_roberta": "systems.text_llm:TextRoberta",
        "audio_embed": "systems.audio_embed:AudioEmbed",
        "text_embed": "systems.text_embed:TextEmbed",
        "multimodal_attnpool": "systems.multimodal_attnpool:MultimodalAttnPool",
    },
    "challenges": {
        "odyssey2024": "harness.challenges.odyssey2024:CHALLENGE",
        "emospeech2024": "harness.challenges.emospeech2024:CHALLENGE",
    },
    "corpora": {
        "demo": "harness.data.demo:load_demo_corpus",
        "msp_podcast": "harness.data.readers:read_msp_podcast",
        "emospeech": "harness.data.readers:read_emospeech",
        "meacorpus": "harness.data.readers:read_meacorpus",
    },
    "asr": {
        "whisper": "harness.asr.whisper:WhisperASR",
        "canary": "harness.asr.canary:CanaryASR",
    },
}
_EXTRA: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
_entry_points_loaded = False


def register(kind: str, name: str, target: str) -> None:
    """Add ``name`` -> ``"module:object"`` (for plug-ins that are not installed as packages)."""
    _check_kind(kind)
    _EXTRA[kind][name] = target


def names(kind: str) -> list[str]:
    return sorted(_table(kind))


def target(kind: str, name: str) -> str:
    table = _table(kind)
    if not isinstance(name, str) or name not in table:
        meant = did_you_mean(name, table) if isinstance(name, str) else None
        raise HarnessError(
            f"unknown {_SINGULAR[kind]} {name!r}" + (f": did you mean {meant!r}?" if meant else ""),
            fix=f"choose one of {', '.join(sorted(table))} (see `harness ls`)",
        )
    return table[name]


def get(kind: str, name: str) -> Any:
    """Import and return the object registered as ``name``."""
    module_name, _, attribute = target(kind, name).partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def _table(kind: str) -> dict[str, str]:
    _check_kind(kind)
    _load_entry_points()
    return {**_BUILTIN[kind], **_EXTRA[kind]}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r}")


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for kind in KINDS:
        for entry in entry_points(group=f"harness.{kind}"):
            _EXTRA[kind].setdefault(entry.name, entry.value)
