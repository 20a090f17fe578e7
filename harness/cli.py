"""The ``harness`` command line.

Only typer and :mod:`harness.views` (which imports rich when it first prints) are imported at
start-up; every command imports what it needs when it runs, so ``harness --help`` answers
instantly even though systems use torch. Errors the user can fix are
printed as one line (``error: <file>: row N: <what> (fix: <how>)``) with exit status 2.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import typer

from harness.views import escape as _escape
from harness.views import make_console as _console

HELP_MARKUP = None
"""Help texts are plain text, not rich markup: rich reads ``[all=true]`` in a usage line as a
style tag and deletes it, so every optional key in the commands' help went missing."""
app = typer.Typer(
    help="Speech emotion recognition challenge harness: train, fuse, score, submit, compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=HELP_MARKUP,
)
data_app = typer.Typer(help="Corpus utilities.", no_args_is_help=True, rich_markup_mode=HELP_MARKUP)
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

    Every argument is a key=value override, its value read as YAML (epochs=2, members=[a,b],
    target_prior=none); the defaults and their meaning are in harness/defaults.yaml, and the
    fully resolved configuration is saved as the run's config.yaml.

    \b
    What to run:
      system=NAME               a registered system (harness ls), e.g. fusion_lr
      profile=NAME              one of the system's YAML profiles (auto: demo on the demo corpus)
      members=[A,B,...]         a fusion's members, e.g. [text_tfidf,audio_egemaps]
      member_params.M.P=V       parameter P of member M
      P=V or params.P=V         any parameter of the system, e.g. backbone=/models/w2v-bert-2.0
      tasks=[categorical]       which tasks (default: all the system and challenge share)
      track=auto                EmoSpeech: task1 (text) or task2 (multimodal)
    \b
    What to run it on:
      corpus=NAME               demo, msp_podcast, emospeech or meacorpus
      corpus_path=DIR           the real corpus's folder
      corpus_options.K=V        reader options, e.g. corpus_options.check_audio=false
      demo.lang=en|es demo.n=1000 demo.seed=0    the synthetic demo corpus
      challenge=NAME            another registered challenge than the corpus's own
      asr=auto|whisper|canary|none  asr_params.K=V    transcription before text systems
    \b
    How to run it:
      seed=0 devbal_n=300 target_prior=auto bootstrap=1000
      output_dir=runs cache_dir=DIR force=false progress=true

    Example: harness run system=fusion_lr profile=light corpus=msp_podcast corpus_path=/data/MSP
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
    from harness.views import print_run_summary

    print_run_summary(path)


