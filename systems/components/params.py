"""A system's parameters come from its YAML (``systems/configs/NAME.yaml``) and nowhere else.

Why: a paper value written in two places drifts. Systems' ``__init__`` take keyword arguments
without defaults; tests, benchmarks and helpers that build a system outside the runner read the
values here, from the same file the runner reads.
"""

from __future__ import annotations

import copy
from typing import Any

from harness.params import number

PROFILE_KEYS: tuple[str, ...] = ("members", "demo_fallback")
"""Profile keys that are not system parameters: a fusion's members, and the profile that
stands in for this one on the demo corpus."""


def yaml_params(name: str, profile: str | None = None, **overrides: Any) -> dict[str, Any]:
    """``params`` of ``NAME.yaml``, then the named profile's values, then ``overrides``.

    A profile's :data:`PROFILE_KEYS` are read by the harness, not the system, and are left out.
    """
    from harness.config import system_defaults
    from harness.errors import HarnessError

    config = system_defaults(name)
    params = copy.deepcopy(config.get("params") or {})
    if profile is not None:
        profiles = config.get("profiles") or {}
        if profile not in profiles:
            raise HarnessError(
                f"system {name!r} has no profile {profile!r}",
                fix=f"choose one of {', '.join(profiles) or '(none)'}",
            )
        values = copy.deepcopy(profiles[profile])
        for key in PROFILE_KEYS:
            values.pop(key, None)
        params.update(values)
    params.update(overrides)
    return params


def store_params(system: Any, values: dict[str, Any]) -> None:
    """Store every ``__init__`` argument under its own name (``values`` is the caller's
    ``locals()``), the scikit-learn way: no validation, no conversion, no work."""
    for name in type(system).param_names():
        setattr(system, name, values[name])


# -- what shared kinds of parameter accept (harness.params rules) ------------------------------
PROBABILITY = number(ge=0, le=1)
DROPOUT = number(ge=0, lt=1)
"""A dropout of 1 zeroes its input."""

_CONFIG_SIZES = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "conv_depthwise_kernel_size",
)
_CONFIG_LISTS = ("conv_dim", "conv_stride", "conv_kernel")


def model_config_rule(
    what: str = "encoder config",
    *,
    model_types: tuple[str, ...] | None = (),
    odd_kernel: bool = False,
):
    """A transformers config written as a mapping (a ``scratch_config``): other keys pass
    through to the config class, but the sizes, where given, are integers >= 1, the width
    splits over the heads, and the convolution lists are integers >= 1 of one length, so that
    a typo fails at the check rather than inside the model's constructor.

    ``model_types``: ``()`` any ``model_type`` name; a tuple, the ones the loader picks a class
    by; ``None``, the key is refused (the class is fixed). ``odd_kernel``: a "same"-padded
    depthwise convolution (SONAR's) needs an odd kernel."""
    from collections.abc import Mapping

    from harness.params import Rule, integer, items

    size, sizes = integer(ge=1), items(integer(ge=1))

    def accepts(value: Any) -> bool:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            return False
        if not all(size.accepts(value[k]) for k in _CONFIG_SIZES if k in value):
            return False
        width, heads = value.get("hidden_size"), value.get("num_attention_heads")
        if width is not None and heads is not None and width % heads:
            return False
        lists = [value[k] for k in _CONFIG_LISTS if k in value]
        if not all(sizes.accepts(v) for v in lists) or len({len(v) for v in lists}) > 1:
            return False
        if odd_kernel and value.get("conv_depthwise_kernel_size", 1) % 2 != 1:
            return False
        if "model_type" not in value:
            return True
        kind = value["model_type"]
        if model_types is None:
            return False
        return isinstance(kind, str) and bool(kind) and (not model_types or kind in model_types)

    words = f"a mapping of {what} settings (sizes integers >= 1, hidden_size divisible by "
    words += "num_attention_heads, conv_dim/conv_stride/conv_kernel of one length"
    words += ", an odd conv_depthwise_kernel_size" if odd_kernel else ""
    if model_types:
        words += f", model_type one of {', '.join(model_types)}"
    elif model_types is None:
        words += ", no model_type"
    return Rule(accepts, words + ")")
