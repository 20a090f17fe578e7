"""What ``harness validate`` and ``harness score`` read: the file given, its challenge and task,
the ids it must hold, and the labels it is scored against.

Why a module of its own: the CLI's commands only parse options and print, while these rules
(which challenge a header names, which split a submission predicts, what a labels file must
hold) are tested through them and grow with every real file that a researcher scores, apart from
the commands' output.
"""

from __future__ import annotations

from typing import Any

from harness.errors import HarnessError


def expected_ids(options: dict[str, Any], challenge, corpus) -> list[str] | None:
    """Expected ids from ids=FILE (one per line, or a CSV with an id column) or from a corpus."""
    from pathlib import Path

    if options.get("ids"):
        path = Path(str(options["ids"]))
        if not path.exists():
            raise HarnessError(
                "id list not found", file=path, fix="pass ids=FILE with one id per line"
            )
        lines = [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        from harness.data.readers.tables import delimiter_of

        separator = delimiter_of(lines[0]) if lines else ","
        header = [h.strip().lstrip("\ufeff") for h in lines[0].split(separator)] if lines else []
        for column in (challenge.id_column, "id", "FileName"):
            if column in header:
                index = header.index(column)
                return [line.split(separator)[index].strip() for line in lines[1:]]
        return lines
    if corpus is not None:
        manifest = corpus.manifest
        split = options.get("split", challenge.submission_split)
        return manifest.loc[manifest["split"] == split, "id"].tolist()
    return None


def options_corpus(options: dict[str, Any]):
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


def check_file_argument(file: str, command: str, what: str = "FILE") -> None:
    """A ``key=value`` where the file belongs means the file was left out (typer took the first
    option as the file): say so, rather than "file not found"."""
    from pathlib import Path

    if "=" in file and not Path(file).exists():
        noun = "file" if what == "FILE" else "run directory"
        raise HarnessError(
            f"no {noun} given: {file} is an option, and harness {command} takes {what} first",
            fix=f"harness {command} {what} {file} ...",
        )


def challenge_and_task(options: dict[str, Any], corpus, file: str) -> tuple[Any, str]:
    """``challenge=``, else the corpus's own challenge (the Spanish demo and EmoSpeech are
    scored for EmoSpeech 2024), else the one whose submission header the file has (an
    ``id,label`` file is EmoSpeech's), else Odyssey 2024. ``task=``, else the task whose
    header the file has, else categorical."""
    from harness import registry
    from harness.challenges import match_submission_header

    header = read_header(file)
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


def split_of_predictions(reference, predictions, path: str) -> str | None:
    """The one split of a labels file that holds every predicted id, so that a Test3 submission
    scored against ``labels_consensus.csv`` (every split) is scored on Test3 alone."""
    names = splits_holding(reference, predictions)
    if len(names) > 1:
        raise HarnessError(
            f"the predicted ids lie in {len(names)} splits of the labels file ({', '.join(names)})",
            file=path,
            fix=f"pass split={names[0]} (or another of them) to score one split",
        )
    return names[0] if names else None


def splits_holding(reference, predictions) -> list[str]:
    """The splits of ``reference`` (a labels file or a manifest) whose rows are predicted."""
    splits = reference.loc[reference["id"].isin(predictions.index), "split"].dropna()
    return sorted(splits.astype(str).unique())


def reference_labels(path: str, challenge, task: str):
    """The gold labels of ``labels=FILE`` with the harness's column names, or one error line."""
    from pathlib import Path

    import pandas as pd

    fix = f"pass labels=<a CSV with {challenge.id_column} (or id) and the {task} labels>"
    if not Path(path).is_file():
        raise HarnessError("labels file not found", file=path, fix=fix)
    try:
        # a labels file saved as TSV or with semicolons (a Spanish-locale spreadsheet) reads too
        from harness.data.readers.tables import delimiter_of

        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            separator = delimiter_of(handle.readline())
        reference = pd.read_csv(
            path, dtype=str, keep_default_na=False, sep=separator, encoding="utf-8-sig"
        )
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


def read_header(file: str) -> list[str] | None:
    """The first line's column names (a UTF-8 byte-order mark dropped), or None if unreadable."""
    try:
        with open(file, encoding="utf-8") as handle:
            return handle.readline().strip().lstrip("\ufeff").split(",")
    except (OSError, UnicodeDecodeError):
        return None


def read_scorable(file: str, challenge, task: str):
    """Predictions (posteriors or attributes) from a predictions CSV or a submission file."""
    import pandas as pd

    problems = challenge.validate_submission(file, task)
    if not problems:
        submission = challenge.read_submission(file, task)
        if task == "categorical":
            onehot = pd.get_dummies(submission["label"]).reindex(
                columns=list(challenge.classes), fill_value=0
            )
            return onehot.astype(float)
        return submission
    header = read_header(file)
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


def scoring_reference(
    options: dict[str, Any], corpus, challenge, task: str, predictions, file: str
):
    """The labelled rows ``file`` is scored against, from ``labels=FILE`` or ``corpus=``, and
    the split they come from (``options["split"]`` is set to it where it was inferred).

    Without ``split=``, the split is the one that holds every predicted id: a Test3 submission
    scored against ``labels_consensus.csv`` (every split) is scored on Test3 alone, and a run's
    ``Development.csv`` on Development. Every labelled id of that split must be predicted.
    """
    if options.get("labels"):
        reference = reference_labels(str(options["labels"]), challenge, task)
        if not options.get("split") and "split" in reference:
            options["split"] = split_of_predictions(reference, predictions, str(options["labels"]))
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
            found = splits_holding(manifest, predictions)
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
    return reference
