"""Transcription throughput and accuracy of ``asr=whisper`` on the demo corpus, packed and not.

Transcribes the same N demo utterances twice with Whisper tiny.en int8: once per utterance
(``pack_seconds=0``) and once packed into ~28 s windows (the default), and reports for each mode the
real-time factor (processing seconds / audio seconds; below 1 is faster than real time), CPU seconds
and corpus-level WER against the demo's reference transcripts, then the speed-up of packing and its
WER difference. Transcripts go to a fresh temporary cache, so nothing is resumed and the numbers
measure decoding, not the cache; the model is loaded before the clock starts.

    python benchmarks/bench_transcription.py                # 50 utterances, both modes
    python benchmarks/bench_transcription.py --n 200 --out bench.json
    python benchmarks/bench_transcription.py --modes packed --param pack_gap=0.5
    python benchmarks/bench_transcription.py --param compute_type=float32

Why packing pays: Whisper always encodes a 30 s window, so a 3 s utterance costs as much encoder
time as a 30 s one; packing ~7 utterances into one window shares that cost, and only the
(autoregressive) decoding still grows with the number of words.

On a shared machine, compare ``cpu_seconds`` (all threads of this process, robust to other
processes) as well as wall ``seconds`` (what a user waits).
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

MODES = {"unpacked": {"pack_seconds": 0}, "packed": {}}
"""Parameters that make each mode (on top of ``--param``); ``packed`` is the back-end default."""


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


def run_mode(subset, params: dict[str, Any]) -> dict[str, Any]:
    """Transcribe ``subset`` into a fresh cache with ``params``; time loading and decoding apart."""
    from harness.asr.base import make_backend
    from harness.asr.transcribe import transcribe_corpus

    backend = make_backend("whisper", params)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    backend.load()
    load_cpu, load_wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    cpu_start = time.process_time()
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as tmp:
        result = transcribe_corpus(subset, backend, cache_dir=tmp)
    cpu_seconds = time.process_time() - cpu_start
    summary = result.summary()
    return {
        "model_id": summary["model_id"],
        "params": params,
        "n_utterances": summary["n_utterances"],
        "audio_seconds": summary["audio_seconds"],
        "seconds": summary["seconds"],
        "seconds_per_utterance": round(summary["seconds"] / max(1, summary["n_transcribed"]), 3),
        "rtf": summary["rtf"],
        "cpu_seconds": round(cpu_seconds, 2),
        "cpu_rtf": round(cpu_seconds / summary["audio_seconds"], 4),
        "model_load_seconds": round(load_wall, 3),
        "model_load_cpu_seconds": round(load_cpu, 3),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "wer": summary["wer"],
        "wer_detail": summary["wer_detail"],
        "wer_by_split": summary["wer_by_split"],
        "n_empty": summary["n_empty"],
    }


def run(
    n: int,
    seed: int,
    demo_n: int,
    params: dict[str, Any],
    cache_dir: str | None,
    modes: list[str] | None = None,
) -> dict[str, Any]:
    from harness.data.demo import load_demo_corpus

    start = time.perf_counter()
    corpus = load_demo_corpus(n=demo_n, seed=0, cache_dir=cache_dir)
    corpus_seconds = time.perf_counter() - start
    subset = pick_utterances(corpus, n, seed)
    results = {mode: run_mode(subset, {**params, **MODES[mode]}) for mode in modes or list(MODES)}
    report: dict[str, Any] = {
        "benchmark": "transcription",
        "asr": "whisper",
        "modes": results,
    }
    if {"packed", "unpacked"} <= set(results):
        packed, unpacked = results["packed"], results["unpacked"]
        report["packed_vs_unpacked"] = {
            "speedup_wall": round(unpacked["seconds"] / packed["seconds"], 2),
            "speedup_cpu": round(unpacked["cpu_seconds"] / packed["cpu_seconds"], 2),
            "wer_packed_minus_unpacked": round(packed["wer"] - unpacked["wer"], 4),
        }
    report.update(
        {
            "corpus": corpus.name,
            "subset": subset.name,
            "corpus_load_seconds": round(corpus_seconds, 2),
            "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "machine": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        }
    )
    return report


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
    parser.add_argument(
        "--modes", default="unpacked,packed", help="comma-separated: unpacked, packed"
    )
    parser.add_argument("--out", default=None, help="also write the JSON result here")
    args = parser.parse_args(argv)
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    params = _parse_params(args.param)
    report = run(args.n, args.seed, args.demo_n, params, args.cache_dir, modes)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        from harness.io import write_text

        write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
