"""Time the default demo-corpus build (English, n=1000, seed 0) into a temporary folder.

Usage: ``python benchmarks/bench_demo_build.py [--lang en] [--n 1000] [--workers 2]``.
Prints wall-clock seconds and the CPU seconds of this process and its workers; the target is
under 60 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    from harness.data.demo import build_demo_corpus

    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", default="en")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), _cpu()
        root = build_demo_corpus(
            Path(tmp) / "demo", lang=args.lang, n=args.n, seed=args.seed, workers=args.workers
        )
        wall, used = time.perf_counter() - start, _cpu() - cpu
        files = sum(1 for _ in root.rglob("*.wav"))
    print(
        f"demo build lang={args.lang} n={args.n}: {wall:.1f} s wall, {used:.1f} s CPU "
        f"({files} WAV files)"
    )


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
