"""fit -> tune on Dev_bal -> predict -> score -> write the run directory. Orchestration only.

The runner knows challenges and corpora, never a particular system: it reaches systems through
the registry and talks to them only through the contracts in :mod:`harness.system`. Each step
lives in its own module: :mod:`harness.corpora` (corpus + ASR), :mod:`harness.splits`
(Dev_bal), :mod:`harness.members` (fitting and caching), :mod:`harness.evaluate` (variants and
scores) and :mod:`harness.rundir` (the files). Its rules keep results honest:

* systems train on Train; Dev_bal (balanced, from Development) is their only tuning data, and the
  only data a fusion is fit on;
* evaluation labels, where a corpus has them, are used for scoring alone;
* what is scored is exactly what is submitted.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.cache import Cache, MemberOutput
from harness.config import member_label
from harness.evaluate import (
    output_variants,
    primary_split,
    run_target,
    score_variants,
    target_report,
)
from harness.members import fit_fusion, fit_member, is_fusion
from harness.preparation import prepare
from harness.prior import absent_classes
from harness.rundir import RunDirectory, now_utc, run_directory
from harness.splits import Splits

log = logging.getLogger("harness")


def run(config: dict[str, Any], *, bars=None, argv: list[str] | None = None) -> Path:
    """Execute one resolved config and return the completed run directory."""
    started = time.perf_counter()
    prepared = prepare(config, bars=bars)
    corpus, challenge, splits = prepared.corpus, prepared.challenge, prepared.splits
    tasks, tracks, cache = prepared.tasks, prepared.tracks, prepared.cache
    modalities = prepared.modalities
    seed = int(config.get("seed", 0))
    results: list[dict[str, Any]] = []
    primary: dict[str, Any] = {}
    reports: dict[str, Any] = {}
    submissions: dict[str, Any] = {}
    with run_directory(config.get("output_dir") or "runs", config["system"]) as rundir:
        log.info(
            "run %s: system %s on %s (%s), tasks %s",
            rundir.name,
            config["system"],
            corpus.name,
            challenge.name,
            ", ".join(tasks),
        )
        rundir.write_config({k: v for k, v in config.items() if k != "system_tasks"})
        rundir.write_environment(seed, argv)
        for task in tasks:
            output, reports[task] = _fit(config, corpus, splits, task, challenge, cache, seed)
            variants, main = _variants(output, config, challenge, splits, task, extra=True)
            n_boot = int(config.get("bootstrap", 0) or 0)
            results += score_variants(variants, splits, task, challenge.classes, n_boot, seed)
            primary[task] = {
                "split": primary_split(challenge, splits),
                "variant": main,
                "metric": challenge.primary_metric(task),
                "track": tracks[task].title,
            }
            submissions.update(
                _write_outputs(rundir, variants[main], task, tracks[task], challenge, splits)
            )
        rundir.write_metrics(
            _metrics(config, rundir, corpus, challenge, splits, modalities, seed, started)
            | {
                "results": results,
                "primary": primary,
                "report": reports,
                "submissions": submissions,
            }
        )
        _log_audio_report()
        log.info("run %s finished in %.1f s", rundir.name, time.perf_counter() - started)
    return rundir.final


def _metrics(config, rundir, corpus, challenge, splits, modalities, seed, started) -> dict:
    """What metrics.json says about the run besides its results: what ran, on what, how."""
    return {
        "system": config["system"],
        "label": config.get("label") or config["system"],
        "run": rundir.name,
        "created": now_utc(),
        "seed": seed,
        "corpus": {
            "name": corpus.name,
            "kind": corpus.kind,
            "official": corpus.official,
            "challenge": challenge.name,
            "info": corpus.info,
        },
        "members": [member_label(m) for m in config.get("members") or []],
        "modalities": list(modalities),
        "target_prior": target_report(config, challenge, splits),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _log_audio_report() -> None:
    """Once per run, what the audio loader changed: stereo averaged to mono, truncated WAVs."""
    from harness.data.audio import audio_report

    report = audio_report()
    if report.get("multichannel"):
        log.warning(
            "%d multi-channel files were averaged to mono, first: %s",
            report["multichannel"],
            report.get("first_multichannel"),
        )
    for key, what in (
        ("truncated", "WAV files were cut short"),
        ("cancelled", "files became nearly silent when averaged to mono"),
    ):
        if report.get(key):
            log.warning("%d %s (named in the log above)", report[key], what)


def _fit(config, corpus, splits: Splits, task: str, challenge, cache: Cache, seed: int):
    """The system's output for every scored row, and its report for metrics.json."""
    if not is_fusion(config):
        output = fit_member(config, corpus, splits, task, challenge, cache)
        return output, output.report
    output, members = fit_fusion(config, corpus, splits, task, challenge, cache)
    return output, {
        **output.report,
        "member_scores": _member_scores(members, splits, task, challenge, config, seed),
    }


def _write_outputs(
    rundir: RunDirectory, chosen, task: str, track, challenge, splits: Splits
) -> dict:
    """Per-split predictions, and the validated submission when its split is present."""
    for split_name, frame in splits.scored().items():
        rundir.write_predictions(task, split_name, chosen.loc[frame["id"].tolist()])
    if challenge.submission_split not in splits.evaluation:
        return {}
    ids = splits.evaluation[challenge.submission_split]["id"].tolist()
    path = (
        rundir.root
        / "submissions"
        / challenge.submission_name(task, track, challenge.submission_split)
    )
    challenge.write_submission(chosen.loc[ids], task, path, expected_ids=ids)
    return {task: rundir.relative(path)}


def _variants(output: MemberOutput, config, challenge, splits: Splits, task: str, *, extra: bool):
    """``raw``, ``prior`` and (with ``extra``) the system's own variants, as submitted."""
    return output_variants(
        output.predictions,
        task,
        challenge,
        train_prior=None if output.class_prior is None else np.asarray(output.class_prior),
        target=run_target(config, challenge, splits, task),
        absent=absent_classes(splits.train["label"], challenge.classes),
        extra=output.variants if extra else None,
    )


def _member_scores(
    members: dict[str, MemberOutput], splits: Splits, task: str, challenge, config, seed: int
) -> dict[str, Any]:
    """Each member's primary metric on every split, so a fusion run shows what it improved on."""
    metric = challenge.primary_metric(task)
    scores: dict[str, Any] = {}
    for name, output in members.items():
        variants, _ = _variants(output, config, challenge, splits, task, extra=False)
        scores[name] = {
            f"{r['split']}/{r['variant']}": r["metrics"][metric]
            for r in score_variants(variants, splits, task, challenge.classes, 0, seed)
        }
    return scores
