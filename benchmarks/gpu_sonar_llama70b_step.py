"""Time LoRA steps of the paper's ``sonar_llama70b`` pair on one GPU: LLaMA-2-70B in 4 bits, and SONAR.

Why: neither member runs on the CPU build machine, but their step time and memory decide the GPU
a user needs. Both models are built from their real configurations with random weights (nothing
is downloaded):

* ``llama``: ``LlamaForSequenceClassification`` with LLaMA-2-70B's ``LlamaConfig``; every linear
  layer of the decoder is a bitsandbytes ``Linear4bit`` (NF4, double quantisation, bf16 compute),
  quantised layer by layer from random bf16 weights so the full bf16 model (140 GB) never exists;
  LoRA r=256 on q/k/v/o/gate/up/down as in ``text_llm``, gradient checkpointing as in its
  ``llama2_70b`` profile. ``--llama-layers N`` builds only N of the 80 decoder layers (the JSON
  says so) when memory or time is short.
* ``sonar``: the SONAR English speech encoder (24 Conformer layers + attention pooler) with LoRA
  r=32 on linear_q/k/v/out and the dense+BN head, built as ``audio_sonar`` builds it, on random
  filterbank batches of ``--sonar-seconds`` of audio.

    python benchmarks/gpu_sonar_llama70b_step.py                       # both, full size
    python benchmarks/gpu_sonar_llama70b_step.py --llama-layers 20     # a quarter of the 70B
    python benchmarks/gpu_sonar_llama70b_step.py --tiny --device cpu   # smoke test of the script

Prints one JSON object per model: median seconds per optimiser step, peak GPU memory, parameter
counts. With ``--tiny`` on a machine without bitsandbytes the LLaMA part runs unquantised and
says ``"quantised": false``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from contextlib import nullcontext

LLAMA2_70B = dict(
    vocab_size=32000,
    hidden_size=8192,
    intermediate_size=28672,
    num_hidden_layers=80,
    num_attention_heads=64,
    num_key_value_heads=8,
    max_position_embeddings=4096,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)
TINY_LLAMA = dict(
    LLAMA2_70B,
    hidden_size=64,
    intermediate_size=172,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
)
TINY_SONAR = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _quantise_linears(model, device: str, quantise: bool, dtype) -> bool:
    """Materialise a meta-device model on ``device``: decoder Linears become NF4 ``Linear4bit``
    (double quantisation, bf16 compute) from random weights, one at a time; the rest random."""
    import torch
    from torch import nn

    bnb = None
    if quantise:
        try:
            import bitsandbytes as bnb
        except ImportError:
            bnb = None
    generator = torch.Generator(device="cpu").manual_seed(0)
    for layer in model.model.layers:
        for parent in list(layer.modules()):
            for name, child in list(parent.named_children()):
                if not isinstance(child, nn.Linear):
                    continue
                weight = torch.randn(child.out_features, child.in_features, generator=generator)
                weight = (weight * 0.02).to(dtype)
                if bnb is None:
                    new = nn.Linear(child.in_features, child.out_features, bias=False, dtype=dtype)
                    new.weight.data.copy_(weight)
                    new = new.to(device)
                else:
                    new = bnb.nn.Linear4bit(
                        child.in_features,
                        child.out_features,
                        bias=False,
                        compute_dtype=torch.bfloat16,
                        compress_statistics=True,  # double quantisation
                        quant_type="nf4",
                    )
                    new.weight = bnb.nn.Params4bit(
                        weight, requires_grad=False, compress_statistics=True, quant_type="nf4"
                    )
                    new = new.to(device)  # quantises here
                    new.support_avx512bf16_for_cpu = False
                setattr(parent, name, new)
    for module in model.modules():  # embeddings, norms, the score head: small, random
        for pname, param in list(module.named_parameters(recurse=False)):
            if param.is_meta:
                value = torch.empty(param.shape, dtype=dtype, device=device).normal_(0, 0.02)
                if "norm" in type(module).__name__.lower():
                    value.fill_(1.0)
                setattr(module, pname, nn.Parameter(value, requires_grad=False))
        for bname, buf in list(module.named_buffers(recurse=False)):
            if buf.is_meta:
                module._buffers[bname] = torch.zeros(buf.shape, dtype=buf.dtype, device=device)
    rotary = model.model.rotary_emb  # its frequency buffers are computed, not stored
    with torch.device(device):
        model.model.rotary_emb = type(rotary)(config=model.config)
    return bnb is not None


def build_llama(sizes: dict, layers: int | None, device: str, quantise: bool, rank: int):
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from systems.components.hf_text import prepare_lora

    config = LlamaConfig(**{**sizes, "num_hidden_layers": layers or sizes["num_hidden_layers"]})
    config.num_labels = 8
    with torch.device("meta"):
        model = LlamaForSequenceClassification(config)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    quantised = _quantise_linears(model, device, quantise, dtype)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    with torch.device(device):
        model = prepare_lora(
            model, rank=rank, alpha=rank, dropout=0.1, target_modules=list(LLAMA_TARGETS)
        )
    return model, config, quantised


def build_sonar(tiny: bool, device: str):
    import torch

    from systems.components.params import yaml_params
    from systems.components.sonar_pooler import (
        build_pooler,
        build_sonar_encoder,
        sonar_encoder_config,
    )
    from systems.components.speech_model import MODEL_PARAMS, build_model

    params = yaml_params("audio_sonar")
    encoder = build_sonar_encoder(sonar_encoder_config(**(TINY_SONAR if tiny else {})))
    pooler = build_pooler(
        encoder.config.hidden_size, None if not tiny else {"num_heads": 2, "ffn_dim": 64}
    )
    settings = {k: params[k] for k in MODEL_PARAMS if k != "pooling"}
    torch.manual_seed(0)
    model = build_model(encoder, outputs=10, task="categorical", pooling="mean", **settings)
    model.head.pool = pooler
    pooler.requires_grad_(False)
    return model.to(device)


def _time_steps(model, make_batch, loss_fn, steps: int, warmup: int, cuda: bool) -> dict:
    import torch

    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-4)
    model.train()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(warmup + steps):
        batch = make_batch()
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext():
            loss = loss_fn(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    from systems.components.lora import count_parameters

    trainable, total = count_parameters(model)
    return {
        "median_step_seconds": round(statistics.median(times), 4),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "final_loss": round(float(loss.detach()), 4),
    }


def run_llama(args, cuda: bool) -> dict:
    import torch
    import torch.nn.functional as F

    from systems.components.hf_text import forward_logits
    from systems.components.text_batching import pad

    sizes = TINY_LLAMA if args.tiny else LLAMA2_70B
    started = time.perf_counter()
    model, config, quantised = build_llama(
        sizes, args.llama_layers, args.device, not args.no_quant, args.llama_rank
    )
    build = time.perf_counter() - started
    generator = torch.Generator().manual_seed(0)

    def make_batch():
        lengths = torch.randint(
            args.seq_len // 2, args.seq_len + 1, (args.llama_batch,), generator=generator
        )
        seqs = [
            [1] + torch.randint(3, 32000, (int(n) - 1,), generator=generator).tolist()
            for n in lengths
        ]
        batch = pad(seqs, pad_id=2, side="right")
        batch["labels"] = torch.randint(0, 8, (args.llama_batch,), generator=generator)
        return {k: v.to(args.device) for k, v in batch.items()}

    def loss_fn(model, batch):
        return F.cross_entropy(forward_logits(model, batch, decoder=True).float(), batch["labels"])

    result = _time_steps(model, make_batch, loss_fn, args.steps, args.warmup, cuda)
    return {
        "model": "tiny llama" if args.tiny else "llama-2-70b (random weights)",
        "decoder_layers": config.num_hidden_layers,
        "of_layers": sizes["num_hidden_layers"],
        "quantised": quantised,
        "quantisation": "nf4, double quantisation, bf16 compute" if quantised else None,
        "lora_rank": args.llama_rank,
        "batch_size": args.llama_batch,
        "seq_len": args.seq_len,
        "gradient_checkpointing": True,
        "build_seconds": round(build, 1),
        **result,
    }


def run_sonar(args, cuda: bool) -> dict:
    import torch
    import torch.nn.functional as F

    model = build_sonar(args.tiny, args.device)
    frames = int(args.sonar_seconds * 50)  # 160-dim stacked filterbanks, 50 per second
    generator = torch.Generator().manual_seed(0)

    def make_batch():
        features = torch.randn(args.sonar_batch, frames, 160, generator=generator)
        return {
            "input_features": features.to(args.device),
            "attention_mask": torch.ones(
                args.sonar_batch, frames, dtype=torch.long, device=args.device
            ),
            "labels": torch.randint(0, 10, (args.sonar_batch,), generator=generator).to(
                args.device
            ),
        }

    def loss_fn(model, batch):
        output = model(
            input_features=batch["input_features"], attention_mask=batch["attention_mask"]
        )
        return F.cross_entropy(output["output"].float(), batch["labels"])

    result = _time_steps(model, make_batch, loss_fn, args.steps, args.warmup, cuda)
    return {
        "model": "tiny sonar" if args.tiny else "sonar speech encoder english (random weights)",
        "lora_rank": 32,
        "batch_size": args.sonar_batch,
        "seconds_per_utterance": args.sonar_seconds,
        **result,
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("llama", "sonar"), default=None)
    parser.add_argument(
        "--llama-layers", type=int, default=None, help="decoder layers to build (default: all 80)"
    )
    parser.add_argument("--llama-batch", type=int, default=16)
    parser.add_argument("--llama-rank", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--sonar-batch", type=int, default=16)
    parser.add_argument("--sonar-seconds", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--no-quant", action="store_true", help="plain bf16 linears (no bitsandbytes)"
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny sizes, to check the script on a CPU"
    )
    args = parser.parse_args(argv)

    import torch

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run on a GPU machine, or pass --tiny --device cpu")
    results = []
    for name, runner in (("sonar", run_sonar), ("llama", run_llama)):
        if args.only in (None, name):
            result = {
                "device": torch.cuda.get_device_name() if cuda else "cpu",
                **runner(args, cuda),
            }
            print(json.dumps(result), flush=True)
            results.append(result)
            if cuda:
                torch.cuda.empty_cache()
    return results


if __name__ == "__main__":
    main()
