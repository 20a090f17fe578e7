"""LoRA set-up through peft, and parameter counting that works on the meta device."""

from __future__ import annotations

from collections.abc import Sequence


def apply_lora(
    model,
    *,
    rank: int,
    alpha: int,
    dropout: float,
    target_modules: Sequence[str] | str,
    modules_to_save: Sequence[str] | None = None,
):
    """Wrap ``model`` with LoRA adapters; ``modules_to_save`` (heads) stay fully trainable."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules)
        if not isinstance(target_modules, str)
        else target_modules,
        modules_to_save=list(modules_to_save) if modules_to_save else None,
        bias="none",
    )
    return get_peft_model(model, config)


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; valid for models on the meta device."""
    trainable = total = 0
    for parameter in model.parameters():
        n = parameter.numel()
        total += n
        if parameter.requires_grad:
            trainable += n
    return trainable, total
