"""The Spanish demo laid out as the EmoSpeech 2024 release, and the offline systems run on it.

Why: the demo corpus is read by its own reader, from WAV files. The real release is read by the
EmoSpeech reader, from its own CSV names (``EmoSPeech_phase_2_train.csv``,
``EmoSPeech_phase_2_test_public2.csv``), ids shaped like ``791bce67-cf7eeadc.mp3`` and 44.1 kHz
MP3 audio in ``train_segments/`` and ``test_segments/``. This script converts the Spanish demo to
that shape (the test labels go to ``test_labels.csv``, which the release does not have), then
times ``harness run`` of each system on it, from an empty cache. ``--same-splits`` passes the
demo's own Development as ``corpus_options.dev_csv`` and ``target_prior=uniform``, so scores
compare with the demo's (the reader otherwise carves Development out of Train, as it must for
the release, and corrects to Train's prior, as the real test follows it). Usage::

    python benchmarks/emospeech_release_run.py [--dir /tmp/emospeech-release] [--same-splits]
        [--systems audio_embed "fusion_lr profile=offline" ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SYSTEMS = (
    "audio_embed",
    "fusion_lr profile=offline",
    "multimodal_attnpool profile=demo",
)


def release_id(demo_id: str) -> str:
    """An id in the release's shape, stable for a demo id."""
    digest = hashlib.sha1(demo_id.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:16]}.mp3"


def build(root: Path, demo_dir: Path) -> None:
    import pandas as pd
    import soundfile as sf
    import soxr

    train = pd.read_csv(demo_dir / "train.csv")
    test = pd.read_csv(demo_dir / "test.csv")
    labels = pd.read_csv(demo_dir / "test_labels.csv")
    jobs = []
    for frame, folder in ((train, "train_segments"), (test, "test_segments")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        jobs += [(demo_dir / "audios" / i, root / folder / release_id(i)) for i in frame["id"]]

    def convert(job: tuple[Path, Path]) -> None:
        source, target = job
        if target.exists():
            return
        wave, rate = sf.read(source, dtype="float32")
        sf.write(target, soxr.resample(wave, rate, 44_100), 44_100, format="MP3")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(convert, jobs))
    for frame in (train, test, labels):
        frame["id"] = frame["id"].map(release_id)
    train.to_csv(root / "EmoSPeech_phase_2_train.csv", index=False)
    test.to_csv(root / "EmoSPeech_phase_2_test_public2.csv", index=False)
    labels.to_csv(root / "test_labels.csv", index=False)


def demo_development(root: Path) -> Path:
    """The demo's own Development ids, in the release's shape."""
    import pandas as pd

    from harness.corpora import load_corpus

    manifest = load_corpus("demo", demo={"lang": "es"}).manifest
    ids = manifest.loc[manifest["split"] == "Development", "id"].map(release_id)
    path = root / "dev_split.csv"
    pd.DataFrame({"id": ids}).to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/emospeech-release")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    parser.add_argument("--same-splits", action="store_true")
    args = parser.parse_args()
    from harness.config import default_cache_dir
    from harness.corpora import load_corpus

    root = Path(args.dir)
    demo = load_corpus("demo", demo={"lang": "es"})
    started = time.perf_counter()
    build(root / "release", Path(demo.root))  # about 15 s on 2 cores
    print(f"release layout: {time.perf_counter() - started:.1f} s ({root / 'release'})")
    cache = root / "cache"
    (cache / "demo").mkdir(parents=True, exist_ok=True)
    link = cache / "demo" / Path(demo.root).name
    if not link.exists():
        link.symlink_to(Path(default_cache_dir()) / "demo" / Path(demo.root).name)
    extra = ["corpus_options.test_labels_csv=test_labels.csv"]
    if args.same_splits:
        extra += [f"corpus_options.dev_csv={demo_development(root / 'release')}"]
        extra += ["target_prior=uniform"]
    for system in args.systems:
        command = [
            "harness", "run", *shlex.split(f"system={system}"), "corpus=emospeech",
            f"corpus_path={root / 'release'}", *extra, f"output_dir={root / 'runs'}",
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(
            command, env={**os.environ, "HARNESS_CACHE": str(cache)}, capture_output=True
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(f"{system}: failed ({done.stderr.decode()[-300:]})")
            continue
        run = sorted((root / "runs").iterdir(), key=lambda p: p.stat().st_mtime)[-1]
        results = json.loads((run / "metrics.json").read_text())["results"]
        test = {
            r["variant"]: r["metrics"]["macro_f1"]
            for r in results
            if r["split"] == "Test" and r["variant"] in ("raw", "prior")
        }
        print(
            f"{system}: {seconds:.1f} s; Test macro-F1 raw {test['raw']:.4f}, "
            f"prior {test['prior']:.4f} ({run.name})"
        )


if __name__ == "__main__":
    main()
