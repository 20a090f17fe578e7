"""What the commands print: a run's summary, ``harness check``'s plan, a paired comparison of
two runs, the system catalogue.

Why a module of its own: the commands in :mod:`harness.cli` parse options and call the engine;
how a result reads on a terminal (escaped so that rich markup never eats a ``[...]`` in a path
or a message, paths never broken across lines so that they copy whole) is decided here, once.
rich is imported on first use, so the CLI still starts without it.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any


def escape(text: str) -> str:
    """User text (paths, fixes like ``pip install 'ser-harness[asr]'``) must not be read as rich
    markup, which would silently delete anything in square brackets."""
    from rich.markup import escape

    return escape(str(text))


def make_console(stderr: bool = False):
    """A rich console that prints user text as written: no ``:name:`` emoji codes (a YAML
    value such as ``{hidden_layers:-1}`` became a thumbs-down)."""
    from rich.console import Console

    return Console(stderr=stderr, emoji=False)


def print_plan(plan: dict[str, Any]) -> None:
    """``harness check``'s answer: ready, then the splits, each system's cache status, the
    transcripts still to make and each task's submission file (or why there is none)."""
    out = make_console()
    say = functools.partial(out.print, highlight=False, soft_wrap=True)
    ranked = "ranked beside the published results" if plan["official"] else "not the release"
    say(
        f"[bold green]ready[/]: {escape(plan['system'])} on {escape(plan['corpus'])} "
        f"({plan['challenge']}; {ranked})"
    )
    sizes = ", ".join(
        f"{name} {split['n']}" + ("" if split["labelled"] else " (unlabelled)")
        for name, split in plan["splits"].items()
    )
    say(f"splits: {escape(sizes)}; Dev_bal {plan['dev_bal']}")
    pending = plan["pending_transcripts"]
    if pending:
        say(
            f"transcripts: {pending['todo']} of {pending['total']} utterances to transcribe "
            f"with {pending['asr']} first"
        )
    for task, entry in plan["tasks"].items():
        say(
            f"[bold]{task}[/]: ranked on {entry['split']} by {entry['metric']} "
            f"({escape(entry['track'])})"
        )
        for system, status in entry["systems"].items():
            say(f"  {escape(system)}: {status}")
        stacked = entry.get("out_of_fold")
        if stacked:
            say(f"  out-of-fold Train predictions ({stacked['folds']} folds, {stacked['how']}):")
            for system, status in stacked["members"].items():
                say(f"    {escape(system)}: {status}")
        if entry["submission"]:
            say(f"  submission: {escape(entry['submission'])}")
        else:
            note = f" ({escape(entry['submission_note'])})" if entry["submission_note"] else ""
            say(
                f"  [yellow]no submission[/]: the corpus has no {entry['submission_split']} rows, "
                f"the split {plan['challenge']} ranks{note}"
            )
    say(f"run directory: {escape(plan['output_dir'])}/<timestamp>-<system>")


def print_run_summary(path: Path) -> None:
    """Primary and Dev_bal scores; a run whose primary split is unlabelled (MSP-Podcast Test3)
    shows its best labelled split instead, marked as such, beside the submission it wrote."""
    from rich.table import Table

    metrics = json.loads((path / "metrics.json").read_text())
    table = Table(
        title=escape(
            f"{metrics['system']} on {metrics['corpus']['name']} ({metrics['corpus']['challenge']})"
        )
    )
    for column in ("task", "split", "variant", "metric", "value", "95% CI"):
        table.add_column(column)
    for task, spec in metrics["primary"].items():
        rows = [r for r in metrics["results"] if r["task"] == task]
        shown = {spec["split"], "Dev_bal"}
        if not any(r["split"] == spec["split"] for r in rows):
            labelled = [r["split"] for r in rows if r["split"] not in ("Dev_bal",)]
            if labelled:
                shown.add(labelled[-1])
        for result in rows:
            if result["split"] not in shown:
                continue
            value = result["metrics"][spec["metric"]]
            ci = result.get("ci", {}).get(spec["metric"])
            split = result["split"]
            if split != spec["split"] and split != "Dev_bal":
                split += f" ({spec['split']} unlabelled)"
            table.add_row(
                task,
                escape(split),
                escape(result["variant"]),
                spec["metric"],
                f"{value:.4f}",
                f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "",
            )
    out = make_console()
    out.print(table)
    # soft_wrap: a path is never broken with a newline, so it can be copied whole
    out.print(f"run directory: {escape(path)}", highlight=False, soft_wrap=True)
    for task, submission in metrics.get("submissions", {}).items():
        out.print(
            f"submission ({task}): {escape(path / submission)}", highlight=False, soft_wrap=True
        )
    if not metrics.get("submissions"):
        out.print(
            "[yellow]no submission[/]: the corpus has no rows of the split the challenge ranks "
            "(the run's first warning says which)",
            highlight=False,
            soft_wrap=True,
        )


