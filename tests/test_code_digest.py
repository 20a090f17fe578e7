"""The member cache key follows the code: editing a system or a module it imports makes a new key,
editing an unrelated module does not, and finding the modules imports none of them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from harness import registry
from harness.code_digest import forget, source_digest, source_files


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "pkgx"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": """
            import json

            from pkgx.sub import helper


            def heavy():
                from . import b  # deferred, as torch imports are

                return b.VALUE, helper.X, json
        """,
        "b.py": "VALUE = 1\n",
        "c.py": "UNRELATED = 1\n",
        "sub/__init__.py": "",
        "sub/helper.py": "X = 2\n",
    }
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    forget()
    yield root
    forget()


def test_source_files_follow_imports_without_importing(package):
    names = [name for name, _ in source_files("pkgx.a", ("pkgx",))]
    assert names == ["pkgx", "pkgx.a", "pkgx.b", "pkgx.sub", "pkgx.sub.helper"]
    assert "pkgx.a" not in sys.modules


def test_editing_an_imported_module_changes_the_digest_and_an_unrelated_one_does_not(package):
    before = source_digest("pkgx.a", ("pkgx",))
    (package / "c.py").write_text("UNRELATED = 2\n")
    forget()
    assert source_digest("pkgx.a", ("pkgx",)) == before
    (package / "b.py").write_text("VALUE = 3\n")
    forget()
    assert source_digest("pkgx.a", ("pkgx",)) != before


def test_a_systems_sources_are_its_own_module_and_what_it_imports():
    names = {name for name, _ in source_files("systems.text_tfidf")}
    assert {"systems.text_tfidf", "systems.components.features", "harness.prior"} <= names
    assert "systems.audio_w2vbert" not in names
    assert "harness.registry" not in names  # registering a system leaves other keys valid
    # Reading the sources imports nothing heavy (a fresh interpreter, so the check can fail).
    code = (
        "import sys; from harness.code_digest import source_digest; "
        "source_digest('systems.text_llm'); "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'systems.text_llm') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_member_key_carries_the_code_digest(demo_corpus_small, monkeypatch):
    import harness.code_digest
    from harness.config import resolve
    from harness.members import member_key
    from harness.splits import make_splits

    challenge = registry.get("challenges", "odyssey2024")
    splits = make_splits(demo_corpus_small, challenge, 4, 0)
    config = resolve({"system": "text_tfidf", "corpus": "msp_podcast"})
    key, payload = member_key(config, demo_corpus_small, splits, "categorical", challenge.classes)
    assert payload["code"] == source_digest("systems.text_tfidf")
    monkeypatch.setattr(harness.code_digest, "source_digest", lambda module: "edited")
    edited, _ = member_key(config, demo_corpus_small, splits, "categorical", challenge.classes)
    assert edited != key
