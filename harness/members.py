"""Fit a system (or take its cached predictions), and fit a fusion on its members' predictions.

Every fitted system's predictions for Development and the evaluation splits are cached under a
content key, so a fusion re-run never retrains a member, and a member shared by two fusions (or
run alone) is trained once. Nothing is cached until the whole member has been fitted and has
predicted: an interrupted fit leaves only its resumable ``<key>.work/`` checkpoints.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness import __version__, registry
from harness.cache import (
    FINGERPRINT_COLUMNS,
    Cache,
    MemberOutput,
    audio_stamp,
    digest,
    frame_fingerprint,
)
from harness.config import member_config, member_label, member_name
from harness.corpora import reads_audio, reads_text
from harness.data import predictions as P
from harness.data.corpus import Corpus
from harness.errors import HarnessError
from harness.evaluate import run_target
from harness.prior import absent_classes, class_prior, correct_frame
from harness.splits import Splits
from harness.system import FusionSystem, System

log = logging.getLogger("harness")

DISPLAY_ONLY_PARAMS = ("progress",)
"""System parameters that change what is shown, never what is predicted: a run that only turns
the bars off reuses the cached predictions."""


def member_key(
    config: dict[str, Any], corpus: Corpus, splits: Splits, task: str, classes
) -> tuple[str, dict]:
    """Content key of one system's predictions: same inputs, same key; any change, a new key.
    The inputs include the source of the system and of the project modules it imports and, for a
    system that reads audio, each audio file's size and modification time."""
    # A system that reads no transcripts runs without ASR when alone (reads_text): leaving
    # `text` out of its fingerprint lets a stand-alone run and a fusion member share one entry.
    from harness.code_digest import source_digest

    text = reads_text(config)
    columns = tuple(c for c in FINGERPRINT_COLUMNS if c != "text" or text)
    payload = {
        "system": config["system"],
        "profile": config.get("profile"),
        "params": {
            k: v for k, v in (config.get("params") or {}).items() if k not in DISPLAY_ONLY_PARAMS
        },
        "task": task,
        "classes": list(classes),
        "corpus": corpus.name,
        "train": frame_fingerprint(splits.train, columns),
        "predicted": frame_fingerprint(splits.predicted(), columns),
        "dev_bal": digest(sorted(splits.dev_bal["id"].tolist())),
        "seed": config.get("seed"),
        "harness": __version__,
        "code": source_digest(registry.get("systems", config["system"]).__module__),
    }
    if reads_audio(config):
        payload["audio"] = audio_stamp(pd.concat([splits.train, splits.predicted()]))
    return digest(payload), payload


def build_system(config: dict[str, Any], cache: Cache, key: str | None = None) -> System:
    """Construct a system from its config; the run's seed fills a ``seed`` parameter left unset."""
    system_cls = registry.get("systems", config["system"])
    params = dict(config.get("params") or {})
    if "seed" in system_cls.param_names() and params.get("seed") is None:
        params["seed"] = int(config.get("seed", 0))
    system = system_cls.from_params(params)
    system.use_workspace(work_dir=cache.work_dir(key) if key else None, cache_dir=cache.root)
    return system


def fit_member(
    config: dict[str, Any], corpus: Corpus, splits: Splits, task: str, challenge, cache: Cache
) -> MemberOutput:
    """Fitted predictions of one (non-fusion) system, from the cache when it has them."""
    name = config.get("member_label") or config["system"]
    key, payload = member_key(config, corpus, splits, task, challenge.classes)
    if not config.get("force"):
        cached = cache.load_member(key)
        if cached is not None:
            log.info("%s/%s: using cached predictions (%s)", name, task, key)
            return cached
    system = build_system(config, cache, key)
    started = time.perf_counter()
    log.info(
        "%s/%s: training on %d utterances (Dev_bal %d)",
        name,
        task,
        len(splits.train),
        len(splits.dev_bal),
    )
    fitted = system.fit(splits.train, splits.dev_bal, task=task, classes=tuple(challenge.classes))
    if fitted is not system:
        raise HarnessError(f"system {config['system']!r}: fit must return self")
    predicted = splits.predicted()
    log.info(
        "%s/%s: trained in %.1f s; predicting %s",
        name,
        task,
        time.perf_counter() - started,
        ", ".join(
            f"{split} {n}" for split, n in predicted["split"].value_counts(sort=False).items()
        ),
    )
    predictions, variants = system.predict_with_variants(predicted)
    P.check(predictions, task, challenge.classes, source=f"{name} predictions")
    prior = system.training_prior() if task == "categorical" else None
    if prior is None and task == "categorical":
        prior = class_prior(splits.train["label"], challenge.classes)
    output = MemberOutput(
        predictions=predictions,
        class_prior=None if prior is None else [float(p) for p in np.asarray(prior)],
        report={**system.report(), "fit_seconds": round(time.perf_counter() - started, 2)},
        variants=variants,
        key=key,
    )
    cache.store_member(key, output, payload, save_model=system.save)
    log.info("%s/%s: fitted in %.1f s", name, task, time.perf_counter() - started)
    return output


