"""Configuration: YAML defaults, the system's YAML, a profile, then ``key=value`` overrides.

Why this order: the harness defaults say how to run, the system's YAML says what the paper did,
a profile (``demo``, ``odyssey_baseline``) swaps in a configuration that runs elsewhere, and the
command line wins. Values are parsed as YAML, so ``epochs=2``, ``members=[a,b]`` and
``target_prior=none`` all mean what they look like. The fully resolved config is what gets saved
with a run, so a result can always be traced to its exact settings.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError, did_you_mean, first_line


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_CACHE", Path.home() / ".cache" / "harness")).expanduser()


NAME_KEYS = frozenset(
    {"system", "profile", "corpus", "corpus_path", "challenge", "output_dir", "cache_dir", "track"}
    | {"out", "runs", "labels", "ids", "split", "splits", "language"}
)
NAME_SUFFIXES = ("_dir", "_csv", "_path", "_list", "_name", "backbone", "encoder", "model")


def names_a_thing(key: str) -> bool:
    """Whether the value of ``key`` is a name or a path, which YAML must not turn into a
    number: a folder called ``2024`` or a model called ``7``."""
    last = key.rsplit(".", 1)[-1]
    return last in NAME_KEYS or last.endswith(NAME_SUFFIXES)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x,y]"]`` -> ``{"a.b": 1, "c": ["x", "y"]}`` (keys stay dotted)."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise HarnessError(
                f"cannot parse argument {item!r}", fix="write overrides as key=value, e.g. seed=1"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, int | float) and not isinstance(value, bool) and names_a_thing(key):
            value = raw.strip()  # corpus_path=2024 is a folder, not the number 2024
        if isinstance(value, str) and value.startswith("~") and names_a_thing(key):
            # bash expands output_dir=~/runs, but sh, zsh and a quoted argument pass the "~" on,
            # and a path kept as "~/runs" would be made relative to the working directory
            value = os.path.expanduser(value)
        overrides[key] = value
    return overrides


def system_config_path(name: str) -> Path | None:
    path = resources.files("systems").joinpath("configs", f"{name}.yaml")
    return Path(str(path)) if path.is_file() else None


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise HarnessError(f"invalid YAML ({first_line(exc)})", file=path) from None
    if not isinstance(data, dict):
        raise HarnessError("expected a mapping at the top level", file=path)
    return data


def defaults() -> dict[str, Any]:
    return load_yaml(Path(str(resources.files("harness").joinpath("defaults.yaml"))))


def system_defaults(name: str) -> dict[str, Any]:
    path = system_config_path(name)
    return load_yaml(path) if path else {}


def resolve(overrides: dict[str, Any]) -> dict[str, Any]:
    """Merge defaults, the system's YAML, its profile and the overrides into one dict."""
    config = defaults()
    overrides = dict(overrides)
    name = overrides.pop("system", None) or config.get("system")
    if not name:
        from harness.params import override

        slip = next((k for k in overrides if did_you_mean(k, ["system"])), None)
        raise HarnessError(
            f"no system given ({slip}= is not a key)" if slip else "no system given",
            fix=f"harness run {override('system', overrides[slip])}"
            if slip
            else "harness run system=NAME (see `harness ls`)",
        )
    from harness import registry

    registry.target("systems", name)  # one clear error for an unknown name
    own = system_defaults(name)
    config["system"] = name
    config["params"] = dict(own.get("params") or {})
    config["members"] = list(own.get("members") or [])
    config["system_tasks"] = list(own.get("tasks") or [])
    profiles = own.get("profiles") or {}

    # Non-param keys first, so that corpus/profile are known before the profile is chosen.
    param_overrides = {}
    for key, value in overrides.items():
        head = key.split(".")[0]
        if head in config and head not in ("params",):
            _set_dotted(config, key, value)
        elif key.startswith("params."):
            param_overrides[key[len("params.") :]] = value
        else:
            param_overrides[key] = value  # bare keys that are not harness keys go to the system

    profile = config.get("profile", "auto")
    if profile is not None and not isinstance(profile, str):
        raise HarnessError(
            f"profile={profile!r} is not a profile name",
            fix=f"choose one of {', '.join(['auto', 'none', *profiles])}",
        )
    chosen = profile not in ("auto", None)
    if profile == "auto":
        profile = "demo" if config.get("corpus") == "demo" and "demo" in profiles else None
    elif profile in (None, "none", "paper"):
        profile = None
    elif profile not in profiles:
        meant = did_you_mean(profile, profiles)
        raise HarnessError(
            f"system {name!r} has no profile {profile!r}",
            fix=f"pass profile={meant} (the profiles: {', '.join(['none', *profiles])})"
            if meant
            else f"pass profile= one of {', '.join(['none', *profiles])}"
            if profiles
            else f"remove profile={profile} ({name} has only its paper values)",
        )
    config["profile"] = profile
    if profile:
        profile_values = copy.deepcopy(profiles[profile])
        profile_values.pop("demo_fallback", None)
        members = profile_values.pop("members", None)
        if members is not None and "members" not in overrides:
            config["members"] = list(members)
        config["params"].update(profile_values)
    if "params" in param_overrides:  # params={C: 2}: the same as C=2, one key at a time
        merged = param_overrides.pop("params")
        if not isinstance(merged, dict):
            raise HarnessError(
                f"params={merged!r} is not a mapping of parameters",
                fix="set them one by one: params.<name>=value (or <name>=value)",
            )
        param_overrides = {**merged, **param_overrides}
    for key, value in param_overrides.items():
        _set_dotted(config["params"], key, value)
    _switch_bars(config)
    _absolute_paths(config)
    config["members"] = _member_list(config.get("members"))
    config["label"] = run_label(name, config["profile"] if chosen else None, param_overrides)
    return config


