"""A digest of the source code a system's predictions depend on, for its cache key.

Why: a member's cached predictions are reused whenever its inputs are the same, and the code that
produced them is one of its inputs. Keyed on the package version alone, an edited system (a fixed
bug, a changed default pooling) would silently keep serving predictions made by the old code, and
a fusion would be scored on them. So the key carries a hash of the system's module and of every
module of this project it imports, found by reading the import statements (also those inside
functions, where heavy imports are deferred) rather than by importing anything. Editing one
system leaves the other systems' cache entries valid; editing a shared component invalidates
every system that uses it.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import cache
from pathlib import Path

PROJECT_PACKAGES = ("harness", "systems", "scoring")
"""Top-level packages whose modules are followed; anything else is a dependency, not our code."""

NOT_FOLLOWED = frozenset({"harness.registry"})
"""Modules that change no prediction: the registry maps names to classes (whose own modules are
hashed), and registering a new system must not make every cached member stale."""


def source_digest(module: str, packages: tuple[str, ...] = PROJECT_PACKAGES) -> str:
    """SHA-256 (20 hex digits) over the names and bytes of :func:`source_files`."""
    hasher = hashlib.sha256()
    for name, path in source_files(module, packages):
        hasher.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hasher.hexdigest()[:20]


@cache
def source_files(module: str, packages: tuple[str, ...] = PROJECT_PACKAGES) -> tuple:
    """``(module name, file)`` of ``module`` and of every project module it imports, in name
    order. Cached per process: the source does not change under a running harness."""
    found: dict[str, Path] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        if name in found or name in NOT_FOLLOWED:
            continue
        path = _module_file(name)
        if path is None:
            continue
        found[name] = path
        pending.extend(_imports(name, path, packages))
    return tuple(sorted(found.items()))


def forget() -> None:
    """Drop what this process has read (for tests that write modules)."""
    source_files.cache_clear()
    _package_dir.cache_clear()


def _module_file(name: str) -> Path | None:
    """The file of module ``name``, found from its top-level package's directory, so that
    nothing is imported (``importlib.util.find_spec`` imports a dotted name's parents)."""
    top, *rest = name.split(".")
    root = _package_dir(top)
    if root is None:
        return None
    base = root.joinpath(*rest)
    for candidate in (base / "__init__.py", base.with_suffix(".py") if rest else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


@cache
def _package_dir(top: str) -> Path | None:
    spec = importlib.util.find_spec(top)  # a top-level name: no parent to import
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _imports(name: str, path: Path, packages: tuple[str, ...]) -> list[str]:
    """Project modules named by the import statements of ``path`` (module ``name``)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)  # submodules, if any
    return [n for n in names if n.split(".")[0] in packages]
