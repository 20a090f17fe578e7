"""User-facing errors.

A researcher who passes a wrong path or a broken CSV needs one line that says what to fix, not a
traceback. Every error the user can fix is a ``HarnessError``; the CLI prints ``str(error)`` and
exits with status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from os import PathLike


class HarnessError(Exception):
    """An error caused by input the user controls, with where it happened and how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | PathLike | None = None,
        row: int | str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        text = ": ".join([*where, self.message]) if where else self.message
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class MissingDependencyError(HarnessError):
    """An optional extra is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package '{package}'",
            fix=f"pip install 'ser-harness[{extra}]'",
        )


class MissingModelError(HarnessError):
    """Model weights are not available locally; the harness never downloads at run time."""

    def __init__(self, name: str, param: str) -> None:
        super().__init__(
            f"model weights for '{name}' are not available offline",
            fix=f"download them once and pass a local directory with {param}=/path/to/model "
            "(or place them in the Hugging Face hub cache)",
        )


def require(module: str, extra: str, purpose: str):
    """Import an optional module or raise a one-line install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module.split(".")[0], extra, purpose) from exc


def first_line(exc: BaseException) -> str:
    """The first line of a library's exception, to quote inside a one-line error (a
    transformers message can run to a paragraph)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def did_you_mean(key: str, known: Iterable[str]) -> str | None:
    """The known key a mistyped ``key`` most likely meant (``corpus_pth`` -> ``corpus_path``),
    or None: an unknown key is otherwise taken for a system parameter, and the error then lists
    only the system's parameters, not the one the user reached for."""
    matches = difflib.get_close_matches(key, sorted(set(known)), n=1, cutoff=0.75)
    return matches[0] if matches else None
