"""Text-model throughput: length-sorted dynamic padding vs fixed-length padding in random order.

Why: the text systems pad each batch only to its longest transcript and group transcripts of
similar length (``systems/components/text_batching.py``). This measures what that buys over the
naive recipe (every sequence padded to ``max_length``, batches in random order), and over
dynamic padding of random batches (what sorting alone adds), on the demo transcripts, with the MiniLM encoder and the systems' own forward code. Throughput counts *real*
(non-pad) tokens per second, the work that matters; the ratio is the speed-up.

    python benchmarks/bench_text_tokens.py                      # inference and training, 128
    python benchmarks/bench_text_tokens.py --max-length 512 --mode infer

Prints one JSON object per mode. Timings depend on the machine's load; the script reports the
load average next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence

import numpy as np


def load_texts(limit: int | None) -> list[str]:
    """Transcripts of the demo corpus (all splits), built offline on first use."""
    from harness.data.demo import load_demo_corpus

    text = load_demo_corpus().manifest["text"].astype("string").fillna("").tolist()
    return text[:limit] if limit else text


def _batches(scheme: str, lengths: np.ndarray, batch_size: int, mode: str, seed: int):
    from systems.components.text_batching import inference_batches, random_batches, training_batches

    if scheme in ("fixed", "random"):
        return random_batches(len(lengths), batch_size, seed=seed)
    if mode == "infer":
        return inference_batches(lengths, batch_size)
    return training_batches(lengths, batch_size, seed=seed)


def run_scheme(
    model,
    sequences: Sequence[Sequence[int]],
    *,
    scheme: str,
    mode: str,
    batch_size: int,
    max_length: int,
    pad_id: int,
    seed: int = 0,
) -> dict[str, float]:
    """Time one pass over ``sequences``; return real and processed tokens per second."""
    import torch

    from systems.components.text_batching import pad
    from systems.text_llm import forward_logits

    lengths = np.array([len(s) for s in sequences])
    batches = _batches(scheme, lengths, batch_size, mode, seed)
    pad_to = max_length if scheme == "fixed" else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6) if mode == "train" else None
    model.train(mode == "train")
    real = processed = 0
    started = time.perf_counter()
    for rows in batches:
        batch = pad([sequences[i] for i in rows], pad_id, pad_to=pad_to)
        real += int(batch["attention_mask"].sum())
        processed += batch["input_ids"].numel()
        if optimizer is None:
            with torch.no_grad():
                forward_logits(model, batch, decoder=False)
        else:
            forward_logits(model, batch, decoder=False).float().pow(2).mean().backward()
            optimizer.step()
            optimizer.zero_grad()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "real_tokens": real,
        "processed_tokens": processed,
        "real_tokens_per_s": round(real / seconds, 1),
        "padding_efficiency": round(real / processed, 3),
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--mode", choices=["infer", "train", "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--limit", type=int, default=None, help="sentences for inference")
    parser.add_argument("--train-limit", type=int, default=256, help="sentences for training")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    import torch

    from systems.text_llm import encode, load_backbone

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, tokenizer = load_backbone(args.backbone, num_labels=8)
    results = []
    modes = ["infer", "train"] if args.mode == "both" else [args.mode]
    for mode in modes:
        text = load_texts(args.limit if mode == "infer" else args.train_limit)
        sequences, truncated = encode(tokenizer, text, args.max_length)
        common = dict(
            mode=mode,
            batch_size=args.batch_size,
            max_length=args.max_length,
            pad_id=tokenizer.pad_token_id,
        )
        # one warm-up batch, so that lazy initialisation is not charged to the first scheme
        run_scheme(model, sequences[: args.batch_size], scheme="sorted", **common)
        sorted_ = run_scheme(model, sequences, scheme="sorted", **common)
        fixed = run_scheme(model, sequences, scheme="fixed", **common)
        shuffled = run_scheme(model, sequences, scheme="random", **common)
        result = {
            "mode": mode,
            "backbone": args.backbone,
            "sentences": len(sequences),
            "truncated": truncated,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "threads": torch.get_num_threads(),
            "load_average": round(os.getloadavg()[0], 2),
            "dynamic_sorted": sorted_,
            "fixed_random": fixed,
            "dynamic_random": shuffled,
            "speedup": round(sorted_["real_tokens_per_s"] / fixed["real_tokens_per_s"], 2),
            "speedup_of_sorting_alone": round(
                sorted_["real_tokens_per_s"] / shuffled["real_tokens_per_s"], 2
            ),
        }
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


if __name__ == "__main__":
    main()
