"""Check every key and value of a resolved run config before a corpus is built or a model trained.

A typo found after an hour of training costs an hour; found here it costs one line. Each error
names the key and a ``fix:`` that works when pasted.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from harness import registry
from harness.errors import HarnessError
from harness.params import (
    Rule,
    check_param_values,
    choice,
    either,
    flag,
    integer,
    is_number,
    items,
    mapping,
    optional,
    slip_fix,
    text,
)

TARGET_PRIORS = ("auto", "uniform", "train", "none")
TASKS = ("categorical", "attributes")


RUN_RULES = {
    "seed": integer(ge=0),
    "devbal_n": integer(ge=1),
    "bootstrap": integer(ge=0),
    "force": flag(),
    "progress": flag(),
    "tasks": optional(either(choice(*TASKS), items(choice(*TASKS)))),
    "track": optional(Rule(text().accepts, "a track name such as auto, task1 or task2")),
    "demo": mapping(lang=choice("en", "es"), n=integer(ge=40), seed=integer(ge=0)),
}
"""What the run's own keys accept (``defaults.yaml`` gives each fix's value); the system's
parameters, corpus options and ASR settings have their own rules."""


def check_run_config(config: dict[str, Any]) -> None:
    """Raise one HarnessError for the first bad key or value."""
    from harness.config import defaults

    shown = {k: config[k] for k in RUN_RULES if config.get(k) is not None}
    check_param_values("harness run", RUN_RULES, shown, defaults())
    check_target_prior(config.get("target_prior", "auto"))
    _asr(config.get("asr"), config.get("asr_params"))
    check_corpus_options(config)
    _demo_challenge(config)
    _member_params(config)
    writable_dir(config.get("output_dir") or "runs", "output_dir")
    if config.get("cache_dir"):
        writable_dir(config["cache_dir"], "cache_dir")
    else:
        from harness.config import default_cache_dir

        writable_dir(default_cache_dir(), "cache_dir")


COMMAND_OPTION_RULES = {
    **dict.fromkeys(
        ("challenge", "task", "ids", "corpus", "corpus_path", "labels", "cache_dir", "out"),
        text(),
    ),
    **dict.fromkeys(("asr", "runs"), text()),
    **dict.fromkeys(
        ("split", "splits"),
        Rule(either(text(), items(text())).accepts, "a split name or a list of them"),
    ),
    "lang": choice("en", "es"),
    "n": integer(ge=1),
    "seed": integer(ge=0),
    "bootstrap": integer(ge=0),
    "format": choice("rich", "markdown", "md", "csv"),
    "all": flag(),
    "paired": flag(),
    "seeds": flag(),
    "progress": flag(),
}
"""What each option of ``validate``, ``score``, ``leaderboard``, ``transcribe`` and ``data demo``
accepts."""
COMMAND_OPTION_EXAMPLES = {
    "lang": "en", "n": 1000, "seed": 0, "bootstrap": 1000, "format": "rich", "all": False, "paired": False,
    "seeds": False, "progress": True, "splits": ["Train", "Development"],
}  # fmt: skip
"""What a ``fix:`` offers for a bad option value (the commands' defaults)."""


def nest_corpus_options(options: dict[str, Any]) -> None:
    """Gather ``corpus_options.<key>=`` options into ``options["corpus_options"]`` (in place),
    the mapping ``harness run`` gets from its config."""
    for key in [k for k in options if k.startswith("corpus_options.")]:
        options.setdefault("corpus_options", {})[key.partition(".")[2]] = options.pop(key)


def check_command_options(options: dict[str, Any], known: set[str], command: str) -> None:
    """Unknown options and bad values of a ``harness <command>``, one line each, before any
    corpus is read (``corpus_options.<key>=`` options nested first, in place)."""
    nest_corpus_options(options)
    unknown = sorted(set(options) - known)
    if unknown:
        raise HarnessError(
            f"harness {command} has no option {', '.join(map(repr, unknown))}",
            fix=slip_fix(
                unknown,
                known,
                options,
                "valid options: " + ", ".join(f"{k}=..." for k in sorted(known)),
            ),
        )
    check_param_values(f"harness {command}", COMMAND_OPTION_RULES, options, COMMAND_OPTION_EXAMPLES)
    if "corpus_options" in options:
        check_corpus_options({"corpus": options.get("corpus"), **options})


def check_target_prior(value: Any, n_classes: int | None = None) -> None:
    if isinstance(value, str) and value.lower() in TARGET_PRIORS:
        return
    if value is None:
        return
    if isinstance(value, list | tuple) and value and all(is_number(v) for v in value):
        if any(float(v) <= 0 for v in value):
            raise HarnessError(
                f"target_prior={list(value)} has a weight that is not positive",
                fix="give one positive weight per scored class, e.g. target_prior=uniform",
            )
        if n_classes is not None and len(value) != n_classes:
            raise HarnessError(
                f"target_prior has {len(value)} weights but the challenge scores {n_classes} classes",
                fix=f"give {n_classes} weights in the challenge's class order, or target_prior=auto",
            )
        return
    raise HarnessError(
        f"target_prior={value!r} is not a prior",
        fix="use target_prior=auto (the challenge's evaluation prior), uniform, train, none, "
        "or one weight per class: target_prior=[w1,w2,...]",
    )


def writable_dir(path: str | os.PathLike, key: str) -> None:
    """Prove a directory can be created (or written) at ``path`` without creating it: the
    nearest existing ancestor must be a writable directory."""
    if not isinstance(path, str | os.PathLike):
        raise HarnessError(f"{key}={path!r} is not a folder", fix=f"pass {key}=DIR")
    directory = Path(path).expanduser().absolute()
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    problem = None
    if not probe.is_dir():
        problem = f"{probe} is a file, not a directory"
    elif not os.access(probe, os.W_OK | os.X_OK):
        problem = f"{probe} is read-only"
    if problem:
        raise HarnessError(
            f"{key} is not writable ({problem})",
            file=directory,
            fix=f"pass {key}=DIR with a directory you can write to",
        )


def _asr(value: Any, params: Any = None) -> None:
    if value in (None, False, "none", "auto", "reference"):
        backend = "whisper" if value == "auto" else None  # auto only ever picks Whisper
    elif not isinstance(value, str) or value not in registry.names("asr"):
        raise HarnessError(
            f"asr={value!r} is not an ASR back-end",
            fix=f"pass asr=none, asr=auto or one of asr={', asr='.join(registry.names('asr'))}",
        )
    else:
        backend = value
    if params in (None, {}):
        return
    if not isinstance(params, dict):
        raise HarnessError(
            f"asr_params={params!r} is not a mapping",
            fix="set them one by one: asr_params.beam_size=5",
        )
    if backend is not None:
        from harness.asr.base import check_asr_params

        check_asr_params(backend, params)


def reader_options(corpus: str) -> set[str]:
    """Keyword options the corpus reader takes (what ``corpus_options.*`` may set)."""
    loader = registry.get("corpora", corpus)
    parameters = inspect.signature(loader).parameters.values()
    skip = {"path", "root", "cache_dir", "progress", "lang", "n", "seed"}
    return {
        p.name
        for p in list(parameters)[1:]
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in skip
    }


def check_corpus_options(config: dict[str, Any]) -> None:
    """Unknown ``corpus_options`` keys and values the reader's rules refuse, in one line."""
    options = config.get("corpus_options") or {}
    if not isinstance(options, dict):
        raise HarnessError(
            f"corpus_options={options!r} is not a mapping",
            fix="set options one by one: corpus_options.check_audio=false",
        )
    corpus = config.get("corpus") or "demo"
    registry.target("corpora", corpus)
    known = reader_options(corpus)
    unknown = sorted(set(options) - known)
    if unknown:
        raise HarnessError(
            f"corpus {corpus!r} has no option {', '.join(map(repr, unknown))}",
            fix=slip_fix(
                unknown,
                known,
                options,
                "valid options: " + ", ".join(f"corpus_options.{k}=..." for k in sorted(known))
                if known
                else f"corpus {corpus!r} takes no corpus_options",
                lambda key: f"corpus_options.{key}",
            ),
        )
    loader = registry.get("corpora", corpus)
    defaults = {
        p.name: p.default
        for p in inspect.signature(loader).parameters.values()
        if p.default is not p.empty
    }
    check_param_values(
        f"corpus {corpus}",
        getattr(loader, "option_rules", {}),
        options,
        defaults,
        prefix="corpus_options.",
    )


DEMO_LAYOUTS = {"en": "msp_podcast", "es": "emospeech"}
"""The layout each demo language is written in (and so the challenges that can score it)."""


def _demo_challenge(config: dict[str, Any]) -> None:
    """``challenge=`` must score the demo's layout; a real corpus's reader checks this itself,
    but the demo was read for its own challenge and then failed on the first label."""
    name = config.get("challenge")
    if not name or (config.get("corpus") or "demo") != "demo":
        return
    challenge = registry.get("challenges", name)
    lang = (config.get("demo") or {}).get("lang", "en")
    if challenge.corpora and DEMO_LAYOUTS[lang] not in challenge.corpora:
        fits = [k for k, layout in DEMO_LAYOUTS.items() if layout in challenge.corpora]
        raise HarnessError(
            f"challenge {name} is not scored on the {lang} demo "
            f"(written in the {DEMO_LAYOUTS[lang]} layout)",
            fix="".join(f"pass demo.lang={k}, or " for k in fits[:1]) + "leave challenge= out",
        )


def _member_params(config: dict[str, Any]) -> None:
    from harness.config import member_label, member_name

    member_params = config.get("member_params") or {}
    if not isinstance(member_params, dict):
        raise HarnessError(
            "member_params is not a mapping", fix="set member_params.<member>.<param>=value"
        )
    members = config.get("members") or []
    known = {member_label(m) for m in members} | {member_name(m) for m in members}
    unknown = sorted(set(member_params) - known)
    if unknown:
        raise HarnessError(
            f"member_params names {', '.join(map(repr, unknown))}, which is not a member of this fusion",
            fix=f"members are {', '.join(sorted(known)) or 'none'}: member_params.<member>.<param>=value",
        )
    for member, params in member_params.items():
        if not isinstance(params, dict):
            raise HarnessError(
                f"member_params.{member}={params!r} is not a mapping of parameters",
                fix=f"set them one by one: member_params.{member}.<param>=value",
            )
