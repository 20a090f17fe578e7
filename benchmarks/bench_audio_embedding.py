"""Throughput of audio_w2vbert inference (features + encoder + pooling + embedding) and memory.

What it measures, on the demo corpus (Development + Test3 by default) with the demo architecture:

* feature extraction alone: transformers' ``SeamlessM4TFeatureExtractor`` vs the torch
  re-implementation in :mod:`systems.components.speech_features` (utterances/s);
* features + embedding, one utterance at a time vs random batches vs length-bucketed batches
  (utterances/s, and bucketed / one-at-a-time as a ratio);
* the padded-frame fraction of random and of bucketed batches;
* peak resident memory (RSS) of a demo training run (``fit`` of the demo profile, in a child
  process so the figure is that run's alone), unless ``--no-training``.

Waveforms are loaded before timing, so disk reads are not counted. Weights are random (throughput
does not depend on them). Usage::

    python benchmarks/bench_audio_embedding.py [--threads 1] [--batch 32] [--no-training] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def demo_params() -> dict:
    from systems.components.params import yaml_params

    return yaml_params("audio_w2vbert", "demo", seed=0)


def load_waves(limit: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    from harness.data.audio import load_audio
    from harness.data.demo import load_demo_corpus

    manifest = load_demo_corpus().manifest
    rows = manifest[manifest["split"].isin(["Development", "Test3"])]
    if limit:
        rows = rows.head(limit)
    waves = [load_audio(p) for p in rows["path"]]
    return waves, np.asarray([w.size / 16_000 for w in waves])


def demo_model():
    import torch

    from systems.components.speech_model import MODEL_PARAMS, build_model, load_backbone

    params = demo_params()
    backbone = load_backbone("unused", scratch_config=params["scratch_config"], seed=0)
    settings = {k: params[k] for k in MODEL_PARAMS}
    model = build_model(backbone, outputs=10, task="categorical", **settings)
    torch.manual_seed(0)
    return model.eval()


def timed(function, repeats: int = 1) -> float:
    """Best wall time of ``repeats`` runs (the least disturbed by other load on the machine)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def bench_features(waves: list[np.ndarray], repeats: int) -> dict[str, float]:
    from transformers import SeamlessM4TFeatureExtractor

    from systems.components.speech_features import FbankFeatures

    reference, ours = SeamlessM4TFeatureExtractor(), FbankFeatures()
    sample = waves[:100]
    ours([sample[0]])  # warm-up (mel matrix)
    t_ref = timed(
        lambda: [reference(w, sampling_rate=16_000, return_tensors="np") for w in sample], repeats
    )
    t_ours = timed(lambda: [ours([w]) for w in sample], repeats)
    return {
        "seamless_m4t_utt_per_s": len(sample) / t_ref,
        "torch_fbank_utt_per_s": len(sample) / t_ours,
        "feature_speedup": t_ref / t_ours,
    }


def bench_embedding(
    waves: list[np.ndarray], durations: np.ndarray, batch: int, repeats: int
) -> dict[str, float]:
    import torch

    from systems.components.batching import bucket_batches, padding_fraction
    from systems.components.speech_features import FbankFeatures

    model, frontend = demo_model(), FbankFeatures()
    frames = np.asarray([frontend.num_frames(w.size) for w in waves])

    def run(batches: list[list[int]]) -> None:
        with torch.no_grad():
            for indices in batches:
                model(**frontend([waves[i] for i in indices]))

    single = [[i] for i in range(len(waves))]
    order = np.random.default_rng(0).permutation(len(waves))
    random_batches = [order[i : i + batch].tolist() for i in range(0, len(order), batch)]
    bucketed = bucket_batches(
        durations, max_batch_size=batch, max_padded=batch * float(np.median(durations)) * 1.5
    )
    run(single[:5])  # warm-up
    results = {}
    for name, batches in (
        ("one_at_a_time", single),
        ("random_batches", random_batches),
        ("bucketed", bucketed),
    ):
        seconds = timed(lambda b=batches: run(b), repeats)
        results[f"{name}_utt_per_s"] = len(waves) / seconds
    results["bucketed_vs_one_at_a_time"] = (
        results["bucketed_utt_per_s"] / results["one_at_a_time_utt_per_s"]
    )
    results["bucketed_vs_random_batches"] = (
        results["bucketed_utt_per_s"] / results["random_batches_utt_per_s"]
    )
    results["padded_fraction_random"] = padding_fraction(frames, random_batches)
    results["padded_fraction_bucketed"] = padding_fraction(frames, bucketed)
    results["bucketed_batches"] = len(bucketed)
    return results


TRAINING_CHILD = """
import resource, sys, time, json
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads({threads})
from harness.data.demo import load_demo_corpus
from systems.audio_w2vbert import AudioW2VBert
from systems.components.params import yaml_params
params = yaml_params("audio_w2vbert", "demo", seed=0)
manifest = load_demo_corpus().manifest
train, dev = (manifest[manifest["split"] == s].reset_index(drop=True) for s in ("Train", "Development"))
started = time.perf_counter()
AudioW2VBert(**params).fit(train, dev, task="categorical", classes=tuple("ASHUFDCN"))
print(json.dumps({{"fit_s": time.perf_counter() - started, "cpu_s": time.process_time(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def bench_training_memory(threads: int) -> dict[str, float]:
    code = TRAINING_CHILD.format(root=str(ROOT), threads=threads)
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    facts = json.loads(output.strip().splitlines()[-1])
    return {
        "demo_fit_categorical_s": facts["fit_s"],
        "demo_fit_cpu_s": facts["cpu_s"],
        "demo_fit_peak_rss_mb": facts["peak_rss_mb"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--batch", type=int, default=32, help="largest batch (default 32)")
    parser.add_argument("--limit", type=int, default=None, help="use only this many utterances")
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats; the best is kept")
    parser.add_argument("--no-training", action="store_true", help="skip the training-memory run")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    waves, durations = load_waves(args.limit)
    print(
        f"{len(waves)} utterances, {durations.sum():.0f} s of audio (mean {durations.mean():.2f} s), "
        f"{args.threads} thread(s), batch <= {args.batch}"
    )
    results = {"utterances": len(waves), "threads": args.threads, "batch": args.batch}
    results.update(bench_features(waves, args.repeats))
    results.update(bench_embedding(waves, durations, args.batch, args.repeats))
    if not args.no_training:
        results.update(bench_training_memory(args.threads))
    results["bench_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for key, value in results.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
