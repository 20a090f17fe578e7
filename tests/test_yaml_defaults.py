"""A system's hyper-parameters are written once, in ``systems/configs/NAME.yaml``.

For every registered system: each YAML param is an ``__init__`` parameter, each ``__init__``
default (where one is kept) equals the YAML value, every parameter without a default except
``seed`` (which the runner supplies) is in the YAML, and every profile sets only parameters.
The checker is itself tested on a class that disagrees with its YAML, so it can fail.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from harness import registry
from harness.config import system_defaults
from harness.system import System
from systems.components.params import PROFILE_KEYS

SUPPLIED_BY_THE_RUNNER = ("seed",)


def _plain(value: Any) -> Any:
    """YAML has lists where Python defaults have tuples: compare them as lists."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def mismatches(cls: type[System], config: dict[str, Any]) -> list[str]:
    """Everything on which ``cls.__init__`` and its YAML ``config`` disagree."""
    params = config.get("params") or {}
    signature = inspect.signature(cls.__init__).parameters
    accepted = set(cls.param_names())
    problems = [
        f"YAML param {k!r} is not an __init__ parameter" for k in params if k not in accepted
    ]
    for name in cls.param_names():
        default = signature[name].default
        if default is inspect.Parameter.empty:
            if name not in params and name not in SUPPLIED_BY_THE_RUNNER:
                problems.append(f"{name!r} has no default and is not in the YAML params")
        elif name not in params:
            problems.append(f"{name!r} has a default ({default!r}) but no YAML value")
        elif _plain(default) != _plain(params[name]):
            problems.append(f"{name!r}: __init__ default {default!r} != YAML {params[name]!r}")
    for profile, values in (config.get("profiles") or {}).items():
        unknown = sorted(set(values or {}) - accepted - set(PROFILE_KEYS))
        if unknown:
            problems.append(f"profile {profile!r} sets non-parameters {unknown}")
    return problems


@pytest.mark.parametrize("name", registry.names("systems"))
def test_yaml_is_the_one_source_of_parameter_values(name: str) -> None:
    cls = registry.get("systems", name)
    config = system_defaults(name)
    assert config, f"{name} has no systems/configs/{name}.yaml"
    assert config.get("system") == name
    assert mismatches(cls, config) == []


class _Disagrees(System):
    name = "disagrees"

    def __init__(self, *, C: float = 2.0, step: float = 0.05, window: int, seed: int) -> None:
        self.C, self.step, self.window, self.seed = C, step, window, seed


def test_the_checker_catches_each_kind_of_disagreement() -> None:
    good = {"params": {"C": 2.0, "step": 0.05, "window": 3}}
    assert mismatches(_Disagrees, good) == []
    changed_yaml = {"params": {"C": 1.0, "step": 0.05, "window": 3}}
    assert mismatches(_Disagrees, changed_yaml) == ["'C': __init__ default 2.0 != YAML 1.0"]
    extra = {"params": {**good["params"], "momentum": 0.9}}
    assert mismatches(_Disagrees, extra) == ["YAML param 'momentum' is not an __init__ parameter"]
    missing = {"params": {"C": 2.0, "step": 0.05}}
    assert mismatches(_Disagrees, missing) == [
        "'window' has no default and is not in the YAML params"
    ]
    default_only = {"params": {"step": 0.05, "window": 3}}
    assert mismatches(_Disagrees, default_only) == ["'C' has a default (2.0) but no YAML value"]
    bad_profile = {**good, "profiles": {"demo": {"C": 1.0, "cpu": True, "members": ["a", "b"]}}}
    assert mismatches(_Disagrees, bad_profile) == ["profile 'demo' sets non-parameters ['cpu']"]
