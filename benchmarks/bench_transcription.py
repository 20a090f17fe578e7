"""Transcription throughput and accuracy of ``asr=whisper`` on the demo corpus.

Reports the real-time factor (processing seconds / audio seconds; below 1 is faster than real
time) of Whisper tiny.en int8 on N demo utterances, and their corpus-level WER against the demo's
reference transcripts. Transcripts go to a fresh temporary cache, so nothing is resumed and the
number measures decoding, not the cache.

    python benchmarks/bench_transcription.py                # 50 utterances
    python benchmarks/bench_transcription.py --n 200 --out bench.json
    python benchmarks/bench_transcription.py --param compute_type=float32

Why the RTF is what it is: Whisper always encodes a 30 s window, so a 3 s utterance costs as much
encoder time as a 30 s one; short utterances have a high RTF on a CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pick_utterances(corpus, n: int, seed: int):
    """``n`` utterances with a reference transcript, drawn at random over all splits."""
    from harness.data.corpus import Corpus

    manifest = corpus.manifest
    if "text_source" in manifest.columns:
        manifest = manifest[manifest["text_source"] == "reference"]
    manifest = manifest[manifest["text"].notna()]
    if len(manifest) > n:
        manifest = manifest.sample(n=n, random_state=seed).sort_index()
    name = f"{corpus.name}-bench{len(manifest)}-s{seed}"
    return Corpus(manifest.reset_index(drop=True), name, corpus.kind, corpus.challenge, corpus.root)


def run(
    n: int, seed: int, demo_n: int, params: dict[str, Any], cache_dir: str | None
) -> dict[str, Any]:
    from harness.asr.transcribe import transcribe_corpus
    from harness.data.demo import load_demo_corpus

    start = time.perf_counter()
    corpus = load_demo_corpus(n=demo_n, seed=0, cache_dir=cache_dir)
    corpus_seconds = time.perf_counter() - start
    subset = pick_utterances(corpus, n, seed)
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as tmp:
        result = transcribe_corpus(subset, "whisper", asr_params=params, cache_dir=tmp)
    summary = result.summary()
    return {
        "benchmark": "transcription",
        "asr": "whisper",
        "model_id": summary["model_id"],
        "params": params,
        "n_utterances": summary["n_utterances"],
        "audio_seconds": summary["audio_seconds"],
        "seconds": summary["seconds"],
        "seconds_per_utterance": round(summary["seconds"] / max(1, summary["n_transcribed"]), 3),
        "rtf": summary["rtf"],
        "model_load_seconds": summary["load_seconds"],
        "wer": summary["wer"],
        "wer_detail": summary["wer_detail"],
        "wer_by_split": summary["wer_by_split"],
        "n_empty": summary["n_empty"],
        "corpus": corpus.name,
        "corpus_load_seconds": round(corpus_seconds, 2),
        "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def _parse_params(items: list[str]) -> dict[str, Any]:
    import yaml

    params: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        params[key] = yaml.safe_load(value)
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="utterances to transcribe")
    parser.add_argument("--seed", type=int, default=0, help="which utterances")
    parser.add_argument("--demo-n", type=int, default=1000, help="size of the demo corpus")
    parser.add_argument("--cache-dir", default=None, help="where the demo corpus is cached")
    parser.add_argument("--param", action="append", default=[], help="ASR parameter key=value")
    parser.add_argument("--out", default=None, help="also write the JSON result here")
    args = parser.parse_args(argv)
    report = run(args.n, args.seed, args.demo_n, _parse_params(args.param), args.cache_dir)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        from harness.io import write_text

        write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
