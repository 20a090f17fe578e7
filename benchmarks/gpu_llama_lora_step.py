"""Time LoRA training steps of the paper's text model (LLaMA-2-7B, LoRA r=256) on one GPU.

Why: the paper configuration cannot run on the CPU build machine, but its cost per step and its
memory decide the GPU a user needs. The model is built from a ``LlamaConfig`` with the 7B sizes
written below (random weights, bf16), so nothing is downloaded; the LoRA wrapping, the trainable
head, the padding and the forward are the system's own (``systems.text_llm``).

    python benchmarks/gpu_llama_lora_step.py                      # 7B, batch 16, 64 tokens
    python benchmarks/gpu_llama_lora_step.py --seq-len 128 --gradient-checkpointing
    python benchmarks/gpu_llama_lora_step.py --tiny --device cpu  # smoke test of the script

Prints one JSON object: median seconds per optimiser step, real tokens per second, peak GPU
memory and the trainable parameter count (639,664,128 for 8 classes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext

LLAMA2_7B = dict(
    vocab_size=32000,
    hidden_size=4096,
    intermediate_size=11008,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
    max_position_embeddings=4096,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,  # EOS pads, as in the system
)
TINY = dict(
    LLAMA2_7B,
    hidden_size=64,
    intermediate_size=172,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
)


@contextmanager
def default_dtype(dtype):
    """Build the model directly in bf16 (a float32 7B would need 27 GB before the cast)."""
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def build_model(
    sizes: dict,
    num_labels: int,
    device: str,
    dtype,
    rank: int,
    targets: Sequence[str],
    gradient_checkpointing: bool,
):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from systems.text_llm import prepare_lora

    config = LlamaConfig(**sizes, num_labels=num_labels)
    with default_dtype(dtype), torch.device(device):
        model = LlamaForSequenceClassification(config)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    with torch.device(device):
        model = prepare_lora(model, rank=rank, alpha=rank, dropout=0.1, target_modules=targets)
    return model


def random_batch(
    batch_size: int, seq_len: int, vocab: int, num_labels: int, device: str, generator
):
    """Random token ids with lengths from seq_len/2 to seq_len, right-padded like the system."""
    import torch

    from systems.components.text_batching import pad

    lengths = torch.randint(max(1, seq_len // 2), seq_len + 1, (batch_size,), generator=generator)
    sequences = [
        [1] + torch.randint(3, vocab, (int(n) - 1,), generator=generator).tolist() for n in lengths
    ]
    batch = pad(sequences, pad_id=2, side="right")
    batch["labels"] = torch.randint(0, num_labels, (batch_size,), generator=generator)
    return {k: v.to(device) for k, v in batch.items()}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=64, help="longest sequence of a batch")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rank", type=int, default=256)
    parser.add_argument("--num-labels", type=int, default=8)
    parser.add_argument(
        "--targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    )
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny sizes, to check the script on a CPU"
    )
    args = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from systems.components.lora import count_parameters
    from systems.text_llm import forward_logits

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or pass --tiny --device cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    sizes = TINY if args.tiny else LLAMA2_7B
    started = time.perf_counter()
    model = build_model(
        sizes,
        args.num_labels,
        args.device,
        dtype,
        args.rank,
        args.targets.split(","),
        args.gradient_checkpointing,
    )
    build_seconds = time.perf_counter() - started
    trainable, total = count_parameters(model)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=2e-5, weight_decay=0.0)
    generator = torch.Generator().manual_seed(0)
    model.train()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, tokens = [], []
    for step in range(args.warmup + args.steps):
        batch = random_batch(
            args.batch_size,
            args.seq_len,
            sizes["vocab_size"],
            args.num_labels,
            args.device,
            generator,
        )
        _sync(cuda)
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext():
            logits = forward_logits(model, batch, decoder=True)
        loss = F.cross_entropy(logits.float(), batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(cuda)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
            tokens.append(int(batch["attention_mask"].sum()))
    median = statistics.median(times)
    result = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "model": "tiny" if args.tiny else "llama-2-7b (random weights)",
        "dtype": str(dtype).removeprefix("torch."),
        "lora_rank": args.rank,
        "targets": args.targets,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "gradient_checkpointing": args.gradient_checkpointing,
        "build_seconds": round(build_seconds, 1),
        "median_step_seconds": round(median, 4),
        "real_tokens_per_s": round(sum(tokens) / sum(times), 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "final_loss": round(float(loss.detach()), 4),
    }
    print(json.dumps(result), flush=True)
    return result


def _sync(cuda: bool) -> None:
    if cuda:
        import torch

        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
