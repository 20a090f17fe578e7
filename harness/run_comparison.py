"""``harness compare RUN_A RUN_B``: is one run really better than another on the same utterances?

Why: leaderboard gaps of a point or two on a few hundred test utterances are mostly sampling noise
(the demo's bootstrap CIs are about 0.13 wide), and two overlapping CIs do not say whether one
system beats the other, because both were scored on the same utterances. The paired bootstrap
(:func:`leaderboards.compare.paired_comparison`) resamples those utterances once for both runs and
gives the difference its own interval and p-value.

What is compared is exactly what each run ranked: its saved predictions of the split the
leaderboard shows (the variant it submitted), scored against the gold labels of the corpus it was
run on, read again from that corpus as its ``config.yaml`` names it. Two runs on different corpora
are refused: their scores are not over the same utterances. :func:`paired_with_best` does the same
for every run of a leaderboard table against the table's best run (``harness leaderboard
paired=true``).
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError

log = logging.getLogger("harness")
ATTRIBUTES = ("arousal", "valence", "dominance")
PRECISION = 1e-6
"""Score differences below this are rounding in the saved predictions, not a difference."""


def compare_runs(
    run_a: str | os.PathLike,
    run_b: str | os.PathLike,
    *,
    task: str | None = None,
    split: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One paired comparison (A minus B) per task both runs scored, or for ``task`` alone, on
    the split run A ranks (``split`` overrides it)."""
    rows_a, rows_b = _ranked(run_a), _ranked(run_b)
    _check_same_corpus(run_a, run_b, rows_a, rows_b)
    return _compare(run_a, run_b, rows_a, rows_b, task, split, n_boot, seed, corpus=None)


def _compare(run_a, run_b, rows_a, rows_b, task, split, n_boot, seed, corpus):
    """:func:`compare_runs` once the runs are read (``corpus``: run A's, when already loaded)."""
    from leaderboards.compare import paired_comparison

    shared = [t for t in rows_a if t in rows_b]
    if task is not None and task not in shared:
        raise HarnessError(
            f"task={task} is not scored by both runs (both score: {', '.join(shared) or 'none'})",
            fix=f"pass task={shared[0]}" if shared else "compare two runs of one task",
        )
    if not shared:
        raise HarnessError(
            f"the runs share no task ({Path(run_a).name}: {', '.join(rows_a)}; "
            f"{Path(run_b).name}: {', '.join(rows_b)})",
            fix="compare two runs of one task",
        )
    corpus = corpus if corpus is not None else _corpus_of(run_a)
    from harness import registry

    challenge = registry.get("challenges", next(iter(rows_a.values()))["challenge"])
    results = []
    for name in [task] if task else shared:
        chosen = split or rows_a[name]["split"]
        truth = _truth(corpus.manifest, run_a, name, chosen, challenge)
        try:
            result = paired_comparison(
                run_a,
                run_b,
                truth,
                task=name,
                split=chosen,
                labels=list(challenge.classes) if name == "categorical" else None,
                n_boot=n_boot,
                seed=seed,
            )
        except (FileNotFoundError, ValueError) as exc:
            raise HarnessError(str(exc), fix="pass split= a split both runs predicted") from None
        # Predictions are saved with six decimals, and a cached member's with eight significant
        # digits: two runs of one configuration can differ by a unit in the last place, which a
        # bootstrap finds "significant". Such a difference is said to be none.
        negligible = abs(result["delta"]) < PRECISION
        results.append({**result, "task": name, "split": chosen, "negligible": negligible})
    return results