@app.command(context_settings=EXTRA)
@_friendly
def check(ctx: typer.Context, verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Check a run without running it: the same keys as harness run.

    Every check harness run makes before it trains (parameters, local weights, corpus, audio,
    transcripts, Dev_bal, tasks and tracks), then what the run would do: its splits, each
    system to fit and whether its predictions are cached, how many utterances still need a
    transcript, and the submission files it would write. Nothing is trained, transcribed or
    written to output_dir. Exit 0: harness run with the same keys gets past every check.

    Example: harness check system=fusion_lr profile=light corpus=msp_podcast corpus_path=/data/MSP
    """
    from harness.config import resolve
    from harness.preparation import prepare, run_plan

    _setup_logging(verbose)
    config = resolve(_overrides(ctx))
    plan = run_plan(
        prepare(config, bars=_Bar if config.get("progress", True) else None, transcribe=False)
    )
    from harness.views import print_plan

    print_plan(plan)


@app.command(name="ls", context_settings=EXTRA)
@_friendly
def list_registry(
    ctx: typer.Context,
    what: str = typer.Argument(None, metavar="[systems|NAME]", help="a kind, or a system's name"),
) -> None:
    """List registered systems, challenges, corpora and ASR back-ends.

    harness ls systems: what each system does, its tasks, what it reads and its profiles.
    harness ls NAME [profile=P]: one system's parameters, the value a run uses (under profile
    P) and what each accepts, and its profiles as the overrides they stand for.
    """
    from harness import registry

    console = _console()
    if what is None:
        for kind in registry.KINDS:
            console.print(f"[bold]{kind}[/]: " + ", ".join(registry.names(kind)))
        return
    from harness import catalog

    if catalog.check_name(what) == "systems":
        from harness.views import print_systems

        print_systems(catalog.systems_overview())
    elif what in registry.KINDS:
        console.print(f"[bold]{what}[/]: " + ", ".join(registry.names(what)))
    else:
        options = _overrides(ctx)
        _check_keys(options, {"profile"}, "ls")
        from harness.views import print_system_card

        print_system_card(catalog.system_card(what, options.get("profile")))


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
        _console().print(f"demo corpus written to {_escape(path)}", highlight=False, soft_wrap=True)
        return
    from harness.data.demo import load_demo_corpus

    cache_dir = options.pop("cache_dir", None) or default_cache_dir()
    corpus = load_demo_corpus(None, cache_dir=cache_dir, progress=_Bar("synthesising"), **options)
    counts = corpus.manifest.groupby("split")["id"].count().to_dict()
    _console().print(
        f"demo corpus {corpus.name} at {_escape(corpus.root)}: {counts}",
        highlight=False,
        soft_wrap=True,
    )


VALIDATE_KEYS = {
    "challenge", "task", "ids", "corpus", "corpus_path", "corpus_options", "split", "lang", "n",
    "seed", "cache_dir",
}  # fmt: skip
SCORE_KEYS = VALIDATE_KEYS | {"labels", "bootstrap"}
DEMO_KEYS = {"lang", "seed", "n", "cache_dir", "out"}
LEADERBOARD_KEYS = {"runs", "format", "out", "all", "paired", "bootstrap", "seeds"}


def _check_keys(options: dict[str, Any], known: set[str], command: str) -> None:
    from harness.checks import check_command_options

    check_command_options(options, known, command)


@app.command(context_settings=EXTRA)
@_friendly
def validate(
    ctx: typer.Context, file: str = typer.Argument(..., metavar="FILE", help="submission CSV")
) -> None:
    """Check a submission file: challenge=odyssey2024 task=categorical|attributes [ids=FILE | corpus=NAME]."""
    from harness import submission_inputs as inputs

    inputs.check_file_argument(file, "validate")
    options = _overrides(ctx)
    _check_keys(options, VALIDATE_KEYS, "validate")
    corpus = inputs.options_corpus(options)
    challenge, task = inputs.challenge_and_task(options, corpus, file)
    expected = inputs.expected_ids(options, challenge, corpus)
    problems = challenge.validate_submission(file, task, expected)
    console = _console()
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/] {_escape(problem)}", highlight=False, soft_wrap=True)
        console.print(
            f"[bold red]{len(problems)} problem(s)[/]: {_escape(file)} is NOT a valid "
            f"{challenge.name} {task} submission",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if expected is None:
        console.print(
            f"[green]✓[/] {_escape(file)} is a well-formed {challenge.name} {task} submission; "
            "completeness was NOT checked (pass ids=FILE or corpus=NAME to check every id is there)",
            highlight=False,
            soft_wrap=True,
        )
        return
    console.print(
        f"[green]✓[/] {_escape(file)} is a valid {challenge.name} {task} submission "
        f"against {len(expected)} expected ids",
        highlight=False,
        soft_wrap=True,
    )


@app.command(context_settings=EXTRA)
@_friendly
def score(
    ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE", help="submission or predictions CSV"),
) -> None:
    """Score a submission or predictions file against labels.

    harness score FILE challenge=odyssey2024 task=categorical (corpus=demo [split=Test3] | labels=FILE)
    """
    from harness import submission_inputs as inputs
    from harness.evaluate import score_split

    inputs.check_file_argument(file, "score")
    options = _overrides(ctx)
    _check_keys(options, SCORE_KEYS, "score")
    corpus = inputs.options_corpus(options)
    challenge, task = inputs.challenge_and_task(options, corpus, file)
    predictions = inputs.read_scorable(file, challenge, task)
    reference = inputs.scoring_reference(options, corpus, challenge, task, predictions, file)
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


@app.command(context_settings=EXTRA)
@_friendly
def leaderboard(ctx: typer.Context) -> None:
    """Tabulate run directories per corpus and task, best first: runs=runs format=rich|markdown|csv [out=FILE] [all=true] [paired=true [bootstrap=1000]] [seeds=true].

    seeds=true: one row per configuration, the mean and standard deviation of its score over
    the run seeds it was run with (seed=0, seed=1, ...; each seed's latest run).
    """
    from pathlib import Path

    import leaderboards
    from harness.checks import writable_dir
    from harness.errors import HarnessError
    from harness.io import write_text

    options = _overrides(ctx)
    _check_keys(options, LEADERBOARD_KEYS, "leaderboard")
    if options.get("seeds", False) and options.get("paired", False):
        raise HarnessError(
            "paired=true compares single runs, seeds=true averages them",
            fix="pass one of paired=true or seeds=true",
        )
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
    if options.get("seeds", False):
        table = leaderboards.over_seeds(leaderboards.collect_runs(runs_dir, latest_only=False))
    else:
        table = leaderboards.collect_runs(runs_dir, latest_only=not options.get("all", False))
    if options.get("paired", False):
        from harness.run_comparison import paired_with_best

        table = paired_with_best(table, n_boot=int(options.get("bootstrap", 1000)))
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
def compare(
    ctx: typer.Context,
    run_a: str = typer.Argument(..., metavar="RUN_A", help="run directory A"),
    run_b: str = typer.Argument(..., metavar="RUN_B", help="run directory B"),
) -> None:
    """Paired bootstrap of run A against run B on the split they rank: [task=...] [split=...] [bootstrap=1000] [seed=0]."""
    from harness.errors import HarnessError
    from harness.run_comparison import compare_runs
    from harness.submission_inputs import check_file_argument

    check_file_argument(run_a, "compare", "RUN_A RUN_B")
    check_file_argument(run_b, "compare", "RUN_A RUN_B")
    options = _overrides(ctx)
    _check_keys(options, {"task", "split", "bootstrap", "seed"}, "compare")
    if int(options.get("bootstrap", 1000)) < 1:
        raise HarnessError(
            "a paired comparison needs resamples: bootstrap=0", fix="pass bootstrap=1000"
        )
    results = compare_runs(
        run_a,
        run_b,
        task=options.get("task"),
        split=options.get("split"),
        n_boot=int(options.get("bootstrap", 1000)),
        seed=int(options.get("seed", 0)),
    )
    from harness.views import print_comparison

    print_comparison(results, n_boot=int(options.get("bootstrap", 1000)))


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
        console.print(f"{key}: {_escape(value)}", highlight=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
