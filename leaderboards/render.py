"""Leaderboard tables for the terminal (rich), Markdown (papers, READMEs) and CSV (analysis).

One table per (corpus, challenge, task), best first. Published results are listed beside the runs
only when the runs are on the challenge's own corpus: a score on the synthetic demo corpus next to
the Odyssey winners would invite a comparison that means nothing. Which corpora those are is the
challenge object's to say (``Challenge.corpora``, looked up in the harness registry when a table is
built), so a new challenge needs its module, its registry line and its rows in ``reference.csv``,
and nothing here.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from leaderboards.reference import load_reference

BOARD_COLUMNS: tuple[str, ...] = (
    "corpus",
    "corpus_kind",
    "challenge",
    "task",
    "track",
    "rank",
    "system",
    "members",
    "published",
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
    "split",
    "variant",
    "n",
    "run",
    "created",
    "source",
    "url",
    "submission",
    "delta_best",
    "p_best",
    "sd",
    "seeds",
)
PUBLISHED = "(published)"
_TASK_ORDER = {"categorical": 0, "attributes": 1}
_DETAIL_COLUMNS = {
    "categorical": (("accuracy", "accuracy"), ("uar", "UAR")),
    "attributes": (
        ("ccc_arousal", "CCC aro"),
        ("ccc_valence", "CCC val"),
        ("ccc_dominance", "CCC dom"),
    ),
}


# -- assembling ---------------------------------------------------------------------------------
def challenge_corpora(challenges: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """Challenge name -> the corpus kinds whose runs may stand beside its published results.

    Asked of each registered challenge object (``Challenge.corpora``). The registry is imported
    here, not at module level, so that importing this package stays free of the harness; a
    challenge this installation does not know gets no published rows.
    """
    from harness import registry
    from harness.errors import HarnessError

    result: dict[str, tuple[str, ...]] = {}
    for name in dict.fromkeys(str(c) for c in challenges if not _missing(c)):
        try:
            result[name] = tuple(registry.get("challenges", name).corpora)
        except HarnessError:  # not registered here (e.g. a run from a plug-in not installed)
            result[name] = ()
    return result


def leaderboard_frame(
    runs: pd.DataFrame,
    *,
    corpora: Mapping[str, Sequence[str]] | None = None,
    reference: pd.DataFrame | None = None,
    with_reference: bool = True,
) -> pd.DataFrame:
    """Runs (from :func:`collect_runs`) plus eligible published rows, grouped and ranked.

    ``corpora`` maps a challenge to the corpus kinds whose runs get its published rows; by
    default each challenge object says (:func:`challenge_corpora`). Rows are ordered by group (challenge, task, corpus) and, within a group, best first; ``rank``
    counts every row of its group, published ones included, so a run reads as "would have placed
    third".
    """
    if with_reference and reference is None:
        reference = load_reference()
    if with_reference and corpora is None:
        corpora = challenge_corpora(runs["challenge"])
    corpora = corpora or {}
    groups = []
    keys = ["corpus", "corpus_kind", "challenge", "task", "track"]
    if "track" not in runs:
        runs = runs.assign(track=None)
    runs = runs.assign(track=runs["track"].replace("", None))
    for key, group in runs.groupby(keys, dropna=False, sort=False):
        corpus, kind, challenge, task, track = (None if _missing(k) else k for k in key)
        board = group.assign(published=False, source=None, url=None)
        declared = group["official"].dropna() if "official" in group else group.iloc[:0, 0]
        official = bool(declared.astype(bool).all()) if len(declared) else True
        comparable = kind in tuple(corpora.get(challenge, ())) and official
        if with_reference and reference is not None and comparable:
            published = _published_rows(reference, challenge, task, set(group["metric"]), track)
            if len(published):
                published = published.assign(corpus=corpus, corpus_kind=kind, track=track)
                board = pd.concat([board, published], ignore_index=True)
        board = board.sort_values(
            ["value", "published", "created"],
            ascending=[False, True, True],
            na_position="last",
            kind="stable",
        )
        board["rank"] = range(1, len(board) + 1)
        sort_key = (str(challenge), _TASK_ORDER.get(task, 9), str(task), str(track), str(corpus))
        groups.append((sort_key, board))
    if not groups:
        return pd.DataFrame(columns=list(BOARD_COLUMNS))
    groups.sort(key=lambda item: item[0])
    frame = pd.concat([board for _, board in groups], ignore_index=True)
    return frame.reindex(columns=list(BOARD_COLUMNS))


def _published_rows(
    reference: pd.DataFrame, challenge: Any, task: Any, metrics: set[str], track: Any = None
) -> pd.DataFrame:
    """Published rows of (challenge, task); of the run's track alone when it names one."""
    rows = reference[
        (reference["challenge"] == challenge)
        & (reference["task"] == task)
        & (reference["metric"].isin(metrics))
    ]
    if track is not None and (rows["track"] == track).any():
        rows = rows[rows["track"] == track]
    if rows.empty:
        return pd.DataFrame(columns=list(BOARD_COLUMNS))
    several_tracks = rows["track"].nunique() > 1
    names = [
        f"{row.team} {PUBLISHED[:-1]}, {row.track})"
        if several_tracks and row.track
        else f"{row.team} {PUBLISHED}"
        for row in rows.itertuples(index=False)
    ]
    return pd.DataFrame(
        {
            "challenge": challenge,
            "task": task,
            "system": names,
            "published": True,
            "metric": rows["metric"].to_numpy(),
            "value": rows["value"].to_numpy(dtype=float),
            "split": rows["split"].to_numpy(),
            "source": rows["source"].to_numpy(),
            "url": rows["url"].to_numpy(),
        }
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


# -- formatting ---------------------------------------------------------------------------------
def format_number(value: Any) -> str:
    """4 decimals, or an em dash where there is no number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(number) else f"{number:.4f}"


def format_with_ci(value: Any, low: Any, high: Any) -> str:
    """``0.5123 [0.4800, 0.5400]``; the interval is left out when the run has none."""
    text = format_number(value)
    if text != "—" and format_number(low) != "—" and format_number(high) != "—":
        text += f" [{format_number(low)}, {format_number(high)}]"
    return text


def _display_tables(
    runs: pd.DataFrame, **kwargs: Any
) -> list[tuple[str, list[str], list[list[str]], list[bool], list[str]]]:
    """(title, header, rows, published flags, notes) per group, shared by rich and Markdown; the
    notes cite the published rows and name the submission of a run ranked on a stand-in split."""
    board = leaderboard_frame(runs, **kwargs)
    tables = []
    groups = board.groupby(["challenge", "task", "track", "corpus"], dropna=False, sort=False)
    for _, group in groups:
        first = group.iloc[0]
        task = str(first["task"])
        metric = str(first["metric"])
        kind = "" if _missing(first["corpus_kind"]) else f" ({first['corpus_kind']})"
        several = (board["challenge"] == first["challenge"]) & (board["task"] == task)
        track = first["track"]
        shown_task = (
            f"{task} · {track}"
            if not _missing(track) and board.loc[several, "track"].nunique() > 1
            else task
        )
        title = f"{first['challenge']} · {shown_task} · {first['corpus']}{kind}"
        details = _DETAIL_COLUMNS.get(task, ())
        averaged = "seeds" in group and group["seeds"].notna().any()
        score = f"{metric} mean ± sd (seeds)" if averaged else f"{metric} [CI]"
        header = ["#", "system", score, "raw", *(label for _, label in details)]
        paired = "delta_best" in group and group["delta_best"].notna().any()
        if paired:  # harness leaderboard paired=true: each run against the table's best
            header.append("vs #1 (paired p)")
        header += ["split", "run"]
        rows, flags = [], []
        for row in group.itertuples(index=False):
            published = bool(row.published)
            split = "" if _missing(row.split) else str(row.split)
            if not published and not _missing(row.variant):
                split = f"{split}/{row.variant}"
            rows.append(
                [
                    str(row.rank),
                    _system_label(row),
                    _score_cell(row),
                    format_number(row.raw_value),
                    *(format_number(getattr(row, column)) for column, _ in details),
                    *([_paired_cell(row)] if paired else []),
                    split,
                    "" if _missing(row.run) else str(row.run),
                ]
            )
            flags.append(published)
        notes = []
        for row in group[group["published"].astype(bool)].itertuples(index=False):
            cite = f"{row.source} {row.url}".strip() if not _missing(row.url) else row.source
            if f"Published: {cite}" not in notes:
                notes.append(f"Published: {cite}")
        for row in group[~group["published"].astype(bool)].itertuples(index=False):
            # A run ranked on a stand-in split: say where the file for the real one is.
            if "unlabelled" in str(row.split) and not _missing(getattr(row, "submission", None)):
                notes.append(f"Submission of {row.run} ({row.split}): {row.submission}")
        tables.append((title, header, rows, flags, notes))
    return tables


# -- renderers ----------------------------------------------------------------------------------
def render_markdown(runs: pd.DataFrame, **kwargs: Any) -> str:
    """GitHub-flavoured Markdown, one ``###`` section per table, sources under each."""
    tables = _display_tables(runs, **kwargs)
    if not tables:
        return "No complete runs found.\n"
    parts = []
    for title, header, rows, _, notes in tables:
        lines = [f"### {title}", "", _md_row(header), _md_row(["---"] * len(header))]
        lines += [_md_row(row) for row in rows]
        if notes:
            lines.append("")
            lines += notes
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def render_rich(runs: pd.DataFrame, **kwargs: Any):
    """A rich renderable (print it with ``rich.console.Console().print``)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    tables = _display_tables(runs, **kwargs)
    if not tables:
        return Text("No complete runs found.")
    renderables = []
    for title, header, rows, flags, notes in tables:
        caption = "\n".join(notes) or None
        table = Table(title=title, caption=caption, caption_justify="left")
        numeric = {0, *range(2, len(header) - 2)}  # rank and scores; not system, split, run
        for i, name in enumerate(header):
            table.add_column(name, justify="right" if i in numeric else "left")
        for row, published in zip(rows, flags):
            table.add_row(*row, style="dim italic" if published else None)
        renderables.append(table)
    return Group(*renderables)


def render_csv(runs: pd.DataFrame, path: str | os.PathLike | None = None, **kwargs: Any) -> str:
    """The full-precision leaderboard as CSV text; also written (atomically) to ``path`` if given."""
    board = leaderboard_frame(runs, **kwargs).copy()
    board["created"] = [
        "" if pd.isna(stamp) else pd.Timestamp(stamp).isoformat() for stamp in board["created"]
    ]
    text = board.to_csv(index=False, float_format="%.10g")
    if path is not None:
        _write_atomic(Path(path), text)
    return text


def _write_atomic(path: Path, text: str) -> None:
    """A reader never sees half a leaderboard (same rule as the run directories)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _score_cell(row: Any) -> str:
    """``0.5123 [0.4800, 0.5400]`` for a run; ``0.5123 ± 0.0150 (3)`` for a mean over seeds
    (``harness leaderboard seeds=true``), whose sd is left out for a single seed."""
    seeds = getattr(row, "seeds", None)
    if _missing(seeds):
        return format_with_ci(row.value, row.ci_low, row.ci_high)
    sd = getattr(row, "sd", None)
    spread = "" if _missing(sd) else f" ± {format_number(sd)}"
    return f"{format_number(row.value)}{spread} ({int(seeds)})"


def _paired_cell(row: Any) -> str:
    """``-0.0368 (p=0.042)``: the run's difference to the best run of its table and the paired
    bootstrap's p-value; empty for the best run, published rows and runs that cannot be paired."""
    delta, p_value = getattr(row, "delta_best", None), getattr(row, "p_best", None)
    if _missing(delta) or _missing(p_value):
        return ""
    return f"{float(delta):+.4f} (p={float(p_value):.3f})"


def _system_label(row: Any) -> str:
    """The system name, with the members a fusion combines."""
    members = getattr(row, "members", None)
    if _missing(members) or not str(members):
        return str(row.system)
    return f"{row.system} ({str(members).replace(',', ' + ')})"
