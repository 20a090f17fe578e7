"""Time training steps of multimodal_attnpool's paper configuration on one GPU, in bf16.

Why: the paper configuration (frozen XLS-R 300M + frozen RoBERTa-large, a trained attention-pooling
head) cannot run on the CPU build machine, but its step time and memory decide the GPU a user needs
and how much the feature cache saves. The encoders are built from their real configs with random
weights (nothing is downloaded; time and memory do not depend on the weights); the head is the
system's own :class:`~systems.components.attention_fusion.AttnPoolFusion`.

Two steps are timed, each a batch of ``--batch`` 5.5 s crops with ``--text-len`` tokens:

* ``encode_step``: both frozen encoders run (no grad, bf16) and the head trains: the cost per step
  without the cache (``feature_cache=false``, augmentation on the fly);
* ``head_step``: the head trains on precomputed states: the cost per step with the cache.

    python benchmarks/gpu_attnpool_step.py                     # paper sizes, batch 16
    python benchmarks/gpu_attnpool_step.py --tiny --device cpu # smoke test of the script

Prints one JSON object: median seconds per step of each kind, peak GPU memory, parameter counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext

from systems.components.attention_fusion import ROBERTA_LARGE_BNE, XLSR_300M

TINY_SPEECH = dict(
    XLSR_300M,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=[32] * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)
TINY_TEXT = dict(
    ROBERTA_LARGE_BNE,
    vocab_size=1000,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
)


def build(tiny: bool, device: str, classes: int):
    import torch
    from transformers import RobertaConfig, RobertaModel, Wav2Vec2Config, Wav2Vec2Model

    from systems.components.attention_fusion import AttnPoolFusion

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    speech_config = Wav2Vec2Config(**(TINY_SPEECH if tiny else XLSR_300M))
    text_config = RobertaConfig(**(TINY_TEXT if tiny else ROBERTA_LARGE_BNE))
    speech = Wav2Vec2Model(speech_config).to(device, dtype).eval().requires_grad_(False)
    text = RobertaModel(text_config, add_pooling_layer=False).to(device, dtype).eval()
    text.requires_grad_(False)
    head = AttnPoolFusion(
        modalities=("audio", "text"),
        speech_layers=speech_config.num_hidden_layers,
        speech_dim=speech_config.hidden_size,
        text_dim=text_config.hidden_size,
        fusion="joint",
        width=512,
        hidden_layers=2,
        dropout=0.1,
        outputs=classes,
    ).to(device)  # float32 master weights; autocast runs the products in bf16
    return speech, text, head, text_config.vocab_size


def main(argv: list[str] | None = None) -> dict:
    import torch
    import torch.nn.functional as F

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs (CPU smoke test)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.5)
    parser.add_argument("--text-len", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--classes", type=int, default=6)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device; run with --tiny --device cpu for a smoke test")
    torch.manual_seed(0)
    speech, text, head, vocab = build(args.tiny, args.device, args.classes)
    optimizer = torch.optim.AdamW(head.parameters(), lr=5e-5, weight_decay=0.01)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if args.device == "cuda" else nullcontext()
    )
    samples = int(args.seconds * 16_000)
    waves = torch.randn(args.batch, samples, device=args.device)
    tokens = torch.randint(3, vocab, (args.batch, args.text_len), device=args.device)
    target = torch.randint(0, args.classes, (args.batch,), device=args.device)
    weight = torch.rand(args.classes, device=args.device) + 0.5

    def encode():
        with torch.no_grad(), autocast:
            hidden = speech(waves.to(next(speech.parameters()).dtype), output_hidden_states=True)
            states = torch.stack(hidden.hidden_states[1:], dim=1)
            words = text(input_ids=tokens).last_hidden_state
        return states, words

    def train_step(states, words):
        with autocast:
            logits = head(speech=states, text=words)
            loss = F.cross_entropy(logits.float(), target, weight=weight)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed(step) -> list[float]:
        times = []
        for i in range(args.warmup + args.steps):
            if args.device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if args.device == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
        return times

    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    encode_times = timed(lambda: train_step(*encode()))
    peak_encode = torch.cuda.max_memory_allocated() if args.device == "cuda" else None
    cached = encode()
    cached = (cached[0].float().detach(), cached[1].float().detach())
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    head_times = timed(lambda: train_step(*cached))
    peak_head = torch.cuda.max_memory_allocated() if args.device == "cuda" else None
    result = {
        "config": "tiny" if args.tiny else "XLS-R 300M + RoBERTa-large (bne), random weights",
        "device": torch.cuda.get_device_name() if args.device == "cuda" else args.device,
        "dtype": "bf16 encoders, bf16 autocast head" if args.device == "cuda" else "float32",
        "batch": args.batch,
        "crop_seconds": args.seconds,
        "text_tokens": args.text_len,
        "speech_frames": int(cached[0].shape[2]),
        "encode_step_seconds_median": statistics.median(encode_times),
        "head_step_seconds_median": statistics.median(head_times),
        "encode_over_head": statistics.median(encode_times) / statistics.median(head_times),
        "peak_memory_gib_encode_step": None if peak_encode is None else peak_encode / 2**30,
        "peak_memory_gib_head_step": None if peak_head is None else peak_head / 2**30,
        "trainable_parameters": sum(p.numel() for p in head.parameters()),
        "frozen_parameters": sum(p.numel() for p in speech.parameters())
        + sum(p.numel() for p in text.parameters()),
        "steps": args.steps,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
