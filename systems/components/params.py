"""A system's parameters come from its YAML (``systems/configs/NAME.yaml``) and nowhere else.

Why: a paper value written in two places drifts. Systems' ``__init__`` take keyword arguments
without defaults; tests, benchmarks and helpers that build a system outside the runner read the
values here, from the same file the runner reads.
"""

from __future__ import annotations

import copy
from typing import Any

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
