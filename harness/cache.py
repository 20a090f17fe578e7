"""Content-addressed cache of member predictions and features.

A key is the SHA-256 of everything that determines an output: the system and its parameters, the
task and class set, a fingerprint of the corpus content and of Dev_bal, the seed and the harness
version. Same inputs, same key, so a fusion re-run reuses its members instead of retraining, while
any change (a parameter, a transcript, a label) makes a new key rather than a stale hit.

Entries are directories written under a temporary name and renamed when complete: an entry that
exists is whole. A system's in-progress checkpoints live in ``<key>.work/`` beside it, so a
killed run resumes training where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.io import atomic_dir, write_json
from harness.progress import counting

log = logging.getLogger(__name__)

FINGERPRINT_COLUMNS = ("id", "path", "text", "split", "label", "arousal", "valence", "dominance")

FEATURE_CHUNK_ROWS = 256
"""Rows computed between two writes of the feature store: small enough that an interrupt loses
seconds to minutes of encoding and that the progress bar moves; large enough for the extractors'
batching (about 28 packed Whisper windows) and worker pools (two eGeMAPS workers of 128 rows)."""


def digest(payload: Any, length: int = 20) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes (20 hex digits): the key of what an encoder made of it, so a file
    renamed or moved keeps its cached embedding and a file changed in place gets a new one."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:20]


def text_fingerprint(text: str) -> str:
    """SHA-256 of a text's UTF-8 bytes (20 hex digits): the key of its cached encoding."""
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()[:20]


def frame_fingerprint(frame: pd.DataFrame, columns: tuple[str, ...] = FINGERPRINT_COLUMNS) -> str:
    """Hash of a Manifest's content (not its object identity), order-independent by id."""
    present = [c for c in columns if c in frame.columns]
    ordered = frame[present].sort_values("id", kind="stable").reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(ordered.astype("string").fillna("<NA>"), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:20]


def audio_stamp(frame: pd.DataFrame) -> str:
    """Digest of every row's audio file size and modification time, in id order.

    A member that reads audio is keyed on the files it reads, not only on their names: a corpus
    re-exported, re-synthesised or repaired in place gets new keys instead of the predictions made
    from the old audio. A stat per file, not a hash of its bytes: 134 ms for 20,000 files here
    (``benchmarks/bench_cache_key.py``).
    """
    from harness.data.audio import file_stamp

    paths = frame["path"] if "path" in frame.columns else pd.Series([None] * len(frame))
    rows = sorted(zip(frame["id"].astype(str), paths))
    return digest([[utterance, file_stamp(path)] for utterance, path in rows])


@dataclass
class MemberOutput:
    """What a fitted system contributes to a run: predictions for every scored row, and facts."""

    predictions: pd.DataFrame
    class_prior: list[float] | None = None
    report: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, pd.DataFrame] = field(default_factory=dict)
    key: str = ""
    cached: bool = False