def member_inputs(
    config: dict[str, Any],
    corpus: Corpus,
    splits: Splits,
    task: str,
    challenge,
    cache: Cache,
    target: np.ndarray | None,
) -> tuple[dict[str, MemberOutput], dict[str, pd.DataFrame]]:
    """Each member's output, and its predictions as the fusion sees them (prior corrected)."""
    outputs: dict[str, MemberOutput] = {}
    inputs: dict[str, pd.DataFrame] = {}
    absent = absent_classes(splits.train["label"], challenge.classes)
    for spec in config.get("members") or []:
        label = member_label(spec)
        if task not in registry.get("systems", member_name(spec)).tasks:
            raise HarnessError(
                f"fusion member {label!r} does not support task {task!r}",
                fix=f"choose members that support {task} or pass tasks=[...]",
            )
        output = fit_member(member_config(config, spec), corpus, splits, task, challenge, cache)
        outputs[label] = output
        frame = output.predictions
        if target is not None and output.class_prior is not None:
            frame = correct_frame(frame, np.asarray(output.class_prior), target, absent=absent)
        inputs[label] = frame
    return outputs, inputs


def fit_fusion(
    config: dict[str, Any], corpus: Corpus, splits: Splits, task: str, challenge, cache: Cache
) -> tuple[MemberOutput, dict[str, MemberOutput]]:
    """Fit the fusion on its members' Dev_bal predictions and predict every scored row."""
    check_members(config)
    target = run_target(config, challenge, splits, task)
    outputs, inputs = member_inputs(config, corpus, splits, task, challenge, cache, target)
    fusion = build_system(config, cache)
    dev_ids = splits.dev_bal["id"].tolist()
    folds = fusion.cross_fit_folds(task)
    stacking, folds_report = {}, {}
    if folds:
        groups = fusion.cross_fit_groups(task)
        train_predictions, how = out_of_fold_inputs(
            config, corpus, splits, task, challenge, cache, target, folds, groups
        )
        stacking = {"train_member_predictions": train_predictions, "train": splits.train}
        folds_report = {"stacking_folds": f"{folds} folds, {how}"}
    fusion.fit(
        {m: p.loc[dev_ids] for m, p in inputs.items()},
        splits.dev_bal,
        task=task,
        classes=tuple(challenge.classes),
        target_prior=target,
        **stacking,
    )
    predictions, variants = fusion.predict_with_variants(inputs)
    P.check(predictions, task, challenge.classes, source=f"{config['system']} predictions")
    prior = fusion.training_prior()
    return MemberOutput(
        predictions=predictions,
        class_prior=None if prior is None else [float(p) for p in prior],
        report={
            **fusion.report(),
            **folds_report,
            "members": {m: o.key for m, o in outputs.items()},
        },
        variants=variants,
    ), outputs


