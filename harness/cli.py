"""The ``harness`` command line.

Only typer is imported at start-up; every command imports what it needs when it runs, so
``harness --help`` answers instantly even though systems use torch. Errors the user can fix are
printed as one line (``error: <file>: row N: <what> (fix: <how>)``) with exit status 2.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import typer

app = typer.Typer(
    help="Speech emotion recognition challenge harness: train, fuse, score, submit, compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Corpus utilities.", no_args_is_help=True)
app.add_typer(data_app, name="data")
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def _friendly(function: Callable) -> Callable:
    """Turn HarnessError into one line and exit 2; Ctrl-C into a note on resuming."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from harness.errors import HarnessError

        try:
            return function(*args, **kwargs)
        except HarnessError as error:
            _console(stderr=True).print(
                f"[bold red]error:[/] {_escape(str(error))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            _console(stderr=True).print(
                "[yellow]interrupted:[/] finished members are cached and training checkpoints kept; "
                "the unfinished run directory is hidden as .<name>.partial. Re-run the same command to resume."
            )
            raise typer.Exit(130) from None

    return wrapper


def _escape(text: str) -> str:
    """User text (paths, fixes like ``pip install 'ser-harness[asr]'``) must not be read as rich
    markup, which would silently delete anything in square brackets."""
    from rich.markup import escape

    return escape(str(text))


def _console(stderr: bool = False):
    """A rich console that prints user text as written: no ``:name:`` emoji codes (a YAML
    value such as ``{hidden_layers:-1}`` became a thumbs-down)."""
    from rich.console import Console

    return Console(stderr=stderr, emoji=False)


