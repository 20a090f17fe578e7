"""Head retraining of multimodal_attnpool from cached encoder outputs against re-encoding.

Why: the encoders are frozen, so their outputs are cached by content and a new head, ablation or
ensemble member should retrain in seconds. This measures by how much, on the Spanish demo corpus
with a profile's encoders (``demo``: Whisper tiny.en through CTranslate2 + MiniLM; ``tiny``:
random tiny encoders):

1. ``first_fit``: the cache is empty: every utterance (and every augmented copy) is encoded;
2. ``cached_fit``: a fresh system, same data: every state is read from the cache;
3. ``reencode_fit``: ``feature_cache=false``: each training crop is perturbed and re-encoded in
   every epoch (the reference's on-the-fly recipe); evaluation states are encoded once.

The ratio reported is ``reencode_fit / cached_fit``. Usage::

    python benchmarks/bench_attnpool_cache.py [--profile demo] [--n 120] [--epochs 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

CLASSES = ("anger", "disgust", "fear", "joy", "neutral", "sadness")


def fit_seconds(params: dict, cache: Path | None, train, dev) -> tuple[float, dict]:
    from systems.multimodal_attnpool import MultimodalAttnPool

    system = MultimodalAttnPool(**params)
    system.use_workspace(work_dir=None, cache_dir=cache)
    start = time.perf_counter()
    system.fit(train, dev, task="categorical", classes=CLASSES)
    seconds = time.perf_counter() - start
    report = system.report()
    return seconds, {k: report.get(k) for k in ("speech_cache", "text_cache", "dev_bal")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="demo")
    parser.add_argument("--n", type=int, default=120, help="demo corpus size")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from harness.data.demo import load_demo_corpus
    from systems.components.params import yaml_params

    torch.set_num_threads(args.threads)
    manifest = load_demo_corpus(lang="es", n=args.n, seed=0).manifest
    train = manifest[manifest["split"] == "Train"].reset_index(drop=True)
    dev = manifest[manifest["split"] == "Development"].reset_index(drop=True)
    params = yaml_params(
        "multimodal_attnpool", args.profile, epochs=args.epochs, num_threads=args.threads
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        first, first_facts = fit_seconds(params, cache, train, dev)
        cached, cached_facts = fit_seconds(params, cache, train, dev)
        reencode, _ = fit_seconds({**params, "feature_cache": False}, None, train, dev)
    result = {
        "profile": args.profile,
        "train_utterances": len(train),
        "dev_utterances": len(dev),
        "epochs": args.epochs,
        "threads": args.threads,
        "first_fit_seconds": round(first, 2),
        "cached_fit_seconds": round(cached, 2),
        "reencode_fit_seconds": round(reencode, 2),
        "reencode_over_cached": round(reencode / cached, 2),
        "first_fit_cache": first_facts,
        "cached_fit_cache": cached_facts,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