def _absolute_paths(config: dict[str, Any]) -> None:
    """``corpus_path`` and ``cache_dir`` as absolute paths: the saved config.yaml must name the
    corpus wherever it is read from (``harness compare`` reads a run's corpus again; a run is
    re-run from its config), and ``corpus_path=MSP`` from the directory of the run means nothing
    from another one."""
    for key in ("corpus_path", "cache_dir"):
        value = config.get(key)
        if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
            config[key] = os.path.abspath(os.path.expanduser(value))


def _switch_bars(config: dict[str, Any]) -> None:
    """``progress=false`` for the run turns off the bars a system draws itself too."""
    if config.get("progress") is False and "progress" in config["params"]:
        config["params"]["progress"] = False


def _member_list(members: Any) -> list:
    """``members=text_tfidf`` is one member, not the letters of its name."""
    if members is None:
        return []
    if isinstance(members, str | dict):
        return [members]
    if not isinstance(members, list):
        raise HarnessError(
            f"members={members!r} is not a list of systems",
            fix="pass members=[text_tfidf,audio_egemaps]",
        )
    return members


def run_label(name: str, profile: str | None, overrides: dict[str, Any]) -> str:
    """How a run is named in tables: ``system[@profile][(key=value,...)]`` with the profile and
    parameters the user chose, so two configurations of one system are two leaderboard rows."""
    label = f"{name}@{profile}" if profile else name
    shown = {k: v for k, v in overrides.items() if k != "seed"}
    if shown:
        label += "(" + ",".join(f"{k}={_compact(shown[k])}" for k in sorted(shown)) + ")"
    return label


def _compact(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000)
        .strip()
        .removesuffix("...")
        .strip()
    )


# -- fusion members ---------------------------------------------------------------------------
# A member is a registry name, ``name@profile``, or a mapping {system, profile, params}. Its label
# (the string form) names it in member_params, metrics.json, the cache key and the leaderboard.
MemberSpec = str | dict


def member_name(spec: MemberSpec) -> str:
    """The registry name of a member spec."""
    return _parse_member(spec)[0]


