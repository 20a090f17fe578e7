"""One training loop for every neural system: accelerate, accumulation, warm-up, checkpoints.

Why one loop: the audio and text systems differ in model and batch, not in how they train. Sharing
the loop means resume-after-interruption, bf16 autocast, gradient accumulation to a fixed
*effective* batch, and DDP behave the same everywhere.

* Multi-GPU / multi-process goes through ``accelerate launch`` (or ``torchrun``); this code never
  spawns processes. With N processes the per-step accumulation is divided by N, so the effective
  batch (and therefore the result) does not depend on the process count.
* Checkpoints hold only what is trainable (LoRA adapters, heads) in safetensors, plus optimiser and
  scheduler state loaded with ``torch.load(weights_only=True)``; they are written to a temporary
  directory and renamed, so a checkpoint that exists is complete.
* Model selection uses the caller's ``evaluate`` on Development data only.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """How to train; the hyper-parameters come from the system (its YAML), so they have no
    defaults here."""

    epochs: int
    lr: float
    weight_decay: float
    optimizer: str
    """``adam`` (with L2 weight decay, as in the TalTech recipe) or ``adamw``."""
    batch_size: int
    """Per-process micro-batch."""
    effective_batch: int
    """Samples per optimiser step summed over processes and accumulation steps."""
    warmup_fraction: float
    schedule: str
    """Decay after warm-up: ``linear``, ``cosine`` or ``constant``."""
    max_grad_norm: float | None = 1.0
    bf16: bool = True
    """bf16 autocast, only ever used on CUDA."""
    seed: int = 0
    checkpoint_dir: str | None = None
    keep_best: bool = True
    """Restore the epoch with the best ``evaluate`` score at the end."""
    num_workers: int = 0
    cpu: bool = False
    """Force the CPU even when CUDA is present (tests, the CPU DDP check)."""
    progress: bool = True

    def accumulation_steps(self, num_processes: int) -> int:
        return max(1, round(self.effective_batch / (self.batch_size * num_processes)))


def make_accelerator(config: TrainConfig):
    from accelerate import Accelerator

    use_cpu = config.cpu or not torch.cuda.is_available()
    mixed = "bf16" if (config.bf16 and not use_cpu and torch.cuda.is_bf16_supported()) else "no"
    accelerator = Accelerator(cpu=use_cpu, mixed_precision=mixed)
    return accelerator


def trainable_state(model) -> dict[str, torch.Tensor]:
    """Only the parameters that train (adapters, heads): small checkpoints even for 7B models."""
    names = {name for name, p in model.named_parameters() if p.requires_grad}
    state = model.state_dict()
    # Buffers such as BatchNorm running statistics belong to the head and must travel with it.
    buffers = {name for name, _ in model.named_buffers()}
    return {
        k: v.detach().cpu().contiguous() for k, v in state.items() if k in names or k in buffers
    }


def save_trainable(model, path: str | os.PathLike) -> None:
    from safetensors.torch import save_file

    from harness.io import atomic_path

    with atomic_path(path) as tmp:
        save_file(trainable_state(model), str(tmp))


def save_weights(model, path: str | os.PathLike, *, full: bool) -> None:
    """Every tensor (``full``) or only the trainable ones, atomically, in safetensors."""
    if not full:
        save_trainable(model, path)
        return
    from safetensors.torch import save_file

    from harness.io import atomic_path

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def load_trainable(model, path: str | os.PathLike) -> None:
    from safetensors.torch import load_file

    state = load_file(str(path))
    missing = [k for k in state if k not in model.state_dict()]
    if missing:
        raise ValueError(f"checkpoint {path} has unknown tensors, e.g. {missing[:3]}")
    model.load_state_dict(state, strict=False)


def train(
    model: torch.nn.Module,
    dataset,
    collate: Callable[[list], dict[str, Any]],
    loss_fn: Callable[[torch.nn.Module, dict[str, Any]], torch.Tensor],
    config: TrainConfig,
    *,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    description: str = "training",
) -> dict[str, Any]:
    """Train ``model`` in place and return a history (losses, dev scores, best epoch, steps)."""
    from accelerate.utils import set_seed

    accelerator = make_accelerator(config)
    set_seed(config.seed)
    accumulation = config.accumulation_steps(accelerator.num_processes)
    accelerator.gradient_accumulation_steps = accumulation
    generator = torch.Generator().manual_seed(config.seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        collate_fn=collate,
        num_workers=config.num_workers,
        generator=generator,
        drop_last=False,
    )
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = _optimizer(config, parameters)
    steps_per_epoch = math.ceil(len(loader) / accelerator.num_processes / accumulation)
    total_steps = max(1, steps_per_epoch * config.epochs)
    # accelerate's wrapped scheduler ticks once per process for every optimiser step; the schedule
    # is read at tick // processes so that N processes do not warm up and decay N times too fast.
    factor = _schedule(config.schedule, int(config.warmup_fraction * total_steps), total_steps)
    ticks = accelerator.num_processes
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda tick: factor(tick // ticks))
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    history: dict[str, Any] = {
        **{"loss": [], "dev": [], "best_epoch": None, "steps": 0},
        "accumulation_steps": accumulation,
        "num_processes": accelerator.num_processes,
        "config": asdict(config),
    }
    checkpoints = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    start_epoch, history, best_state = _resume_if_any(
        checkpoints, history, accelerator, model, optimizer, scheduler, description
    )
    best_score = max((s for s in history["dev"] if s is not None), default=-math.inf)

    progress = _progress(config.progress and accelerator.is_main_process)
    with progress:
        task = progress.add_task(description, total=(config.epochs - start_epoch) * len(loader))
        for epoch in range(start_epoch, config.epochs):
            # The shuffle order depends on (seed, epoch) only, so a resumed run sees the same batches.
            generator.manual_seed(config.seed + epoch)
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
            if on_epoch_start is not None:
                on_epoch_start(epoch)
            epoch_loss = _train_epoch(
                model,
                loader,
                loss_fn,
                accelerator,
                optimizer,
                scheduler,
                parameters,
                config=config,
                history=history,
                advance=lambda: progress.advance(task),
            )
            history["loss"].append(epoch_loss)
            score = _dev_score(model, evaluate, accelerator)
            history["dev"].append(score)
            if accelerator.is_main_process:
                dev = "-" if score is None else f"{score:.4f}"
                log.info("%s epoch %d: loss %.4f dev %s", description, epoch + 1, epoch_loss, dev)
            if score is not None and score > best_score:
                best_score = score
                history["best_epoch"] = epoch + 1
                if config.keep_best and accelerator.is_main_process:
                    best_state = _keep_best(accelerator.unwrap_model(model), checkpoints)
            if checkpoints and accelerator.is_main_process:
                _checkpoint(
                    checkpoints, epoch + 1, history, accelerator, model, optimizer, scheduler
                )
            accelerator.wait_for_everyone()

    unwrapped = accelerator.unwrap_model(model)
    if config.keep_best and best_state is not None:
        _restore(unwrapped, best_state)
    unwrapped.eval()
    accelerator.free_memory()
    return history


def _resume_if_any(checkpoints, history, accelerator, model, optimizer, scheduler, description):
    """(first epoch to train, history, best state) from ``checkpoints/last`` if a run left one."""
    start_epoch, best_state = 0, None
    if checkpoints and (checkpoints / "last" / "state.json").exists():
        start_epoch, history = _resume(
            checkpoints / "last", accelerator, model, optimizer, scheduler
        )
        log.info(
            "%s: resumed after epoch %d from %s", description, start_epoch, checkpoints / "last"
        )
    if checkpoints and (checkpoints / "best.safetensors").exists():
        best_state = checkpoints / "best.safetensors"
    return start_epoch, history, best_state


def _dev_score(model, evaluate, accelerator) -> float | None:
    """The caller's model-selection score on Development data (None without an evaluator)."""
    if evaluate is None:
        return None
    model.eval()
    with torch.no_grad():
        return float(evaluate(accelerator.unwrap_model(model)))