def _setup_logging(verbose: bool = False) -> None:
    import logging

    from rich.logging import RichHandler

    handler = RichHandler(
        console=_console(stderr=True),
        show_path=False,
        show_time=False,
        markup=False,
        rich_tracebacks=False,
    )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[handler],
        force=True,
    )
    for noisy in (
        "httpx",
        "urllib3",
        "filelock",
        "transformers",
        "accelerate",
        "faster_whisper",
        "numba",
        "matplotlib",
        "peft",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not sys.stderr.isatty():
        # transformers' own tqdm bar ("Loading weights") would write its frames into the log.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class _Bar:
    """A rich progress bar exposed as the ``progress(done, total)`` callable that loaders take."""

    def __init__(self, description: str) -> None:
        from harness.progress import rich_bar

        self.progress = rich_bar(description, console=_console(stderr=True))
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.progress.console.is_terminal:
            return  # a log file: rich would leave a blank line where the bar was
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("", total=total)
        self.progress.update(self.task, completed=done, total=total)
        if done >= total:
            self.progress.stop()
            self.task = None


def _overrides(ctx: typer.Context, args: list[str] | None = None) -> dict[str, Any]:
    from harness.config import parse_overrides

    return parse_overrides([*(args or []), *ctx.args])


@app.command(context_settings=EXTRA)
@_friendly
def run(ctx: typer.Context, verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Train/fuse a system, tune on Dev_bal, predict, score and write a run directory.

    Example: harness run system=fusion_lr   (more key=value overrides may follow)
    """
    from harness.config import resolve
    from harness.runner import run as run_config

    _setup_logging(verbose)
    config = resolve(_overrides(ctx))
    path = run_config(
        config,
        bars=_Bar if config.get("progress", True) else None,
        argv=sys.argv,
    )
    _print_run_summary(path)


def _print_run_summary(path) -> None:
    """Primary and Dev_bal scores; a run whose primary split is unlabelled (MSP-Podcast Test3)
    shows its best labelled split instead, marked as such, beside the submission it wrote."""
    import json

    from rich.table import Table

    metrics = json.loads((path / "metrics.json").read_text())
    table = Table(
        title=_escape(
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
                _escape(split),
                _escape(result["variant"]),
                spec["metric"],
                f"{value:.4f}",
                f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "",
            )
    console = _console()
    console.print(table)
    console.print(f"run directory: {_escape(path)}", highlight=False)
    for task, submission in metrics.get("submissions", {}).items():
        console.print(f"submission ({task}): {_escape(path / submission)}", highlight=False)


@app.command(name="ls")
def list_registry() -> None:
    """List registered systems, challenges, corpora and ASR back-ends."""
    from harness import registry

    console = _console()
    for kind in registry.KINDS:
        console.print(f"[bold]{kind}[/]: " + ", ".join(registry.names(kind)))


@data_app.command(context_settings=EXTRA)
@_friendly
def demo(ctx: typer.Context) -> None:
    """Build (or find in the cache) the synthetic demo corpus: lang=en|es seed=0 n=1000 [out=DIR]."""
    from pathlib import Path

    from harness.config import default_cache_dir

    _setup_logging()
    options = _overrides(ctx)
    out = options.pop("out", None)
    _check_keys({**options, **({"out": out} if out else {})}, DEMO_KEYS, "data demo")
    if out:
        from harness.data.demo import build_demo_corpus

        path = build_demo_corpus(
            Path(out),
            lang=options.get("lang", "en"),
            n=int(options.get("n", 1000)),
            seed=int(options.get("seed", 0)),
            progress=_Bar("synthesising"),
        )
        _console().print(f"demo corpus written to {path}")
        return
    from harness.data.demo import load_demo_corpus

    cache_dir = options.pop("cache_dir", None) or default_cache_dir()
    corpus = load_demo_corpus(None, cache_dir=cache_dir, progress=_Bar("synthesising"), **options)
    counts = corpus.manifest.groupby("split")["id"].count().to_dict()
    _console().print(f"demo corpus {corpus.name} at {corpus.root}: {counts}")


VALIDATE_KEYS = {
    "challenge", "task", "ids", "corpus", "corpus_path", "corpus_options", "split", "lang", "n",
    "seed", "cache_dir",
}  # fmt: skip
SCORE_KEYS = VALIDATE_KEYS | {"labels", "bootstrap"}
DEMO_KEYS = {"lang", "seed", "n", "cache_dir", "out"}


def _check_keys(options: dict[str, Any], known: set[str], command: str) -> None:
    from harness.checks import check_command_options

    check_command_options(options, known, command)


@app.command(context_settings=EXTRA)
@_friendly
def validate(ctx: typer.Context, file: str = typer.Argument(..., help="submission CSV")) -> None:
    """Check a submission file: challenge=odyssey2024 task=categorical|attributes [ids=FILE | corpus=NAME]."""

    _check_file_argument(file, "validate")
    options = _overrides(ctx)
    _check_keys(options, VALIDATE_KEYS, "validate")
    corpus = _options_corpus(options)
    challenge, task = _challenge_and_task(options, corpus, file)
    expected = _expected_ids(options, challenge, corpus)
    problems = challenge.validate_submission(file, task, expected)
    console = _console()
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/] {_escape(problem)}", highlight=False, soft_wrap=True)
        console.print(
            f"[bold red]{len(problems)} problem(s)[/]: {_escape(file)} is NOT a valid "
            f"{challenge.name} {task} submission",
            highlight=False,
        )
        raise typer.Exit(1)
    if expected is None:
        console.print(
            f"[green]✓[/] {_escape(file)} is a well-formed {challenge.name} {task} submission; "
            "completeness was NOT checked (pass ids=FILE or corpus=NAME to check every id is there)",
            highlight=False,
        )
        return
    console.print(
        f"[green]✓[/] {_escape(file)} is a valid {challenge.name} {task} submission "
        f"against {len(expected)} expected ids",
        highlight=False,
    )


def _expected_ids(options: dict[str, Any], challenge, corpus) -> list[str] | None:
    """Expected ids from ids=FILE (one per line, or a CSV with an id column) or from a corpus."""
    from pathlib import Path

    if options.get("ids"):
        path = Path(str(options["ids"]))
        if not path.exists():
            from harness.errors import HarnessError

            raise HarnessError(
                "id list not found", file=path, fix="pass ids=FILE with one id per line"
            )
        lines = [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        header = lines[0].split(",") if lines else []
        for column in (challenge.id_column, "id", "FileName"):
            if column in header:
                index = header.index(column)
                return [line.split(",")[index] for line in lines[1:]]
        return lines
    if corpus is not None:
        manifest = corpus.manifest
        split = options.get("split", challenge.submission_split)
        return manifest.loc[manifest["split"] == split, "id"].tolist()
    return None


def _options_corpus(options: dict[str, Any]):
    """The corpus ``corpus=`` names (read once), or None when the command is not given one."""
    from harness import registry
    from harness.corpora import load_corpus

    if options.get("challenge"):
        registry.target("challenges", str(options["challenge"]))  # before any corpus is read
    if not options.get("corpus") or options.get("labels"):
        return None

    return load_corpus(
        options["corpus"],
        corpus_path=options.get("corpus_path"),
        corpus_options=options.get("corpus_options"),
        cache_dir=options.get("cache_dir"),
        demo={k: options[k] for k in ("lang", "n", "seed") if k in options},
    )


def _check_file_argument(file: str, command: str) -> None:
    """A ``key=value`` where the file belongs means the file was left out (typer took the first
    option as the file): say so, rather than "file not found"."""
    from pathlib import Path

    from harness.errors import HarnessError

    if "=" in file and not Path(file).exists():
        raise HarnessError(
            f"no file given: {file} is an option, and harness {command} takes the file first",
            fix=f"harness {command} FILE {file} ...",
        )


def _challenge_and_task(options: dict[str, Any], corpus, file: str) -> tuple[Any, str]:
    """``challenge=``, else the corpus's own challenge (the Spanish demo and EmoSpeech are
    scored for EmoSpeech 2024), else the one whose submission header the file has (an
    ``id,label`` file is EmoSpeech's), else Odyssey 2024. ``task=``, else the task whose
    header the file has, else categorical."""
    from harness import registry
    from harness.challenges import match_submission_header

    header = _header(file)
    by_header = match_submission_header([c.strip() for c in header]) if header else None
    if options.get("challenge"):
        name = str(options["challenge"])
    elif corpus is not None:
        name = corpus.challenge
    else:
        name = by_header[0] if by_header else "odyssey2024"
    task = options.get("task")
    if task is None:
        task = by_header[1] if by_header and by_header[0] == name else "categorical"
    return registry.get("challenges", name), task


@app.command(context_settings=EXTRA)
@_friendly
def score(
    ctx: typer.Context, file: str = typer.Argument(..., help="submission or predictions CSV")
) -> None:
    """Score a submission or predictions file against labels.

    harness score FILE challenge=odyssey2024 task=categorical (corpus=demo [split=Test3] | labels=FILE)
    """

    from harness.errors import HarnessError
    from harness.evaluate import score_split

    _check_file_argument(file, "score")
    options = _overrides(ctx)
    _check_keys(options, SCORE_KEYS, "score")
    corpus = _options_corpus(options)
    challenge, task = _challenge_and_task(options, corpus, file)
    predictions = _read_scorable(file, challenge, task)
    if options.get("labels"):
        reference = _reference_labels(str(options["labels"]), challenge, task)
        if not options.get("split") and "split" in reference:
            options["split"] = _split_of_predictions(reference, predictions, str(options["labels"]))
        if options.get("split"):
            if "split" not in reference:
                raise HarnessError(
                    f"split={options['split']} given but the labels file has no split column",
                    file=str(options["labels"]),
                    fix="drop split= or pass a labels file with a Split_Set (or split) column",
                )
            reference = reference[reference["split"] == str(options["split"])]
            if reference.empty:
                raise HarnessError(
                    f"no labelled row of split {options['split']!r}",
                    file=str(options["labels"]),
                    fix="pass split= with a split name that the labels file holds",
                )
    elif corpus is not None:
        manifest = corpus.manifest
        if not options.get("split"):  # Development.csv of a run is scored on Development
            found = _splits_holding(manifest, predictions)
            options["split"] = found[0] if len(found) == 1 else challenge.submission_split
        reference = manifest[manifest["split"] == options["split"]]
    else:
        raise HarnessError("no reference labels", fix="pass labels=FILE or corpus=NAME [split=...]")
    if task == "categorical":
        reference = reference[reference["label"].isin(challenge.classes)]
    missing = sorted(set(reference["id"]) - set(predictions.index))
    if missing:
        where = f" of split {options['split']}" if options.get("split") else ""
        raise HarnessError(
            f"{len(missing)} labelled ids{where} have no prediction, e.g. {missing[:3]}",
            file=file,
            fix="predict every utterance of the split, or pass split= the split the file predicts",
        )
    result = score_split(
        predictions,
        reference,
        task,
        challenge.classes,
        int(options.get("bootstrap", 1000)),
        int(options.get("seed", 0)),
    )
    console = _console()
    metric = challenge.primary_metric(task)
    ci = result["ci"].get(metric)
    console.print(
        f"{metric} = {result['metrics'][metric]:.4f}"
        + (f"  95% CI [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
        + f"  (n={len(reference)}"
        + (f", split {options['split']}" if options.get("split") else "")
        + ")"
    )
    for key, value in result["metrics"].items():
        if isinstance(value, float) and key != metric:
            console.print(f"{key} = {value:.4f}")


def _split_of_predictions(reference, predictions, path: str) -> str | None:
    """The one split of a labels file that holds every predicted id, so that a Test3 submission
    scored against ``labels_consensus.csv`` (every split) is scored on Test3 alone."""
    from harness.errors import HarnessError

    names = _splits_holding(reference, predictions)
    if len(names) > 1:
        raise HarnessError(
            f"the predicted ids lie in {len(names)} splits of the labels file ({', '.join(names)})",
            file=path,
            fix=f"pass split={names[0]} (or another of them) to score one split",
        )
    return names[0] if names else None


def _splits_holding(reference, predictions) -> list[str]:
    """The splits of ``reference`` (a labels file or a manifest) whose rows are predicted."""
    splits = reference.loc[reference["id"].isin(predictions.index), "split"].dropna()
    return sorted(splits.astype(str).unique())


def _reference_labels(path: str, challenge, task: str):
    """The gold labels of ``labels=FILE`` with the harness's column names, or one error line."""
    from pathlib import Path

    import pandas as pd

    from harness.errors import HarnessError

    fix = f"pass labels=<a CSV with {challenge.id_column} (or id) and the {task} labels>"
    if not Path(path).is_file():
        raise HarnessError("labels file not found", file=path, fix=fix)
    try:
        reference = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read the labels file ({exc})", file=path, fix=fix) from None
    written = {  # how the file names each attribute column, for the messages
        k: v if v in reference else k for k, v in challenge.attribute_columns.items()
    }
    reference = reference.rename(
        columns={
            challenge.id_column: "id",
            challenge.label_column: "label",
            "Split_Set": "split",
            **{v: k for k, v in challenge.attribute_columns.items()},
        }
    )
    needed = ["id", "label"] if task == "categorical" else ["id", *challenge.attribute_columns]
    missing = [c for c in needed if c not in reference]
    if missing:
        raise HarnessError(
            f"the labels file has no {', '.join(missing)} column (its columns: "
            f"{', '.join(map(str, reference.columns))})",
            file=path,
            fix=fix,
        )
    if task == "attributes":
        for column in challenge.attribute_columns:
            values = pd.to_numeric(reference[column], errors="coerce")
            bad = values.isna() & (reference[column].str.strip() != "")
            if bad.any():
                row = int(bad.to_numpy().argmax())
                raise HarnessError(
                    f"{written[column]}={reference[column].iloc[row]!r} is not a number",
                    file=path,
                    row=row + 2,  # the header is line 1
                    fix=f"write a number in the {written[column]} column of that row, "
                    "or leave it empty",
                )
            reference[column] = values
    return reference


def _header(file: str) -> list[str] | None:
    try:
        with open(file, encoding="utf-8") as handle:
            return handle.readline().strip().lstrip("\ufeff").split(",")
    except (OSError, UnicodeDecodeError):
        return None


def _read_scorable(file: str, challenge, task: str):
    """Predictions (posteriors or attributes) from a predictions CSV or a submission file."""
    import pandas as pd

    from harness.errors import HarnessError

    problems = challenge.validate_submission(file, task)
    if not problems:
        submission = challenge.read_submission(file, task)
        if task == "categorical":
            onehot = pd.get_dummies(submission["label"]).reindex(
                columns=list(challenge.classes), fill_value=0
            )
            return onehot.astype(float)
        return submission
    header = _header(file)
    if header == challenge.submission_columns(task):
        raise HarnessError(
            problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
            fix=f"`harness validate {file} challenge={challenge.name} task={task}` lists them all",
        )
    try:
        frame = pd.read_csv(file, dtype={"id": str}).set_index("id")
    except (FileNotFoundError, ValueError, KeyError):
        raise HarnessError(
            problems[0], fix="pass a submission or a predictions CSV with an id column"
        ) from None
    expected = (
        list(challenge.classes) if task == "categorical" else ["arousal", "valence", "dominance"]
    )
    if list(frame.columns) != expected:
        raise HarnessError(
            f"columns {list(frame.columns)} are neither a submission nor predictions",
            file=file,
            fix=f"predictions need id,{','.join(expected)}",
        )
    from harness.data.predictions import check_file

    check_file(frame, task, challenge.classes, challenge.attribute_range, file)
    return frame


@app.command(context_settings=EXTRA)
@_friendly
def leaderboard(ctx: typer.Context) -> None:
    """Tabulate run directories per corpus and task, best first: runs=runs format=rich|markdown|csv [out=FILE] [all=true]."""
    from pathlib import Path

    import leaderboards
    from harness.checks import writable_dir
    from harness.errors import HarnessError
    from harness.io import write_text

    options = _overrides(ctx)
    _check_keys(options, {"runs", "format", "out", "all"}, "leaderboard")
    fmt = options.get("format", "rich")
    if options.get("out"):
        writable_dir(Path(str(options["out"])).parent, "out")
        if Path(str(options["out"])).is_dir():
            raise HarnessError(
                "out= is a directory",
                file=options["out"],
                fix="pass out=FILE, e.g. out=leaderboard.md",
            )
    runs_dir = Path(str(options.get("runs", "runs")))
    if not runs_dir.is_dir():
        raise HarnessError(
            "no runs directory",
            file=runs_dir,
            fix="run `harness run system=...` first or pass runs=DIR",
        )
    table = leaderboards.collect_runs(runs_dir, latest_only=not options.get("all", False))
    if fmt == "rich":
        _console().print(leaderboards.render_rich(table))
        return
    text = (
        leaderboards.render_markdown(table)
        if fmt in ("markdown", "md")
        else leaderboards.render_csv(table)
    )
    if options.get("out"):
        write_text(str(options["out"]), text)
    else:
        sys.stdout.write(text)


@app.command(context_settings=EXTRA)
@_friendly
def transcribe(ctx: typer.Context) -> None:
    """Transcribe a corpus with one ASR model: asr=whisper|canary corpus=demo [corpus_path=...] [model=...]."""
    from harness.asr.command import cli_main

    _setup_logging()
    options = _overrides(ctx)
    summary = cli_main(options, bars=_Bar)
    console = _console()
    for key, value in summary.items():
        console.print(f"{key}: {value}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