def member_label(spec: MemberSpec) -> str:
    """``name``, ``name@profile`` or ``name@profile(key=value,...)``: how a member is shown."""
    name, profile, params = _parse_member(spec)
    label = f"{name}@{profile}" if profile else name
    if params:
        label += "(" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + ")"
    return label


def _parse_member(spec: MemberSpec) -> tuple[str, str | None, dict[str, Any]]:
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - {"system", "profile", "params"})
        if unknown or not isinstance(spec.get("system"), str):
            raise HarnessError(
                f"fusion member {spec!r} is not a member spec",
                fix="write members=[text_tfidf,text_llm@llama2_70b] or "
                "{system: NAME, profile: NAME, params: {...}} in YAML",
            )
        return spec["system"], spec.get("profile"), dict(spec.get("params") or {})
    if not isinstance(spec, str) or not spec:
        raise HarnessError(
            f"fusion member {spec!r} is not a system name",
            fix="write members=[text_tfidf,audio_egemaps]",
        )
    name, _, profile = spec.partition("@")
    return name, profile or None, {}


def member_config(config: dict[str, Any], member: MemberSpec) -> dict[str, Any]:
    """The config a fusion member runs with: its own YAML, its own profile, member_params.

    The fusion's profile never reaches a member (it chooses the members). A member without
    ``@profile`` runs as it would alone (``demo`` on the demo corpus). A profile may name the
    profile that stands in for it on the demo corpus (``demo_fallback: demo``), for
    configurations such as a 70B model that cannot run there.
    """
    name, profile, params = _parse_member(member)
    label = member_label(member)
    requested = profile
    if profile and config.get("corpus") == "demo":
        fallback = (system_defaults(name).get("profiles") or {}).get(profile, {})
        if isinstance(fallback, dict) and fallback.get("demo_fallback"):
            profile = fallback["demo_fallback"]
    overrides: dict[str, Any] = {
        "system": name,
        "corpus": config["corpus"],
        "profile": profile or "auto",
    }
    member_params = config.get("member_params") or {}
    for key, value in {
        **params,
        **member_params.get(name, {}),
        **member_params.get(label, {}),
    }.items():
        overrides[f"params.{key}"] = value
    resolved = resolve(overrides)
    for key in RUN_KEYS:
        resolved[key] = copy.deepcopy(config.get(key))
    _switch_bars(resolved)
    resolved["members"] = []
    resolved["member_label"] = label
    if requested and requested != profile:
        resolved["requested_profile"] = requested
    return resolved


def system_modalities(config: dict[str, Any]) -> tuple[str, ...]:
    """What a run reads (``audio``, ``text``): a ``modalities`` parameter (an ablation) wins over
    the class's declaration; a fusion reads what its members read. A member that declares
    nothing is taken to read everything. One answer for ASR (skip it when nothing reads text),
    the cache key (leave transcripts out of it then) and the challenge track."""
    from harness import registry
    from harness.system import FusionSystem

    system_cls = registry.get("systems", config["system"])
    if issubclass(system_cls, FusionSystem):
        found: set[str] = set()
        for spec in config.get("members") or []:
            found |= set(system_modalities(member_config(config, spec)) or ("audio", "text"))
        return tuple(sorted(found))
    declared = (config.get("params") or {}).get("modalities")
    if declared:
        return tuple(sorted([declared] if isinstance(declared, str) else declared))
    return tuple(sorted(system_cls.modalities))


RUN_KEYS = (
    "corpus",
    "corpus_path",
    "corpus_options",
    "demo",
    "challenge",
    "seed",
    "devbal_n",
    "target_prior",
    "asr",
    "asr_params",
    "bootstrap",
    "cache_dir",
    "output_dir",
    "force",
    "progress",
)
"""Keys a member inherits from its fusion's run: how to run, not what to run."""


def dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _set_dotted(target: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        node = target.get(part)
        if not isinstance(node, dict):
            node = {}
            target[part] = node
        target = node
    target[parts[-1]] = value
