"""Everything a run does before it trains, shared by ``harness run`` and ``harness check``.

Why one module: ``harness check`` promises that a run with the same keys gets past every check
(parameters, weights, corpus, transcripts, Dev_bal, tasks and tracks); that holds only if both
commands go through the same code, so the runner calls :func:`prepare` and nothing else before
its first ``fit``. ``harness check`` then says what the run would do (which members are already
cached, how many utterances still need a transcript, which submission files it would write)
without training, transcribing or writing a run directory, so a researcher can point the
harness at a real corpus and find every slip in seconds rather than after hours of training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import registry
from harness.cache import Cache
from harness.checks import check_run_config, check_target_prior
from harness.config import default_cache_dir, member_config, member_label, system_modalities
from harness.corpora import (
    check_audio_present,
    check_text_present,
    load_for_run,
    reads_text,
    resolve_asr,
)
from harness.data.corpus import Corpus
from harness.data.manifest import check_labels
from harness.members import (
    check_dev_bal,
    check_params,
    check_ready,
    check_stacking,
    is_fusion,
    resolve_tasks,
)
from harness.prior import absent_classes
from harness.splits import Splits, make_splits

log = logging.getLogger("harness")


@dataclass
class Preparation:
    """What a run is about to train on, and for what."""

    config: dict[str, Any]
    corpus: Corpus
    challenge: Any
    tasks: list[str]
    tracks: dict[str, Any]
    splits: Splits
    cache: Cache
    modalities: tuple[str, ...]
    pending_transcripts: dict[str, Any] = field(default_factory=dict)
    """For ``harness check`` only: ``{"asr", "todo", "total"}`` where the run would still
    transcribe; empty when every transcript it needs is cached (or none is needed)."""


def prepare(config: dict[str, Any], *, bars=None, transcribe: bool = True) -> Preparation:
    """Every check of a run, the corpus (transcribed where a system reads text) and its splits.

    With ``transcribe=False`` nothing is transcribed: where transcripts are missing from the
    cache, the corpus keeps the text it ships and :attr:`Preparation.pending_transcripts` says
    how many the run would make (a run's text checks then wait for the transcripts)."""
    check_run_config(config)
    check_params(config)
    check_ready(config)
    cache = Cache(config.get("cache_dir") or default_cache_dir())
    system_cls = registry.get("systems", config["system"])
    corpus, pending = _corpus(config, bars, transcribe)
    check_audio_present(config, corpus)
    if not pending:
        check_text_present(config, corpus)
    challenge = registry.get("challenges", config.get("challenge") or corpus.challenge)
    check_target_prior(config.get("target_prior", "auto"), len(challenge.classes))
    tasks = resolve_tasks(config, system_cls, challenge)
    modalities = system_modalities(config)
    tracks = {t: challenge.track_for(t, modalities, config.get("track")) for t in tasks}
    seed = int(config.get("seed", 0))
    splits = make_splits(corpus, challenge, int(config.get("devbal_n", 300)), seed)
    check_labels(corpus.manifest, challenge.known_labels(), source=f"corpus {corpus.name}")
    if is_fusion(config):
        check_dev_bal(splits, tasks)
        check_stacking(config, splits, tasks, challenge, cache)
    _warn_without_submission(corpus, challenge, splits)
    absent = absent_classes(splits.train["label"], challenge.classes)
    if absent and "categorical" in tasks:
        log.warning(
            "classes %s have no Train utterance: prior correction leaves them out",
            ", ".join(absent),
        )
    return Preparation(config, corpus, challenge, tasks, tracks, splits, cache, modalities, pending)


def _warn_without_submission(corpus: Corpus, challenge, splits: Splits) -> None:
    """Say before training that a run will write no submission: an MSP-Podcast folder without
    the Test3 audio is scored on Test1/Test2, and nothing else would tell until it finished."""
    split = challenge.submission_split
    if split in splits.evaluation:
        return
    note = corpus.info.get(str(split).lower())
    log.warning(
        "corpus %s has no %s rows, the split %s ranks: the run is scored on its other splits "
        "and writes no submission%s",
        corpus.name,
        split,
        challenge.name,
        f" ({note})" if note else "",
    )


def _corpus(config: dict[str, Any], bars, transcribe: bool) -> tuple[Corpus, dict[str, Any]]:
    """The run's corpus, with ASR text where a system reads transcripts; without
    ``transcribe``, ASR text only where the cache holds every transcript."""
    if transcribe:
        return load_for_run(config, bars), {}
    corpus = load_for_run(config, bars, transcribe=False)
    name = resolve_asr(config.get("asr"), corpus) if reads_text(config) else None
    if not name:
        return corpus, {}
    from harness.asr.transcribe import apply_transcripts, missing_transcripts

    asr_params, cache_dir = config.get("asr_params"), config.get("cache_dir")
    todo = missing_transcripts(corpus, name, asr_params, cache_dir)
    if todo:
        return corpus, {"asr": name, "todo": todo, "total": len(corpus.manifest)}
    return apply_transcripts(corpus, name, asr_params=asr_params, cache_dir=cache_dir), {}


def run_plan(prepared: Preparation) -> dict[str, Any]:
    """What ``harness run`` with the same keys would do, for ``harness check`` to print: the
    splits, the tasks with their ranked split, metric and submission file, each system to fit
    with whether its predictions are cached, and where the run directory would go."""
    from harness.evaluate import primary_split
    from harness.members import member_key

    config, splits, challenge = prepared.config, prepared.splits, prepared.challenge
    output_dir = config.get("output_dir") or "runs"  # checked writable by prepare
    plan: dict[str, Any] = {
        "system": config.get("label") or config["system"],
        "corpus": prepared.corpus.name,
        "official": prepared.corpus.official,
        "challenge": challenge.name,
        "splits": {
            name: {"n": len(frame), "labelled": bool(frame["label"].notna().any())}
            for name, frame in _split_frames(splits).items()
        },
        "dev_bal": len(splits.dev_bal),
        "pending_transcripts": prepared.pending_transcripts,
        "output_dir": str(Path(output_dir).expanduser().absolute()),
        "tasks": {},
    }
    fusion = is_fusion(config)
    fitted = [member_config(config, m) for m in config.get("members") or []] if fusion else []
    for task in prepared.tasks:
        submission_split = challenge.submission_split
        entry: dict[str, Any] = {
            "split": primary_split(challenge, splits),
            "metric": challenge.primary_metric(task),
            "track": prepared.tracks[task].title,
            "submission": challenge.submission_name(task, prepared.tracks[task], submission_split)
            if submission_split in splits.evaluation
            else None,
            "submission_split": submission_split,
            # what the reader found for it (MSP-Podcast: "none found in Audios/ (...)")
            "submission_note": prepared.corpus.info.get(str(submission_split).lower()),
            "systems": {},
        }
        for member in fitted or [config]:
            label = member.get("member_label") or member_label(member["system"])
            if prepared.pending_transcripts and reads_text(member):
                entry["systems"][label] = "to fit (after transcription)"
                continue
            key, _ = member_key(member, prepared.corpus, splits, task, challenge.classes)
            entry["systems"][label] = _status(prepared, key)
        if fusion:
            entry["out_of_fold"] = _out_of_fold_plan(prepared, task)
        plan["tasks"][task] = entry
    return plan


def _status(prepared: Preparation, key: str) -> str:
    cached = prepared.cache.has_member(key) and not prepared.config.get("force")
    return "cached" if cached else "to fit"


def _out_of_fold_plan(prepared: Preparation, task: str) -> dict[str, Any] | None:
    """For a stacked fusion (``stacking=oof``): its folds and, per member that cross-fits,
    whether its out-of-fold Train predictions are cached; None for a fusion fit on Dev_bal."""
    from harness.evaluate import run_target
    from harness.members import build_system, out_of_fold_keys

    config, splits, challenge = prepared.config, prepared.splits, prepared.challenge
    fusion = build_system(config, prepared.cache)
    folds = fusion.cross_fit_folds(task)
    if not folds:
        return None
    target = run_target(config, challenge, splits, task)
    groups = fusion.cross_fit_groups(task)
    keys, how = out_of_fold_keys(
        config, prepared.corpus, splits, task, challenge, target, folds, groups
    )
    members = {
        label: "to fit (after transcription)"
        if prepared.pending_transcripts and reads_text(member)
        else _status(prepared, key)
        for label, (member, key, _payload) in keys.items()
    }
    return {"folds": folds, "how": how, "members": members}


def _split_frames(splits: Splits) -> dict[str, Any]:
    return {"Train": splits.train, "Development": splits.development, **splits.evaluation}