class Cache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    # -- member predictions ---------------------------------------------------------------------
    def member_dir(self, key: str) -> Path:
        return self.root / "members" / key

    def work_dir(self, key: str) -> Path:
        path = self.root / "members" / f"{key}.work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def has_member(self, key: str) -> bool:
        """Whether a complete entry is stored under ``key`` (its ``meta.json`` is there)."""
        return (self.member_dir(key) / "meta.json").exists()

    def load_member(self, key: str) -> MemberOutput | None:
        if not self.has_member(key):
            return None
        directory = self.member_dir(key)
        meta_path = directory / "meta.json"
        meta = json.loads(meta_path.read_text())
        variants = {
            name: _read_predictions(directory / "variants" / f"{name}.csv")
            for name in meta.get("variants", [])
        }
        return MemberOutput(
            predictions=_read_predictions(directory / "predictions.csv"),
            class_prior=meta.get("class_prior"),
            report=meta.get("report", {}),
            variants=variants,
            key=key,
            cached=True,
        )

    def store_member(
        self,
        key: str,
        output: MemberOutput,
        payload: dict[str, Any],
        save_model: Callable[[Path], None] | None = None,
    ) -> None:
        with atomic_dir(self.member_dir(key)) as tmp:
            output.predictions.to_csv(tmp / "predictions.csv", float_format="%.8g")
            for name, frame in output.variants.items():
                (tmp / "variants").mkdir(exist_ok=True)
                frame.to_csv(tmp / "variants" / f"{name}.csv", float_format="%.8g")
            if save_model is not None:
                save_model(tmp / "model")
            write_json(
                tmp / "meta.json",
                {
                    "key": key,
                    "payload": payload,
                    "class_prior": output.class_prior,
                    "report": output.report,
                    "variants": sorted(output.variants),
                },
            )
        shutil.rmtree(self.root / "members" / f"{key}.work", ignore_errors=True)

    # -- features (embeddings, functionals) -----------------------------------------------------
    def features(
        self,
        namespace: str,
        ids: list[str],
        payload: Any,
        compute: Callable[[list[str]], np.ndarray],
        *,
        chunk_rows: int = FEATURE_CHUNK_ROWS,
        reduce: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """Rows of a feature matrix for ``ids``, computing only the ids not cached yet.

        Features are stored per id under ``namespace``/``digest(payload)``, so that a corpus
        extended by new files, or a second task on the same audio, reuses what is there. Missing
        ids are computed ``chunk_rows`` at a time and each chunk is one shard file, written when
        the chunk completed without an interrupt: an encoding of a real corpus that is stopped
        after hours resumes at the chunk it was in, and nothing computed while interrupted is
        ever stored. Shards are read one at a time into the result, so memory holds the result
        and one shard, not the whole store twice. ``reduce`` maps a block of rows to what the
        caller keeps of them (a layer weighting of per-layer statistics): applied shard by shard,
        the full rows are never all in memory; the store always keeps them whole.
        """
        from harness.interrupts import deferred_interrupts

        keep = reduce if reduce is not None else (lambda block: block)
        directory = self.root / "features" / namespace / digest(payload)
        directory.mkdir(parents=True, exist_ok=True)
        positions: dict[str, list[int]] = {}
        for row, key in enumerate(ids):
            positions.setdefault(key, []).append(row)
        result = _Rows(len(ids))
        found: set[str] = set()
        for shard in sorted(directory.glob("*.npz")):
            with np.load(shard, allow_pickle=False) as data:
                source, target = [], []
                for j, key in enumerate(data["ids"].tolist()):
                    if key in positions and key not in found:
                        found.add(key)
                        source += [j] * len(positions[key])
                        target += positions[key]
                if source:
                    result.put(target, keep(data["values"][source]))
        missing = [key for key in positions if key not in found]
        if missing:
            log.info("%s: computing %d of %d rows", namespace, len(missing), len(positions))
        # A bar over the rows to compute, where there is more than one chunk of them.
        bar = counting(f"computing {namespace}", len(missing), show=len(missing) > chunk_rows)
        with bar as advance:
            for start in range(0, len(missing), chunk_rows):
                chunk = missing[start : start + chunk_rows]
                # A Ctrl-C during compute, even one a native library swallowed, raises here, so
                # rows computed while interrupted are never stored.
                with deferred_interrupts():
                    values = np.asarray(compute(chunk))
                _check_rows(namespace, chunk, values)
                _write_shard(directory, chunk, values)
                source = [j for j, key in enumerate(chunk) for _ in positions[key]]
                result.put([row for key in chunk for row in positions[key]], keep(values[source]))
                advance(len(chunk))
        return result.array()


class _Rows:
    """The result matrix, allocated from the first rows' shape and dtype."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: np.ndarray | None = None

    def put(self, rows: list[int], values: np.ndarray) -> None:
        """``values[k]`` goes to row ``rows[k]``."""
        if self.values is None:
            self.values = np.empty((self.n, *values.shape[1:]), dtype=values.dtype)
        self.values[rows] = values

    def array(self) -> np.ndarray:
        return self.values if self.values is not None else np.empty((0,), dtype=np.float32)


def _write_shard(directory: Path, ids: list[str], values: np.ndarray) -> None:
    from harness.io import atomic_path

    path = directory / f"part-{digest(ids, 16)}.npz"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, ids=np.asarray(ids), values=values)


def _check_rows(namespace: str, ids: list[str], values: np.ndarray) -> None:
    """One row per id, all finite: a NaN row is a failed extraction, never a feature."""
    if len(values) != len(ids):
        raise RuntimeError(f"{namespace} features: computed {len(values)} rows for {len(ids)} ids")
    if values.dtype.kind in "fc" and values.size:
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if bad.any():
            raise HarnessError(
                f"{namespace} features: {int(bad.sum())} of {len(ids)} rows are NaN or infinite "
                f"(first: {ids[int(np.argmax(bad))]}); nothing was cached",
                fix="check that input's audio (re-export it or remove it from the corpus)",
            )


def _read_predictions(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={"id": str}).set_index("id")
    return frame
