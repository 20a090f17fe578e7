"""The run directory: config, environment, metrics.json, predictions, submissions and the log.

It is built under a hidden ``.<name>.partial`` directory and renamed when complete, so an
interrupted run never leaves a directory that looks finished; every file in it is written
atomically.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import logging
import os
import platform
import subprocess
import sys
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from harness.config import dump
from harness.io import write_csv, write_json, write_text

PACKAGES = (
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
)


class RunDirectory:
    """Writer for one run's files, rooted at the temporary directory until the run completes."""

    def __init__(self, root: Path, name: str, final: Path) -> None:
        self.root = root
        """Where files are written now (the hidden ``.partial`` directory)."""
        self.name = name
        self.final = final
        """Where the directory appears once the run completes."""

    def write_config(self, config: dict[str, Any]) -> None:
        write_text(self.root / "config.yaml", dump(config))

    def write_environment(self, seed: int, argv: list[str] | None) -> None:
        write_json(self.root / "environment.json", environment(seed, argv))

    def write_predictions(self, task: str, split: str, frame: pd.DataFrame) -> None:
        write_csv(self.root / "predictions" / task / f"{split}.csv", frame, float_format="%.6f")

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.root / "metrics.json", metrics)


@contextmanager
def run_directory(output_dir: str | Path, system: str):
    """Yield a :class:`RunDirectory`; it appears as ``<output_dir>/<stamp>-<system>`` only if the
    block completes, with the harness log copied into its ``log.txt``.

    The name is claimed when the run starts, by creating its ``.partial`` directory (an atomic
    ``mkdir``): a second run of the same system within the same second, one after the other (a
    cached run takes a fraction of a second) or side by side, gets ``...-<system>-2``. A shared
    name used to make the second run delete the first one's finished directory, or its partial
    directory while it was still writing.
    """
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(output_dir).expanduser()  # where checks.writable_dir looked
    root.mkdir(parents=True, exist_ok=True)
    name, tmp = _claim(root, f"{stamp}-{system}")
    final = root / name
    with _log_to(tmp / "log.txt"):
        yield RunDirectory(tmp, name, final)
    os.rename(tmp, final)  # the name is free: no other run claims it while tmp exists


def _claim(root: Path, base: str) -> tuple[str, Path]:
    """The first of ``base``, ``base-2``, ... that no run has finished or started under."""
    for k in itertools.count(1):
        name = base if k == 1 else f"{base}-{k}"
        if (root / name).exists():
            continue
        tmp = root / f".{name}.partial"
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        return name, tmp
    raise AssertionError("unreachable")


def environment(seed: int, argv: list[str] | None) -> dict[str, Any]:
    """Package versions, git commit, seed and command: what it takes to trace a result."""
    packages = {}
    for package in PACKAGES:
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


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class _log_to:
    """Copy the harness log into the run directory for the duration of the run."""

    def __init__(self, path: Path) -> None:
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )

    def __enter__(self):
        root = logging.getLogger()
        root.addHandler(self.handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc):
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()
        return False
