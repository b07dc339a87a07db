"""Which tests cover a file, from coverage.py's data file: the dev swarm's test selection.

coverage.py (5.0 and later) keeps its measurements in a SQLite database (``.coverage``):
``file(id, path)``, ``context(id, context)``, and per (file, context) the lines executed
(``line_bits``, a bitmap) or the arcs (``arc``, with branch coverage). When the target
repository's tests ran with a context per test (pytest-cov's ``--cov-context=test``, whose
contexts read ``tests/test_x.py::test_name|run``, or coverage's ``dynamic_context =
test_function``, whose contexts read ``test_x.test_name``), each measured file maps to the
test files that executed it. That is read here with the standard library's ``sqlite3``, so
the swarm needs no coverage package of its own; a file without such data is left to the
by-name mapping (:func:`tailguard.ops.patches.covering_tests`).

Paths in the data are absolute (where the tests ran) unless ``relative_files`` was set; a
measured path matches a repository-relative path when it equals it or ends with
``/<path>``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tailguard.ops import patches


def file_of_context(context: str, known: Iterable[str]) -> str | None:
    """The test file (repository-relative) a coverage context names, among ``known`` test
    files; None for the empty context (code run outside any test) or one naming no known
    file.

    ``tests/test_x.py::TestA::test_b|run`` names ``tests/test_x.py``;
    ``test_x.TestA.test_b`` (coverage's ``test_function``) names the known file whose
    module path ends with ``test_x`` (or ``pkg/test_x``, ...).
    """
    files = sorted(set(known))
    text = context.split("|", 1)[0].strip()
    if not text:
        return None
    if "::" in text:
        head = PurePosixPath(text.split("::", 1)[0]).as_posix()
        for f in files:
            if f == head or f.endswith("/" + head):
                return f
        return None
    parts = [p for p in text.split(".") if p]
    for k in range(len(parts) - 1, 0, -1):
        module = "/".join(parts[:k]) + ".py"
        for f in files:
            if f == module or f.endswith("/" + module):
                return f
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CoverageMap:
    """Measured files -> the test files whose contexts executed them.

    Attributes:
        source: the data file read.
        covered_by: measured path (as stored) -> repository-relative test files.
    """

    source: str
    covered_by: dict[str, frozenset[str]] = field(default_factory=dict)

    def tests_for(self, rel: str) -> frozenset[str] | None:
        """The test files that executed ``rel``; None when the data has no per-test
        measurement of it (the caller falls back to the by-name mapping)."""
        hits: set[str] = set()
        found = False
        for path, tests in self.covered_by.items():
            if path == rel or path.endswith("/" + rel):
                found = found or bool(tests)
                hits |= tests
        return frozenset(hits) if found else None


def read_coverage(data_file: Path, test_files: Iterable[str]) -> CoverageMap | None:
    """Read coverage.py's data file; None when it is missing, not coverage data, or has no
    per-test contexts. ``test_files`` are the repository's test files contexts may name."""
    if not data_file.is_file():
        return None
    known = sorted(set(test_files))
    try:
        conn = sqlite3.connect(f"file:{data_file}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        if not {"file", "context"} <= tables or not tables & {"line_bits", "arc"}:
            return None
        pairs: set[tuple[str, str]] = set()
        if "line_bits" in tables:
            pairs |= _pairs(conn, "line_bits", "numbits is not null and length(numbits) > 0")
        if "arc" in tables:
            pairs |= _pairs(conn, "arc", "1 = 1")
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    covered: dict[str, set[str]] = {}
    for path, context in pairs:
        test = file_of_context(context, known)
        if test is not None:
            covered.setdefault(path, set()).add(test)
    if not covered:
        return None
    return CoverageMap(
        source=str(data_file), covered_by={k: frozenset(v) for k, v in covered.items()}
    )


def _pairs(conn: sqlite3.Connection, table: str, where: str) -> set[tuple[str, str]]:
    # ``table`` and ``where`` are this module's constants, never input.
    rows = conn.execute(
        f"select distinct f.path, c.context from {table} t "
        "join file f on f.id = t.file_id join context c on c.id = t.context_id "
        f"where {where}"
    )
    return {(str(p), str(c or "")) for p, c in rows}


@dataclass(frozen=True, kw_only=True, slots=True)
class Selection:
    """The tests to run for a patch and how each changed file's were chosen."""

    tests: list[str]
    how: dict[str, str]  # changed file -> "test" (it is one), "coverage", "name"
    coverage_file: str | None


def select_tests(worktree: Path, changed: Sequence[str], coverage_file: Path | None) -> Selection:
    """The test files to run for ``changed`` in ``worktree``: a changed test file itself;
    for another Python file, the test files coverage data says executed it (those present in
    the worktree), else the by-name mapping."""
    test_files = _test_files(worktree)
    cov = read_coverage(coverage_file, test_files) if coverage_file is not None else None
    found: set[str] = set()
    how: dict[str, str] = {}
    for rel in changed:
        p = PurePosixPath(rel)
        if p.suffix != ".py":
            continue
        if p.name.startswith("test_") or p.name.endswith("_test.py"):
            if (worktree / rel).exists():
                found.add(rel)
            how[rel] = "test"
            continue
        measured = cov.tests_for(rel) if cov is not None else None
        present = sorted(t for t in measured or () if (worktree / t).is_file())
        if present:
            found.update(present)
            how[rel] = "coverage"
        else:
            found.update(patches.covering_tests(worktree, [rel]))
            how[rel] = "name"
    return Selection(tests=sorted(found), how=how, coverage_file=cov.source if cov else None)


def _test_files(worktree: Path) -> list[str]:
    out = []
    for pattern in ("test_*.py", "*_test.py"):
        for hit in worktree.rglob(pattern):
            rel = hit.relative_to(worktree)
            if rel.parts and rel.parts[0] == ".git":
                continue
            out.append(rel.as_posix())
    return sorted(set(out))
