"""How long reading a full-size MSP-Podcast folder takes, as every ``harness run`` does.

Why: the real release has about 150,000 utterances, and the reader checks every audio header and
reads every transcript before a run starts; the demo (1,000 files) cannot show that cost. This
script builds a folder in the MSP-Podcast layout at the release's size (hard links to four 4 s
WAVs, so it takes seconds and little disk; a file system allows at most 65,000 links per file)
with a transcript per utterance, then times ``read_msp_podcast`` on it. Usage::

    python benchmarks/reader_scale.py [--dir /tmp/msp-scale] [--n 152000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

SPLITS = {"Train": 0.55, "Development": 0.20, "Test1": 0.17, "Test2": 0.08}
LINKS_PER_FILE = 50_000


def build(root: Path, n: int) -> None:
    """A labels file, audio (hard links) and transcripts for ``n`` utterances at ``root``."""
    import numpy as np
    import soundfile as sf

    for folder in ("Labels", "Audios", "Transcripts"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    bases = []
    for k in range(n // LINKS_PER_FILE + 1):
        base = root / f"base{k}.wav"
        noise = (rng.standard_normal(16_000 * 4) * 0.05).astype("float32")
        sf.write(base, noise, 16_000, subtype="PCM_16")
        bases.append(base)
    lines = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"]
    bounds = np.cumsum([int(round(f * n)) for f in SPLITS.values()])
    for i in range(n):
        split = list(SPLITS)[int(np.searchsorted(bounds, i, side="right"))]
        name = f"MSP-PODCAST_{i // 100:04d}_{i % 100:04d}.wav"
        gender = "Male" if i % 2 else "Female"
        code = "ANSHUFDCOX"[i % 10]
        lines.append(f"{name},{code},{3 + i % 4}.0,{2 + i % 5}.2,4.0,{i % 1500},{gender},{split}")
        os.link(bases[i // LINKS_PER_FILE], root / "Audios" / name)
        (root / "Transcripts" / f"{name[:-4]}.txt").write_text("words of the turn\n")
    (root / "Labels" / "labels_consensus.csv").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/msp-scale"))
    parser.add_argument("--n", type=int, default=152_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from harness.data.readers import read_msp_podcast

    labels = args.dir / "Labels" / "labels_consensus.csv"
    if not labels.is_file() or len(labels.read_text().splitlines()) != args.n + 1:
        start = time.perf_counter()
        build(args.dir, args.n)
        print(f"built {args.n} utterances in {time.perf_counter() - start:.1f} s at {args.dir}")
    for k in range(args.repeat):
        start = time.perf_counter()
        corpus = read_msp_podcast(args.dir)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"read {len(corpus.manifest)} utterances ({corpus.name}, official={corpus.official}) "
            f"in {seconds:.1f} s; peak RSS {peak:.0f} MB (read {k + 1})"
        )


if __name__ == "__main__":
    main()
