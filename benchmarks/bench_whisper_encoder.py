"""Throughput of Whisper-encoder embeddings (audio_embed's default encoder): packed vs one per window.

Whisper encodes a fixed 30 s window whatever the utterance length, so a 3 s utterance alone in a
window is 90 % padding. CTranslate2 also accepts a shorter window, and packing fills the long one. This measures, on demo utterances (loaded before timing, so disk reads are
not counted), with the bundled Whisper tiny.en through CTranslate2:

* ``single``: one utterance per 30 s window, one window per encoder call;
* ``batched``: one utterance per window, ``--batch`` windows per call (same work, fewer calls);
* ``packed``: utterances packed ``pack_gap`` s apart into each window, ``--batch`` windows per call;
* ``window8``: one utterance per 8 s input window, ``--batch`` windows per call (``audio_embed``'s
  default and ``multimodal_attnpool``'s demo profile: each utterance's frames are its own; an
  utterance longer than 8 s gets a 16, 24 or 30 s window);

and for each: utterances per second (wall and CPU), windows encoded, the share of encoder frames
that belong to no utterance (padding and gaps), and how close each utterance's pooled embedding
lies to the reference, one utterance per 30 s window (``single``): the median and minimum cosine.
The ratios are each mode / single in utterances per wall second. Usage::

    python benchmarks/bench_whisper_encoder.py [--n 60] [--threads 0] [--batch 4] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

MODES = ("single", "batched", "packed", "window8")


def load_waves(n: int, lang: str) -> list[np.ndarray]:
    from harness.data.audio import load_audio
    from harness.data.demo import load_demo_corpus

    manifest = load_demo_corpus(lang=lang).manifest
    return [load_audio(p) for p in manifest["path"].head(n)]


def measure(waves, *, pack_seconds: float, batch: int, threads: int, window: float = 30.0) -> dict:
    from systems.components.speech_encoders import WhisperEncoder

    encoder = WhisperEncoder(
        pack_seconds=pack_seconds, batch_size=batch, num_threads=threads, window_seconds=window
    )
    encoder.load()
    encoder.frames(waves[:2])  # warm-up
    encoder.stats = {"windows": 0, "frames": 0, "own_frames": 0}
    wall, cpu = time.perf_counter(), time.process_time()
    pooled = encoder.pooled(waves)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = encoder.stats
    return {
        "embeddings": np.stack([p[0] for p in pooled]),
        "utterances_per_s": len(waves) / wall,
        "utterances_per_cpu_s": len(waves) / cpu,
        "wall_s": wall,
        "cpu_s": cpu,
        "windows": stats["windows"],
        "padding_share": 1 - stats["own_frames"] / stats["frames"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60, help="demo utterances (default 60)")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--threads", type=int, default=0, help="CTranslate2 threads (0: all cores)")
    parser.add_argument("--batch", type=int, default=4, help="windows per encoder call")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    waves = load_waves(args.n, args.lang)
    seconds = sum(w.size for w in waves) / 16_000
    results = {
        "utterances": len(waves),
        "mean_seconds": seconds / len(waves),
        "single": measure(waves, pack_seconds=0.0, batch=1, threads=args.threads),
        "batched": measure(waves, pack_seconds=0.0, batch=args.batch, threads=args.threads),
        "packed": measure(waves, pack_seconds=30.0, batch=args.batch, threads=args.threads),
        "window8": measure(
            waves, pack_seconds=0.0, batch=args.batch, threads=args.threads, window=8.0
        ),
    }
    reference = results["single"]["embeddings"]
    for mode in MODES:
        x = results[mode].pop("embeddings")
        cosine = (
            (x * reference).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(reference, axis=1)
        )
        results[mode]["cosine_to_single_median"] = float(np.median(cosine))
        results[mode]["cosine_to_single_min"] = float(cosine.min())
    single = results["single"]["utterances_per_s"]
    results["ratio_packed_vs_single"] = results["packed"]["utterances_per_s"] / single
    results["ratio_batched_vs_single"] = results["batched"]["utterances_per_s"] / single
    results["ratio_window8_vs_single"] = results["window8"]["utterances_per_s"] / single
    print(f"{len(waves)} utterances, mean {results['mean_seconds']:.2f} s")
    for mode in MODES:
        r = results[mode]
        print(
            f"{mode:8s} {r['utterances_per_s']:7.2f} utt/s  {r['utterances_per_cpu_s']:7.2f} "
            f"utt/CPU-s  windows {r['windows']:4d}  padding share {r['padding_share']:.3f}  "
            f"cosine to single {r['cosine_to_single_median']:.4f} "
            f"(min {r['cosine_to_single_min']:.4f})"
        )
    print(
        f"packed / single: {results['ratio_packed_vs_single']:.2f}x   "
        f"batched / single: {results['ratio_batched_vs_single']:.2f}x   "
        f"window8 / single: {results['ratio_window8_vs_single']:.2f}x"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