def out_of_fold_inputs(
    config: dict[str, Any],
    corpus: Corpus,
    splits: Splits,
    task: str,
    challenge,
    cache: Cache,
    target: np.ndarray | None,
    folds: int,
    groups: str | None = None,
) -> tuple[dict[str, pd.DataFrame], str]:
    """Each cross-fittable member's out-of-fold Train predictions (cached like a member), moved
    to the target prior fold by fold, and how the folds were grouped; members with
    ``cross_fit = False`` are left out."""
    from harness.stacking import out_of_fold_predictions

    seed = int(config.get("seed", 0))
    keys, how = out_of_fold_keys(config, corpus, splits, task, challenge, target, folds, groups)
    found: dict[str, pd.DataFrame] = {}
    for label, (member, key, payload) in keys.items():
        cached = None if config.get("force") else cache.load_member(key)
        if cached is not None:
            found[label] = cached.predictions
            continue
        log.info("%s/%s: %d-fold out-of-fold predictions on Train, %s", label, task, folds, how)
        predictions = out_of_fold_predictions(
            lambda member=member: build_system(member, cache),
            splits.train,
            task=task,
            classes=tuple(challenge.classes),
            folds=folds,
            seed=seed,
            dev=splits.dev_bal,
            target=target,
            groups=groups,
        )
        cache.store_member(
            key, MemberOutput(predictions=predictions, key=key), {**payload, "out_of_fold": folds}
        )
        found[label] = predictions
    return found, how


def out_of_fold_keys(
    config: dict[str, Any],
    corpus: Corpus,
    splits: Splits,
    task: str,
    challenge,
    target: np.ndarray | None,
    folds: int,
    groups: str | None = None,
) -> tuple[dict[str, tuple[dict[str, Any], str, dict]], str]:
    """``{label: (member config, cache key, payload)}`` of each cross-fittable member's
    out-of-fold predictions, and how the folds were grouped (``harness check`` asks the cache
    with the same keys)."""
    classes = tuple(challenge.classes)
    assignment, how = _train_folds(config, splits, task, challenge, folds, groups)
    # the folds themselves: they follow the speakers, which the member key leaves out
    fold_key = digest(list(zip(splits.train["id"].astype(str), assignment.tolist())))
    keys: dict[str, tuple[dict[str, Any], str, dict]] = {}
    for spec in config.get("members") or []:
        member = member_config(config, spec)
        if not registry.get("systems", member["system"]).cross_fit:
            log.info("%s: opts out of cross-fitting", member_label(spec))
            continue
        base, payload = member_key(member, corpus, splits, task, classes)
        key = digest(
            {"member": base, "out_of_fold": folds, "folds": fold_key, "target": _listed(target)}
        )
        keys[member_label(spec)] = (member, key, payload)
    return keys, how


def _listed(values: np.ndarray | None) -> list[float] | None:
    return None if values is None else [round(float(v), 12) for v in values]


def check_members(config: dict[str, Any]) -> None:
    members = list(config.get("members") or [])
    if len(members) < 2:
        raise HarnessError(
            f"fusion {config['system']!r} needs at least two members",
            fix="pass members=[text_tfidf,audio_egemaps]",
        )
    names = [member_label(m) for m in members]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        # Members' predictions and the fused features are keyed by the member's label: a
        # repeat would be one member counted twice.
        unique = list(dict.fromkeys(names))
        raise HarnessError(
            f"fusion {config['system']!r} lists {', '.join(repeated)} more than once",
            fix=f"pass members=[{','.join(unique)}]"
            if len(unique) > 1
            else "pass members=[text_tfidf,audio_egemaps]",
        )


def is_fusion(config: dict[str, Any]) -> bool:
    return issubclass(registry.get("systems", config["system"]), FusionSystem)


def _unknown_params_fix(
    names: list[str], params: dict[str, Any], unknown: list[str], prefix: str
) -> str:
    """Where an unknown key is a slip of a parameter's name, or, on a run's own command line (no
    ``prefix``), of a run key (which a slip sends to the system's parameters), the fix names it."""
    from harness.config import defaults as run_defaults
    from harness.params import slip_fix

    run_keys = [] if prefix else [k for k in run_defaults() if k != "params"]
    return slip_fix(
        unknown,
        [*names, *run_keys],
        params,
        f"valid parameters: {', '.join(names)}",
        lambda key: key if key in run_keys else prefix + key,
    )