def _ranked(run_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The leaderboard row of each task of a finished run, with the split it ranks."""
    from leaderboards.collect import RunFormatError, read_run

    path = Path(run_dir).expanduser()
    if not (path / "metrics.json").is_file():
        raise HarnessError(
            "not a finished run directory (it has no metrics.json)",
            file=path,
            fix="pass two directories that harness run wrote, e.g. runs/<timestamp>-<system>",
        )
    try:
        rows = read_run(path)
    except RunFormatError as exc:
        raise HarnessError(str(exc), fix="pass a run directory that harness run wrote") from None
    # A split shown as "Test1 (Test3 unlabelled)" is ranked on Test1.
    return {row["task"]: {**row, "split": str(row["split"]).split(" (")[0]} for row in rows}


def _check_same_corpus(run_a, run_b, rows_a, rows_b) -> None:
    corpus_a = next(iter(rows_a.values()), {}).get("corpus")
    corpus_b = next(iter(rows_b.values()), {}).get("corpus")
    if corpus_a != corpus_b:
        raise HarnessError(
            f"{Path(run_a).name} was run on corpus {corpus_a} and {Path(run_b).name} on "
            f"{corpus_b}: their scores are not over the same utterances",
            fix="compare two runs of one corpus (harness leaderboard lists them per corpus)",
        )


def _corpus_of(run_dir: str | os.PathLike):
    """The corpus a run was run on, read again from its config.yaml (labels only: audio headers
    are not checked, and nothing is transcribed)."""
    import yaml

    from harness import registry
    from harness.corpora import load_corpus

    path = Path(run_dir).expanduser() / "config.yaml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise HarnessError(f"cannot read the run's config ({exc})", file=path) from None
    name = config.get("corpus") or "demo"
    options = dict(config.get("corpus_options") or {})
    if "check_audio" in inspect.signature(registry.get("corpora", name)).parameters:
        options["check_audio"] = False
    try:
        return load_corpus(
            name,
            corpus_path=config.get("corpus_path"),
            corpus_options=options,
            demo=config.get("demo"),
            cache_dir=config.get("cache_dir"),
            challenge=config.get("challenge"),
        )
    except HarnessError as error:  # say whose corpus it was: the paths come from config.yaml
        raise HarnessError(
            f"the corpus of {Path(run_dir).name}, as its config.yaml names it: {error.message}",
            file=error.file,
            row=error.row,
            fix=f"make that corpus readable there again, or edit corpus_path in {path}",
        ) from None


def _truth(manifest: pd.DataFrame, run_dir, task: str, split: str, challenge):
    """The gold labels of the utterances run A predicted in ``split`` that are scored: a scored
    class for the categorical task (MSP-Podcast's O and X are not), all three attributes."""
    from leaderboards.compare import read_predictions

    try:
        predicted = read_predictions(run_dir, task, split).index
    except FileNotFoundError as exc:
        raise HarnessError(str(exc), fix="pass split= a split both runs predicted") from None
    rows = manifest.set_index("id").reindex(predicted.astype(str))
    if task == "categorical":
        labels = rows["label"]
        return labels[labels.isin(challenge.classes)].astype(str)
    values = rows[list(ATTRIBUTES)].astype(float)
    return values.dropna()


def paired_with_best(runs: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """``runs`` (from :func:`leaderboards.collect_runs`) with each run's difference to the best
    run of its table and that difference's paired-bootstrap p-value (``delta_best``,
    ``p_best``; empty for the best run itself and where the two cannot be paired).

    The corpus of each table is read once. A table is (corpus, challenge, task, track), as the
    leaderboard draws it.
    """
    import numpy as np

    runs = runs.assign(delta_best=np.nan, p_best=np.nan)
    keys = ["corpus", "challenge", "task", "track"]  # collect_runs' columns; a missing track is NaN
    for _, group in runs.groupby(keys, dropna=False, sort=False):
        if len(group) < 2 or group["value"].isna().all():
            continue
        best = group["value"].idxmax()
        best_path = group.at[best, "path"]
        task = group.at[best, "task"]
        rows_best = _ranked(best_path)
        corpus = None
        for index in group.index.drop(best):
            other = group.at[index, "path"]
            if pd.isna(other) or pd.isna(group.at[index, "value"]):
                continue
            if corpus is None:
                try:
                    corpus = _corpus_of(best_path)
                except HarnessError as error:  # one table unpaired, not the whole board lost
                    log.warning("%s: not paired (%s)", group.at[best, "corpus"], error.message)
                    break
            try:
                result = _compare(
                    best_path, other, rows_best, _ranked(other), task, None, n_boot, seed, corpus
                )[0]
            except HarnessError:  # not the same utterances (another split ranked): no pairing
                continue
            p_value = 1.0 if result["negligible"] else result["p_value"]
            runs.loc[index, ["delta_best", "p_best"]] = (-result["delta"], p_value)
    return runs
