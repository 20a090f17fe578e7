"""The import rules that keep each part replaceable (README, Layout)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fresh_modules(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["harness.runner", "harness.cli"])
def test_the_engine_loads_no_system_module(module):
    loaded = _fresh_modules(f"import {module}")
    assert module in loaded
    assert not [m for m in loaded if m == "systems" or m.startswith("systems.")]


def test_the_cli_imports_no_heavy_library():
    loaded = _fresh_modules("import harness.cli")
    heavy = {"torch", "transformers", "peft", "sklearn", "opensmile", "faster_whisper"}
    assert not heavy & {m.split(".")[0] for m in loaded}


def test_scoring_imports_nothing_of_the_project_and_no_torch():
    loaded = _fresh_modules("import scoring")
    tops = {m.split(".")[0] for m in loaded}
    assert not tops & {"harness", "systems", "leaderboards", "torch"}


def _module_imports(path: Path, package: str) -> set[str]:
    """Project modules a file imports at module level (function-level imports are lazy by design)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] == package}


def _graph(package: str) -> dict[str, set[str]]:
    modules = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return {
        name: {m for m in _module_imports(path, package) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_no_import_cycles_in_the_harness():
    graph = _graph("harness")
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend(
                    stack[stack.index(nxt) :] + [node, nxt] if nxt in stack else [node, nxt]
                )
                return True
            if state.get(nxt) is None and visit(nxt, [*stack, node]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if state.get(node) is None and visit(node, []):
            break
    assert not cycle, " -> ".join(cycle)


def test_the_harness_never_imports_systems_at_module_level():
    offenders = []
    for path in (ROOT / "harness").rglob("*.py"):
        if _module_imports(path, "systems"):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_systems_never_use_the_cli_or_the_runner():
    forbidden = ("harness.cli", "harness.runner")
    offenders = []
    for path in (ROOT / "systems").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        offenders += [
            f"{path.name}: {f}" for f in forbidden if f"import {f}" in text or f"from {f} " in text
        ]
    assert offenders == []


def test_leaderboards_train_nothing():
    for path in (ROOT / "leaderboards").rglob("*.py"):
        assert not _module_imports(path, "systems"), path
