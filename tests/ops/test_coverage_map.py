"""The dev swarm's test selection by coverage data: coverage.py's data file (its documented
SQLite schema, written here with the standard library since coverage is not a dependency)
maps a changed file to the tests that executed it; without such data, the by-name mapping.
End to end: a patch whose only covering test is not named after the file is tested green."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.ledger import Ledger
from tailguard.ops.coverage_map import file_of_context, read_coverage, select_tests
from tailguard.ops.swarm import open_swarm
from tailguard.ops.swarm_tools import SwarmConfig

from ._swarm import APPROVER, TEST_COMMAND, git, make_repo, provider

# coverage.py 7's schema, as its documentation gives it (the tables read here).
SCHEMA = """
CREATE TABLE coverage_schema (version integer);
CREATE TABLE meta (key text, value text, unique (key));
CREATE TABLE file (id integer primary key, path text, unique (path));
CREATE TABLE context (id integer primary key, context text, unique (context));
CREATE TABLE line_bits (
    file_id integer, context_id integer, numbits blob,
    foreign key (file_id) references file (id),
    foreign key (context_id) references context (id),
    unique (file_id, context_id));
CREATE TABLE arc (
    file_id integer, context_id integer, fromno integer, tono integer,
    foreign key (file_id) references file (id),
    foreign key (context_id) references context (id),
    unique (file_id, context_id, fromno, tono));
CREATE TABLE tracer (file_id integer primary key, tracer text,
    foreign key (file_id) references file (id));
