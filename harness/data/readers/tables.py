"""Strict CSV tables for the corpus readers: every cell as a string, with its line in the file.

CSV files are parsed with the ``csv`` module, not pandas, so that the line numbers stay exact even
with blank lines or quoted multi-line cells; every check here raises one :class:`HarnessError`
that names the file, the line (the header is line 1) and the fix.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

MISSING = {"", "nan", "na", "n/a", "none", "null"}
"""Cell values read as "no value" in numeric columns (case-insensitive)."""


@dataclass
class Table:
    """A CSV file as strings, with the line number of every record (the header is line 1)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str) -> list[str]:
        i = self.header.index(name)
        return [row[i] for row in self.rows]


def read_table(path: Path, required: Sequence[str], *, what: str = "CSV file") -> Table:
    """Parse ``path`` strictly: UTF-8, the ``required`` columns, one field per column per line."""
    import csv
    import io

    text = read_utf8(path, what)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise HarnessError(
            f"empty {what}", file=path, row=1, fix=f"the first line must be {','.join(required)}"
        ) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise HarnessError(
            f"missing column(s) {', '.join(missing)}; the header has {','.join(header)}",
            file=path,
            row=1,
            fix=f"the header must contain {','.join(required)} (names are case-sensitive)",
        )
    rows, lines = [], []
    line = reader.line_num + 1
    for record in reader:
        if any(cell.strip() for cell in record):
            if len(record) != len(header):
                raise HarnessError(
                    f"{len(record)} fields, expected {len(header)} as in the header",
                    file=path,
                    row=line,
                    fix="quote cells that contain commas, and give every row all columns",
                )
            rows.append([cell.strip() for cell in record])
            lines.append(line)
        line = reader.line_num + 1
    return Table(path, header, rows, lines)


def delimiter_of(text: str) -> str:
    """``,``, or the ``;`` or tab that separates a header without commas: spreadsheets in a
    Spanish locale save CSV with semicolons, and the columns are named in the header alone."""
    header = text.split("\n", 1)[0]
    if "," in header:
        return ","
    return next((d for d in (";", "\t") if d in header), ",")


def read_utf8(path: Path, what: str) -> str:
    """The file's text; a missing, unreadable or non-UTF-8 file is one error naming the byte."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError(f"{what} not found", file=path, fix="check the path") from None
    except OSError as exc:
        raise HarnessError(f"cannot read {what} ({exc.strerror})", file=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise HarnessError(
            f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start})",
            file=path,
            row=line,
            fix="re-save the file as UTF-8",
        ) from None


def first_index(mask: Iterable[bool]) -> int | None:
    """Position of the first true value, or None."""
    return next((i for i, bad in enumerate(mask) if bad), None)


def check_ids(table: Table, column: str) -> list[str]:
    """Non-empty, unique ids; a duplicate names both of its lines."""
    ids = table.column(column)
    seen: dict[str, int] = {}
    for value, line in zip(ids, table.lines):
        if not value:
            raise HarnessError(
                f"empty {column}", file=table.path, row=line, fix="give every row an id"
            )
        if value in seen:
            raise HarnessError(
                f"duplicate {column} {value!r} (first at row {seen[value]})",
                file=table.path,
                row=line,
                fix="ids must be unique; remove or rename the duplicate row",
            )
        seen[value] = line
    return ids


def check_listed(
    table: Table, ids: Sequence[str], known: Container[str], where: str, fix: str
) -> None:
    """Every id that a list file (gold labels, a Development list) gives is one of ``known``,
    the rows of the file it refers to; the first that is not is named with its line."""
    i = first_index(value not in known for value in ids)
    if i is not None:
        raise HarnessError(
            f"id {ids[i]!r} is not {where}", file=table.path, row=table.lines[i], fix=fix
        )


def check_codes(
    table: Table, column: str, values: Sequence[str | None], known: Iterable[str]
) -> None:
    """Every non-missing value is one of ``known`` (the challenge's class codes)."""
    known = set(known)
    i = first_index(v is not None and v not in known for v in values)
    if i is not None:
        raise HarnessError(
            f"unknown class code {values[i]!r} in column {column}",
            file=table.path,
            row=table.lines[i],
            fix=f"use one of {', '.join(sorted(known))}",
        )


def numbers(
    table: Table, column: str, required: Sequence[bool], valid: tuple[float, float] | None = None
) -> np.ndarray:
    """Parse a numeric column; empty/NaN is an error only where ``required``."""
    values = np.full(len(table.rows), np.nan)
    for i, (cell, line) in enumerate(zip(table.column(column), table.lines)):
        if cell.lower() in MISSING:
            if required[i]:
                raise HarnessError(
                    f"{column} is {'empty' if not cell else cell} in a labelled row",
                    file=table.path,
                    row=line,
                    fix=f"give {column} a value, or remove the row",
                )
            continue
        try:
            value = float(cell)
        except ValueError:
            value = np.nan
        if not np.isfinite(value):
            raise HarnessError(
                f"{column} has the non-numeric value {cell!r}",
                file=table.path,
                row=line,
                fix=f"use a number for {column}",
            )
        if valid is not None and not valid[0] <= value <= valid[1]:
            raise HarnessError(
                f"{column}={value:g} is outside [{valid[0]:g}, {valid[1]:g}]",
                file=table.path,
                row=line,
                fix="attributes are on the 1-7 scale",
            )
        values[i] = value
    return values


def na_cells(values: Iterable[str]) -> list[str | None]:
    """Empty cells as None."""
    return [v if v else None for v in values]
