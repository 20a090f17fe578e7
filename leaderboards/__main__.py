"""``python -m leaderboards [RUNS_DIR] [--format rich|markdown|csv] [--all] [--output FILE]``.

A light entry point (no typer, no torch) for machines that hold copies of run directories.
"""

from __future__ import annotations

import argparse
import sys

from leaderboards.collect import collect_runs
from leaderboards.render import render_csv, render_markdown, render_rich


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leaderboards", description=__doc__)
    parser.add_argument("runs_dir", nargs="?", default="runs")
    parser.add_argument("--format", choices=("rich", "markdown", "csv"), default="rich")
    parser.add_argument("--all", action="store_true", help="every run, not the latest per system")
    parser.add_argument("--no-reference", action="store_true", help="hide published results")
    parser.add_argument("--output", help="write to this file instead of the terminal")
    args = parser.parse_args(argv)
    try:
        runs = collect_runs(args.runs_dir, latest_only=not args.all)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    options = {"with_reference": not args.no_reference}
    if args.format == "csv":
        text = render_csv(runs, path=args.output, **options)
        if not args.output:
            sys.stdout.write(text)
        return 0
    if args.format == "markdown":
        text = render_markdown(runs, **options)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as handle:
                handle.write(text)
        else:
            sys.stdout.write(text)
        return 0
    from rich.console import Console

    Console().print(render_rich(runs, **options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