def check_params(config: dict[str, Any], prefix: str = "") -> None:
    """Reject unknown system (and member) parameters, and values their rules refuse, before any
    corpus is built or model trained. ``prefix``: how a member's parameters are written on the
    command line, so the ``fix:`` can be pasted."""
    from harness.config import defaults as run_defaults
    from harness.config import member_name, system_defaults
    from harness.params import check_param_values

    system_cls = registry.get("systems", config["system"])
    params = config.get("params") or {}
    unknown = sorted(set(params) - set(system_cls.param_names()))
    if unknown:
        raise HarnessError(
            f"system {config['system']!r} has no parameter {', '.join(map(repr, unknown))}",
            fix=_unknown_params_fix(system_cls.param_names(), params, unknown, prefix),
        )
    own = system_defaults(config["system"]).get("params") or {}
    check_param_values(
        config["system"],
        system_cls.param_rules,
        params,
        own,
        prefix=prefix,
        shadowed=run_defaults(),
    )
    if is_fusion(config):
        check_members(config)
    for member in config.get("members") or []:
        check_params(member_config(config, member), f"member_params.{member_name(member)}.")


def check_ready(config: dict[str, Any]) -> None:
    """Let the system and every member check what fitting will need (local weights, optional
    extras) before a corpus is loaded or a work directory made, so a run fails in one line."""
    configs = [(config, "", "")]
    configs += [
        (member_config(config, m), f"member_params.{member_name(m)}.", member_label(m))
        for m in config.get("members") or []
    ]
    for each, prefix, label in configs:
        system_cls = registry.get("systems", each["system"])
        params = dict(each.get("params") or {})
        if "seed" in system_cls.param_names() and params.get("seed") is None:
            params["seed"] = 0
        try:
            system_cls.from_params(params).check_ready()
        except HarnessError as error:
            if prefix:  # say which member, and write the fix for member_params
                if not error.message.startswith(label):
                    error.message = f"member {label}: {error.message}"
                if error.fix:
                    error.fix = prefixed_fix(error.fix, system_cls.param_names(), prefix)
            raise


def prefixed_fix(fix: str, names: Sequence[str], prefix: str) -> str:
    """A system's ``fix: pass backend=...`` written for one of a fusion's members
    (``member_params.audio_w2vbert.backend=...``), so that it still works when pasted."""
    pattern = r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")(?=[.=])"
    return re.sub(pattern, lambda m: prefix + m.group(1), fix)


def check_dev_bal(splits: Splits, tasks: list[str]) -> None:
    """A fusion is fit on Dev_bal alone: it must hold labelled utterances for every task."""
    from harness.data.manifest import has_labels

    for task in tasks:
        if splits.dev_bal.empty or not has_labels(splits.dev_bal, task):
            raise HarnessError(
                f"Dev_bal has no labelled utterance for {task}: a fusion has nothing to be fit on",
                fix="give the corpus a labelled Development split (Dev_bal is drawn from it), "
                "or run a single system instead of a fusion",
            )


def check_stacking(
    config: dict[str, Any], splits: Splits, tasks: list[str], challenge, cache: Cache
) -> None:
    """A stacked fusion's folds can be made on this Train (``stacking_folds`` no larger than
    Train): otherwise the run stopped only after every member had been fit."""
    fusion = build_system(config, cache)
    for task in tasks:
        folds = fusion.cross_fit_folds(task)
        if folds:
            _train_folds(config, splits, task, challenge, folds, fusion.cross_fit_groups(task))


def _train_folds(
    config: dict[str, Any], splits: Splits, task: str, challenge, folds: int, groups: str | None
) -> tuple[np.ndarray, str]:
    """The run's stacking folds of Train (seeded by the run) and how they were grouped."""
    from harness.stacking import fold_assignment

    return fold_assignment(
        splits.train,
        task=task,
        classes=tuple(challenge.classes),
        folds=folds,
        seed=int(config.get("seed", 0)),
        groups=groups,
    )


def resolve_tasks(config: dict[str, Any], system_cls, challenge) -> list[str]:
    """The tasks to run: those asked for (``tasks=``), else every task both sides support."""
    supported = [t for t in system_cls.tasks if t in challenge.tasks]
    wanted = config.get("tasks")
    if wanted is None:
        if not supported:
            raise HarnessError(
                f"system {system_cls.name!r} supports no task of challenge {challenge.name}"
            )
        return supported
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    for task in wanted:
        if task not in supported:
            raise HarnessError(
                f"task {task!r} is not supported by system {system_cls.name!r} on {challenge.name}",
                fix=f"use tasks=[{','.join(supported)}]",
            )
    return wanted