def _keep_best(model, checkpoints: Path | None):
    """The best epoch's trainable tensors: on disk beside the checkpoints, else in memory."""
    if checkpoints is None:
        return trainable_state(model)
    target = checkpoints / "best.safetensors"
    save_trainable(model, target)
    return target


def _restore(model, best_state) -> None:
    if isinstance(best_state, dict):
        model.load_state_dict(best_state, strict=False)
    else:
        load_trainable(model, best_state)


def _optimizer(config: TrainConfig, parameters):
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use adam or adamw")


def _train_epoch(
    model,
    loader,
    loss_fn,
    accelerator,
    optimizer,
    scheduler,
    parameters,
    *,
    config: TrainConfig,
    history: dict[str, Any],
    advance: Callable[[], None],
) -> float:
    """One pass over ``loader`` with accumulation and clipping; the mean loss over processes."""
    model.train()
    running, batches = 0.0, 0
    for batch in loader:
        with accelerator.accumulate(model):
            with accelerator.autocast():
                loss = loss_fn(model, batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                if config.max_grad_norm:
                    accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
                history["steps"] += 1
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        running += float(loss.detach())
        batches += 1
        advance()
    return float(
        accelerator.gather(
            torch.tensor([running / max(batches, 1)], device=accelerator.device)
        ).mean()
    )


def _schedule(kind: str, warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        raise ValueError(f"unknown schedule {kind!r}; use linear, cosine or constant")

    return factor


def _checkpoint(
    directory: Path, epoch: int, history, accelerator, model, optimizer, scheduler
) -> None:
    tmp = directory / f".epoch{epoch}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_trainable(accelerator.unwrap_model(model), tmp / "trainable.safetensors")
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        },
        tmp / "optimizer.pt",
    )
    (tmp / "state.json").write_text(json.dumps({"epoch": epoch, "history": history}, default=str))
    final = directory / "last"
    old = directory / ".last.old"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def _resume(path: Path, accelerator, model, optimizer, scheduler) -> tuple[int, dict[str, Any]]:
    state = json.loads((path / "state.json").read_text())
    load_trainable(accelerator.unwrap_model(model), path / "trainable.safetensors")
    extra = torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    torch.set_rng_state(extra["rng"])
    return int(state["epoch"]), state["history"]


class _NullProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *args, **kwargs):
        return 0

    def advance(self, *args, **kwargs):
        pass


def _progress(enabled: bool):
    """A bar over the training steps on a terminal; elsewhere (a log file, a captured stream)
    none, where rich would still write a blank line when the bar closes."""
    import sys

    if not enabled or not sys.stderr.isatty():
        return _NullProgress()
    from harness.progress import rich_bar

    return rich_bar("{task.description}")
