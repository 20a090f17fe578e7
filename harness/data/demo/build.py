"""Building and caching demo corpora: a process pool for the synthesis, an atomic, locked build.

Why here: building is the slow part (seconds per hundred utterances), so a corpus is built once
per ``(lang, n, seed)`` into ``<cache_dir>/demo/<lang>-n<n>-s<seed>`` and reused; the directory is
built aside and renamed into place, under a file lock, so an interrupted or concurrent build never
leaves a corpus that looks complete. The output does not depend on the number of workers.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from harness.config import default_cache_dir
from harness.data.demo.layout import write_emospeech_layout, write_info, write_msp_layout
from harness.data.demo.plan import plan_corpus
from harness.data.demo.spec import DEMO_VERSION, language
from harness.data.demo.synth import render_chunk
from harness.errors import HarnessError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def build_demo_corpus(
    root: str | os.PathLike,
    *,
    lang: str = "en",
    n: int = 1000,
    seed: int = 0,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Path:
    """Synthesise the demo corpus into ``root`` (built aside and renamed into place at the end).

    ``progress(done, total)`` is called as utterances are synthesised. ``workers`` defaults to
    two processes (or one on a single-core machine); the output does not depend on it.
    """
    from harness.io import atomic_dir

    root = Path(root)
    _check_target(root)
    plan = plan_corpus(lang, n, seed)
    workers = workers or min(2, os.cpu_count() or 1)
    with atomic_dir(root) as tmp:
        audio_dir = tmp / ("Audios" if lang == "en" else "audios")
        audio_dir.mkdir()
        jobs = [(asdict(u), str(audio_dir / u.id)) for u in plan]
        durations = _synthesise(jobs, workers, progress)
        if lang == "en":
            write_msp_layout(tmp, plan)
        else:
            write_emospeech_layout(tmp, plan)
        write_info(tmp, plan, durations, lang, n, seed)
    return root


def _check_target(root: Path) -> None:
    """Refuse to replace a directory that is not a demo corpus (it would be deleted)."""
    if root.exists() and any(root.iterdir()) and not (root / "demo.json").exists():
        raise HarnessError(
            "directory exists and is not a demo corpus; building there would replace it",
            file=root,
            fix="pass a new or empty directory",
        )


def _synthesise(
    jobs: list[tuple[dict, str]], workers: int, progress: Progress | None
) -> list[float]:
    """Render in a process pool (spawned, so no parent threads are inherited); order is kept."""
    total = len(jobs)
    if progress:
        progress(0, total)
    size = max(1, min(25, total // (4 * max(workers, 1)) or 1))
    chunks = [jobs[i : i + size] for i in range(0, total, size)]
    results: list[list[float] | None] = [None] * len(chunks)
    done = 0
    if workers > 1 and len(chunks) > 1:
        try:
            _run_pool(chunks, results, workers, progress, total)
            return [d for chunk in results for d in chunk]  # type: ignore[union-attr]
        except (OSError, RuntimeError, AssertionError) as exc:  # e.g. inside a daemon process
            log.warning("parallel synthesis unavailable (%s); synthesising in this process", exc)
    for i, chunk in enumerate(chunks):
        if results[i] is None:
            results[i] = render_chunk(chunk)
        done += len(chunk)
        if progress:
            progress(done, total)
    return [d for chunk in results for d in chunk]  # type: ignore[union-attr]


def _run_pool(
    chunks: list, results: list, workers: int, progress: Progress | None, total: int
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # "fork", not "spawn": spawn re-runs the caller's __main__ in each worker, which deadlocks on
    # the build lock when the caller is a script without an ``if __name__ == "__main__"`` guard.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(render_chunk, chunk): i for i, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            done += len(chunks[i])
            if progress:
                progress(done, total)


def demo_name(lang: str, n: int, seed: int) -> str:
    return f"demo-{lang}-n{n}-s{seed}"


def load_demo_corpus(
    path: str | os.PathLike | None = None,
    *,
    lang: str = "en",
    n: int = 1000,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
):
    """The demo corpus as a :class:`~harness.data.corpus.Corpus`, built on first use.

    Without ``path`` it lives in ``<cache_dir>/demo/<lang>-n<n>-s<seed>`` (``cache_dir``
    defaults to ``$HARNESS_CACHE`` or ``~/.cache/harness``). A ``path`` that holds a built demo
    corpus is read as it is (its ``demo.json`` gives lang, n and seed); a new or empty ``path``
    is built with the given parameters.
    """
    lang, n, seed = str(lang), int(n), int(seed)  # CLI overrides may arrive as strings
    language(lang)
    if path is not None and (Path(path) / "demo.json").exists():
        root = Path(path)
        lang, n, seed = _read_params(root)
    else:
        root = Path(path) if path is not None else _cache_path(cache_dir, lang, n, seed)
        if _built_version(root) != DEMO_VERSION[lang]:
            _build_locked(root, lang=lang, n=n, seed=seed, progress=progress)
    return _read(root, lang, n, seed)


def _cache_path(cache_dir: str | os.PathLike | None, lang: str, n: int, seed: int) -> Path:
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return base / "demo" / f"{lang}-n{n}-s{seed}"


def _built_version(root: Path) -> int | None:
    try:
        return json.loads((root / "demo.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def _read_params(root: Path) -> tuple[str, int, int]:
    try:
        info = json.loads((root / "demo.json").read_text(encoding="utf-8"))
        return str(info["lang"]), int(info["n"]), int(info["seed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(
            f"unreadable demo corpus description ({exc})",
            file=root / "demo.json",
            fix="delete the directory; it is rebuilt on the next run",
        ) from None


def _build_locked(root: Path, **options) -> None:
    """Build under an exclusive lock, so parallel runs (pytest-xdist, two shells) build once."""
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f".{root.name}.lock"
    with open(lock_path, "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no lock, the build is still atomic
            pass
        # someone else may have built it meanwhile
        if _built_version(root) != DEMO_VERSION[options["lang"]]:
            log.info("building the demo corpus in %s (once; it is cached)", root)
            build_demo_corpus(root, **options)


def _read(root: Path, lang: str, n: int, seed: int):
    from harness.data.readers import read_emospeech, read_msp_podcast

    corpus = read_msp_podcast(root) if lang == "en" else read_emospeech(root, seed=seed)
    corpus.name = demo_name(lang, n, seed)
    corpus.kind = "demo"
    corpus.info["demo"] = {"lang": lang, "n": n, "seed": seed, "version": DEMO_VERSION[lang]}
    # Its Development and test splits are balanced by construction (the real EmoSpeech test is
    # not): prior correction on the demo targets what its test really is.
    corpus.info["eval_prior"] = "uniform"
    return corpus
