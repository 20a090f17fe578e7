"""Checks that read a local model's config (and tokenizer), never its weights.

Why: a directory that is not the model it should be, a layer index the encoder does not have, or
LoRA targets that match none of its modules used to surface only when ``fit`` loaded the weights:
after the corpus was read and, for a frozen encoder, after every utterance was encoded. Reading
``config.json`` and building the network on the meta device costs a second, so
``System.check_ready`` does it and the run fails in one line before anything is built.

LoRA targets are matched the way peft matches them (``peft.tuners.tuners_utils``): a list entry
names a module whose full name is the entry or ends in ``.<entry>``; a string is a regular
expression over full names; ``all-linear`` is every linear layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from harness.errors import HarnessError, first_line


def read_config(path: str, *, param: str, what: str):
    """The transformers config in ``path`` (a local directory already resolved by
    :func:`~systems.components.local_weights.local_model`), or one error line naming ``param``."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise HarnessError(
            f"cannot read {what} config from this directory ({first_line(exc)})",
            file=path,
            fix=f"pass {param}= a directory saved by transformers (config.json with a model_type)",
        ) from None


WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""The files transformers loads a PyTorch model's weights from (one file, or a sharded index)."""


def check_weights(path: str, *, param: str, what: str) -> None:
    """``path`` holds weights transformers can load, or one error line naming ``param``: a
    download that stopped after ``config.json``, or a folder of the config and tokenizer alone,
    passed every check and failed only when ``fit`` loaded the model, after the corpus was read."""
    from pathlib import Path

    folder = Path(path)
    if folder.is_dir() and not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise HarnessError(
            f"{what} directory without weights: none of {', '.join(WEIGHT_FILES)}",
            file=path,
            fix=f"pass {param}= a directory saved by transformers with its weights "
            "(save_pretrained, or a complete download)",
        )


def check_tokenizer(path: str, *, param: str) -> None:
    """The tokenizer in ``path`` loads offline, or one error line naming ``param``."""
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(
            f"cannot load the tokenizer in this directory ({first_line(exc)})",
            file=path,
            fix=f"pass {param}= a model directory that holds its tokenizer files",
        ) from None


def meta_modules(build: Callable[[], Any]) -> list[tuple[str, Any]]:
    """``named_modules()`` of the network ``build()`` makes, built on the meta device: the
    module tree of a 70B model without one byte of its weights."""
    import torch

    with torch.device("meta"):
        model = build()
    return list(model.named_modules())


def target_matches(target: str, names: Sequence[str]) -> bool:
    """Whether one list entry of ``target_modules`` names a module, as peft decides it."""
    return any(name == target or name.endswith(f".{target}") for name in names)


def check_lora_targets(
    targets: Sequence[str] | str,
    modules: list[tuple[str, Any]],
    *,
    param: str,
    model: str,
    default: Sequence[str] | str,
) -> None:
    """Every LoRA target names a module of ``modules``; otherwise one error line whose fix is
    ``default`` (the system's YAML value) where that matches, else the model's own linear
    layers (which always do)."""
    names = [name for name, _ in modules]
    if isinstance(targets, str):
        if targets == "all-linear":
            return
        missing = [] if any(re.fullmatch(targets, name) for name in names) else [targets]
    else:
        missing = [t for t in targets if not target_matches(str(t), names)]
    if not missing:
        return
    linear = linear_leaves(modules)
    suggestion = linear
    if not isinstance(default, str) and all(target_matches(str(t), names) for t in default):
        suggestion = list(default)
    raise HarnessError(
        f"{param}: {', '.join(map(str, missing))} names no module of {model} "
        f"(its linear layers: {', '.join(linear)})",
        fix=f"pass {param}=[{','.join(map(str, suggestion))}]",
    )


def linear_leaves(modules: list[tuple[str, Any]]) -> list[str]:
    """The last name part of every linear layer, in first-seen order (``q_proj``, ``linear_q``),
    leaving out a classification head, which trains fully rather than through adapters."""
    import torch

    from systems.components.hf_text import HEAD_NAMES

    seen: dict[str, None] = {}
    for name, module in modules:
        if isinstance(module, torch.nn.Linear) and name:
            parts = name.split(".")
            if not set(parts) & set(HEAD_NAMES):
                seen.setdefault(parts[-1], None)
    return list(seen)
