"""Where a network runs: the GPU when there is one, unless the system's ``cpu`` flag forces the CPU.

Why one place: every system that runs a network takes the same ``cpu`` parameter, and an encoder
that stays on the CPU of a GPU machine turns an hour of encoding into a day. ``auto`` is resolved
only when a model is loaded, so checking a configuration never imports torch or CTranslate2.
"""

from __future__ import annotations


def torch_device(cpu: bool = False) -> str:
    """``cuda`` when torch sees a GPU and ``cpu`` is not forced, else ``cpu``."""
    if cpu:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def ctranslate2_device(cpu: bool = False) -> str:
    """``cuda`` when CTranslate2 was built with CUDA and sees a GPU, else ``cpu``."""
    if cpu:
        return "cpu"
    import ctranslate2

    try:
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except RuntimeError:  # a CPU-only build, or no usable driver
        return "cpu"


def resolve(device: str, *, runtime: str = "torch") -> str:
    """``auto`` (the GPU where there is one), or ``cpu`` / ``cuda`` / ``cuda:N`` as given."""
    if device != "auto":
        return device
    return ctranslate2_device() if runtime == "ctranslate2" else torch_device()
