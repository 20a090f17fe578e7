"""Peak memory of reading audio_embed-sized embeddings back from the feature store.

Why: on a real corpus the store is large. WavLM base+ pools to 13 hidden states x 1,536 values per
utterance (80 KB as float32), so 90,000 MSP-Podcast utterances are 7 GB. The store is written in
chunks (shards); a read copies each shard's rows into the result and lets the shard go, so the
peak should be about the result plus one shard. The reference is the single-file read the store
used before chunking: the whole file, a dict of its rows, then the stacked result. ``one-layer``
reads the same store keeping one hidden state per row, block by block, as ``audio_embed`` does
with a fixed layer and when it predicts with its chosen weighting.

Each measurement runs in a fresh process and reports its peak resident set size (``VmHWM`` in
``/proc/self/status``, which a new program starts afresh, unlike ``ru_maxrss``), so one
measurement's memory never shows up in the next. Usage::

    python benchmarks/bench_feature_store_memory.py [--rows 20000] [--layers 13] [--dims 1536]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MEASURE = r"""
import json, sys, time
import numpy as np
from harness.cache import Cache

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

root, mode, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = [f"utt_{i:06d}" for i in range(rows)]
base = peak_kb()
started = time.perf_counter()
def must_not_compute(missing):
    raise AssertionError(f"{len(missing)} rows recomputed")
if mode == "sharded":
    values = Cache(root).features("bench", ids, {"v": 1}, must_not_compute)
elif mode == "one-layer":  # audio_embed with a fixed layer, or predicting with its weighting
    values = Cache(root).features(
        "bench", ids, {"v": 1}, must_not_compute, reduce=lambda block: block[:, -1]
    )
else:  # the single-file read of the store before chunking
    with np.load(f"{root}/single.npz", allow_pickle=False) as data:
        known = dict(zip(data["ids"].tolist(), data["values"]))
    values = np.stack([known[i] for i in ids])
seconds = time.perf_counter() - started
peak = peak_kb()
print(json.dumps({"mode": mode, "result_mb": values.nbytes / 2**20,
                  "peak_mb": peak / 1024, "before_mb": base / 1024, "seconds": seconds}))
"""


def build(root: Path, rows: int, layers: int, dims: int) -> None:
    """The same rows twice: as the chunked store writes them, and as one file."""
    from harness.cache import FEATURE_CHUNK_ROWS, Cache

    rng = np.random.default_rng(0)
    ids = [f"utt_{i:06d}" for i in range(rows)]
    index = {key: i for i, key in enumerate(ids)}

    def compute(missing):
        return rng.standard_normal((len(missing), layers, dims), dtype=np.float32)

    values = Cache(root).features("bench", ids, {"v": 1}, compute)
    np.savez(root / "single.npz", ids=np.asarray(ids), values=values[[index[i] for i in ids]])
    print(f"{rows} rows of {layers} x {dims} float32 ({values.nbytes / 2**30:.2f} GB), "
          f"shards of {FEATURE_CHUNK_ROWS} rows")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--dims", type=int, default=1536)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.rows, args.layers, args.dims)
        for mode in ("sharded", "one-layer", "single-file"):
            out = subprocess.run(
                [sys.executable, "-c", MEASURE, str(root), mode, str(args.rows)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{r['mode']:12s} result {r['result_mb']:7.0f} MB  peak RSS {r['peak_mb']:7.0f} MB "
                f"(interpreter and imports {r['before_mb']:.0f} MB)  {r['seconds']:.1f} s"
            )


if __name__ == "__main__":
    main()
