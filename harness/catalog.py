"""What each registered system offers, for ``harness ls systems`` and ``harness ls NAME``.

Why: a system's paper values and profiles live in its YAML, and what each parameter accepts in
its class's ``param_rules``; a researcher writing ``key=value`` overrides should see both in one
place, as the run will resolve them, without reading the source.
"""

from __future__ import annotations

from typing import Any

from harness import registry
from harness.errors import HarnessError, did_you_mean


def systems_overview() -> list[dict[str, Any]]:
    """One row per registered system: what it does, its tasks, what it reads, its profiles."""
    return [_summary(name, _resolved(name, None)) for name in registry.names("systems")]


def system_card(name: str, profile: str | None = None) -> dict[str, Any]:
    """A system's summary, its fusion members, its profiles' values and, per parameter, the
    value a run on a real corpus uses (the YAML's, or ``profile``'s) and what it accepts."""
    from harness.config import system_defaults

    resolved = _resolved(name, profile)
    card = _summary(name, resolved)
    system_cls = registry.get("systems", name)
    values = resolved["params"]
    card["profile"] = resolved["profile"]
    card["members"] = list(resolved["members"])
    card["profile_values"] = dict(system_defaults(name).get("profiles") or {})
    card["params"] = [
        {
            "name": param,
            "value": values.get(param),
            "accepts": rule.wants if (rule := system_cls.param_rules.get(param)) else "",
        }
        for param in system_cls.param_names()
    ]
    return card


def check_name(name: str) -> str:
    """A registry kind (``systems``, ``corpora``...) or a registered system's name; anything
    else is one line naming both."""
    names = registry.names("systems")
    if name in registry.KINDS or name in names:
        return name
    meant = did_you_mean(name, [*names, "systems", *registry.KINDS])
    raise HarnessError(
        f"harness ls has nothing called {name!r}" + (f": did you mean {meant!r}?" if meant else ""),
        fix="pass harness ls systems, or harness ls NAME with NAME one of " + ", ".join(names),
    )


def _resolved(name: str, profile: str | None) -> dict[str, Any]:
    """The config a run of ``name`` (under ``profile``) resolves to on a real corpus."""
    from harness.config import resolve

    return resolve({"system": name, "profile": profile or "none", "corpus": "msp_podcast"})


def _summary(name: str, resolved: dict[str, Any]) -> dict[str, Any]:
    from harness.config import system_defaults, system_modalities

    own = system_defaults(name)
    return {
        "name": name,
        "description": own.get("description", ""),
        "tasks": list(own.get("tasks") or []),
        "reads": list(system_modalities(resolved)),
        "profiles": list(own.get("profiles") or {}),
    }