"""


def _numbits(lines: list[int]) -> bytes:
    """coverage.numbits.nums_to_numbits: bit (n % 8) of byte (n // 8) for line n."""
    out = bytearray(max(lines) // 8 + 1)
    for n in lines:
        out[n // 8] |= 1 << (n % 8)
    return bytes(out)


def _data_file(path: Path, rows: dict[str, dict[str, list[int]]], *, arcs: bool = False) -> Path:
    """A coverage data file: {context: {measured path: [lines]}}."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.execute("insert into coverage_schema values (7)")
    conn.execute("insert into meta values ('has_arcs', ?)", ("1" if arcs else "0",))
    for context, files in rows.items():
        conn.execute("insert or ignore into context (context) values (?)", (context,))
        (cid,) = conn.execute("select id from context where context = ?", (context,)).fetchone()
        for measured, lines in files.items():
            conn.execute("insert or ignore into file (path) values (?)", (measured,))
            (fid,) = conn.execute("select id from file where path = ?", (measured,)).fetchone()
            if arcs:
                conn.executemany(
                    "insert into arc values (?, ?, ?, ?)",
                    [(fid, cid, a, b) for a, b in zip([-1, *lines], [*lines, -1], strict=True)],
                )
            else:
                conn.execute("insert into line_bits values (?, ?, ?)", (fid, cid, _numbits(lines)))
    conn.commit()
    conn.close()
    return path


def _arith_repo(tmp_path: Path) -> Path:
    """The swarm's target repository plus a test of calc.py that is not named after it."""
    repo = make_repo(tmp_path)
    (repo / "tests" / "test_arith.py").write_text(
        "from calc import add\n\n\ndef test_sums():\n    assert add(1, 1) == 2\n"
    )
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", "arith")
    return repo


def test_contexts_of_both_styles_name_their_test_files() -> None:
    """pytest-cov's node ids and coverage's test_function names both map to the file."""
    known = ["tests/test_calc.py", "tests/unit/test_geo.py"]
    assert file_of_context("tests/test_calc.py::test_add|run", known) == known[0]
    assert file_of_context("tests/unit/test_geo.py::TestA::test_b|setup", known) == known[1]
    assert file_of_context("test_geo.TestA.test_b", known) == known[1]
    assert file_of_context("unit.test_geo.test_b", known) == known[1]
    assert file_of_context("", known) is None
    assert file_of_context("tests/test_other.py::test_x|run", known) is None


def test_the_data_file_maps_measured_files_to_tests(tmp_path: Path) -> None:
    """Absolute measured paths match by suffix; the empty context counts for nothing; branch
    data (arcs) reads the same; a file with only the empty context has no per-test data."""
    known = ["tests/test_calc.py", "tests/test_arith.py"]
    for arcs in (False, True):
        data = _data_file(
            tmp_path / f"cov-{arcs}",
            {
                "": {"/build/app/calc.py": [1, 4], "/build/app/setup_only.py": [1]},
                "tests/test_arith.py::test_sums|run": {"/build/app/calc.py": [4, 5]},
                "tests/test_calc.py::test_add|run": {"/build/app/other.py": [2]},
            },
            arcs=arcs,
        )
        cov = read_coverage(data, known)
        assert cov is not None
        assert cov.tests_for("calc.py") == {"tests/test_arith.py"}
        assert cov.tests_for("other.py") == {"tests/test_calc.py"}
        assert cov.tests_for("setup_only.py") is None
        assert cov.tests_for("missing.py") is None
    assert read_coverage(tmp_path / "absent", known) is None
    (tmp_path / "junk").write_text("not a database")
    assert read_coverage(tmp_path / "junk", known) is None


def test_selection_uses_coverage_and_falls_back_to_names(tmp_path: Path) -> None:
    """Coverage data for calc.py picks test_arith.py; without data, test_calc.py by name; a
    file the data does not know is selected by name too."""
    repo = _arith_repo(tmp_path)
    data = _data_file(
        tmp_path / ".coverage",
        {"tests/test_arith.py::test_sums|run": {str(repo / "calc.py"): [1, 4, 5]}},
    )
    by_cov = select_tests(repo, ["calc.py", "tests/test_calc.py", "README.md"], data)
    assert by_cov.tests == ["tests/test_arith.py", "tests/test_calc.py"]
    assert by_cov.how == {"calc.py": "coverage", "tests/test_calc.py": "test"}
    assert by_cov.coverage_file == str(data)
    by_name = select_tests(repo, ["calc.py"], None)
    assert by_name.tests == ["tests/test_calc.py"]
    assert by_name.how == {"calc.py": "name"}
    assert by_name.coverage_file is None
    unknown = select_tests(repo, ["calc.py"], _data_file(tmp_path / "c2", {"t::x": {"z.py": [1]}}))
    assert unknown.how == {"calc.py": "name"}


def test_the_swarm_runs_the_tests_coverage_names(tmp_path: Path) -> None:
    """End to end: the repository's .coverage says only test_arith.py runs calc.py; the
    proposal is tested with that file, green, and its ledger record says how it was chosen."""
    repo = _arith_repo(tmp_path)
    data = _data_file(
        tmp_path / "cov.db",
        {"tests/test_arith.py::test_sums|run": {str(repo / "calc.py"): [1, 4, 5]}},
    )
    config = SwarmConfig(repo=repo, test_command=TEST_COMMAND, coverage_file=data)
    with Ledger.open(f"sqlite:///{tmp_path / 'swarm.db'}") as ledger:
        sw = open_swarm(ledger, config, provider=provider(), approvers=[APPROVER])
        (filed,) = sw.scout(["ruff"])
        row = sw.advance(filed.proposal_id)
        assert row.status == "awaiting_approval"
        tests = row.state["tests"]
        assert tests["tests"] == ["tests/test_arith.py"]
        assert tests["selection"] == {"calc.py": "coverage"}
        assert tests["green"] is True
        assert "1 passed" in tests["output"]
        record = ledger.latest("proposal", filed.proposal_id)
        assert record is not None
        assert record.fields["tests"]["selection"] == {"calc.py": "coverage"}


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=60),
    st.lists(st.from_regex(r"\Atests/(unit/)?test_[a-z]{1,6}\.py\Z"), max_size=4),
)
def test_any_context_names_a_known_file_or_none(context: str, known: list[str]) -> None:
    """Whatever the context text: one of the known files, or None."""
    hit = file_of_context(context, known)
    assert hit is None or hit in known