def print_systems(rows: list[dict[str, Any]]) -> None:
    """A system a line and its facts under it: a table's columns were too narrow to read at
    80 columns."""
    out = make_console()
    for row in rows:
        out.print(f"[bold]{row['name']}[/]: {escape(row['description'])}", highlight=False)
        facts = f"tasks: {', '.join(row['tasks'])}; reads: {', '.join(row['reads'])}"
        if row["profiles"]:
            facts += f"; profiles: {', '.join(row['profiles'])}"
        out.print(f"  [dim]{facts}[/]", highlight=False)
    out.print("harness ls NAME: one system's parameters and profiles", highlight=False)


def print_system_card(card: dict[str, Any]) -> None:
    """A system's description, its parameters with the value a run uses and what each accepts,
    and each profile written as the overrides it stands for (so it can be pasted)."""
    from rich.table import Table

    from harness.params import override

    out = make_console()
    out.print(f"[bold]{card['name']}[/]: {escape(card['description'])}", highlight=False)
    out.print(
        f"tasks: {', '.join(card['tasks'])}; reads: {', '.join(card['reads'])}", highlight=False
    )
    if card["members"]:
        out.print(f"members: {escape(override('members', card['members']))}", highlight=False)
    under = f" profile={card['profile']}" if card["profile"] else ""
    table = Table(title=f"parameters (harness run system={card['name']}{under} NAME=VALUE)")
    for column in ("parameter", "value", "accepts"):
        table.add_column(column)
    for param in card["params"]:
        table.add_row(
            param["name"], escape(override("", param["value"])[1:]), escape(param["accepts"])
        )
    out.print(table)
    for profile, values in card["profile_values"].items():
        words = " ".join(override(k, v) for k, v in (values or {}).items())
        out.print(f"profile={profile}: {escape(words)}", highlight=False, soft_wrap=True)


def print_comparison(results: list[dict[str, Any]], *, n_boot: int) -> None:
    """``harness compare``: per task, both runs' scores and A - B with its paired-bootstrap CI
    and p-value, or "no difference" below the precision of the saved predictions."""
    out = make_console()
    for result in results:
        out.print(
            f"[bold]{result['task']}[/] · {escape(str(result['split']))} "
            f"(n={result['n']}) · {result['metric']}",
            highlight=False,
        )
        for side in ("a", "b"):
            out.print(
                f"  {side.upper()} {escape(result[f'run_{side}'])}  {result[f'value_{side}']:.4f}",
                highlight=False,
                soft_wrap=True,
            )
        if result["negligible"]:
            out.print(
                f"  A - B = {result['delta']:+.1e}: no difference (below the precision of the "
                "saved predictions)",
                highlight=False,
            )
            continue
        out.print(
            f"  A - B = {result['delta']:+.4f}  95% CI [{result['ci_low']:+.4f}, "
            f"{result['ci_high']:+.4f}]  p = {result['p_value']:.3f}  "
            f"(paired bootstrap, {n_boot} resamples)",
            highlight=False,
        )
