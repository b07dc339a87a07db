"""Properties of the dev swarm's parsers: unified diffs, ruff's JSON and the error log."""

from __future__ import annotations

import difflib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError
from tailguard.ops.findings import parse_error_log, parse_ruff, relative_path
from tailguard.ops.patches import extract_diff, parse_diff

_SEGMENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_PATH = st.lists(_SEGMENT, min_size=1, max_size=3).map(lambda parts: "/".join(parts) + ".py")
_LINE = st.text(alphabet="abc xyz=()+-#", max_size=12)


@st.composite
def _edits(draw: st.DrawFn) -> list[tuple[str, list[str], list[str]]]:
    paths = draw(st.lists(_PATH, min_size=1, max_size=3, unique=True))
    out = []
    for path in paths:
        old = draw(st.lists(_LINE, min_size=1, max_size=12))
        new = draw(st.lists(_LINE, max_size=12).filter(lambda n, o=old: n != o))
        out.append((path, old, new))
    return out


def _render(edits: list[tuple[str, list[str], list[str]]]) -> str:
    parts = []
    for path, old, new in edits:
        lines = difflib.unified_diff(
            [f"{x}\n" for x in old], [f"{x}\n" for x in new], f"a/{path}", f"b/{path}"
        )
        parts.append("".join(lines))
    return "".join(parts)


@settings(max_examples=150, deadline=None)
@given(_edits())
def test_a_generated_diff_parses_to_its_files_and_line_counts(
    edits: list[tuple[str, list[str], list[str]]],
) -> None:
    """difflib's diffs parse to the files edited, with exactly the lines added and removed."""
    patch = parse_diff(_render(edits))
    assert [f.path for f in patch.files] == [p for p, _, _ in edits]
    for f, (_, old, new) in zip(patch.files, edits, strict=True):
        ops = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
        removed = sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag in ("delete", "replace"))
        added = sum(j2 - j1 for tag, _, _, j1, j2 in ops if tag in ("insert", "replace"))
        assert (f.added, f.removed) == (added, removed)


@settings(max_examples=100, deadline=None)
@given(_edits(), st.text(alphabet="abc .\n", max_size=40))
def test_the_diff_comes_back_out_of_a_models_answer(
    edits: list[tuple[str, list[str], list[str]]], prose: str
) -> None:
    """Fenced in prose, the diff is extracted unchanged."""
    diff = _render(edits)
    answer = f"{prose.replace('`', '')}\n```diff\n{diff}```\nThat is all."
    assert extract_diff(answer) == diff


@settings(max_examples=100, deadline=None)
@given(_edits())
def test_a_truncated_hunk_is_refused(edits: list[tuple[str, list[str], list[str]]]) -> None:
    """Dropping a hunk's last line makes its counts disagree with the header: refused."""
    lines = _render(edits).splitlines(keepends=True)
    assert lines[-1][0] in " +-"
    with pytest.raises(InvalidInputError, match="hunk has"):
        parse_diff("".join(lines[:-1]))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    """Arbitrary text: a patch or InvalidInputError, never another exception."""
    try:
        patch = parse_diff(text)
    except InvalidInputError:
        return
    assert patch.files


@pytest.mark.parametrize(
    "path", ["../x.py", "/etc/passwd", "a/../../x.py", ".git/config", "x/.git/hooks/pre-commit"]
)
def test_paths_outside_the_repository_are_refused(path: str) -> None:
    diff = f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(InvalidInputError):
        parse_diff(diff)


_DIAG = st.fixed_dictionaries(
    {
        "code": st.one_of(st.none(), st.from_regex(r"[A-Z]{1,3}[0-9]{3}", fullmatch=True)),
        "message": st.text(min_size=1, max_size=60),
        "filename": _PATH,
        "location": st.fixed_dictionaries(
            {"row": st.integers(min_value=1, max_value=10_000), "column": st.integers(1, 200)}
        ),
        "fix": st.one_of(st.none(), st.just({"applicability": "safe", "edits": []})),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_DIAG, max_size=20), st.sampled_from(["/repo", "/tmp/wt"]))
def test_ruff_output_becomes_one_finding_per_diagnostic_relative_to_the_root(
    diags: list[dict[str, object]], root: str
) -> None:
    """Absolute filenames under the root come back relative; every diagnostic is one finding
    with its rule, line and a one-line message; the keys tell distinct findings apart."""
    absolute = [{**d, "filename": f"{root}/{d['filename']}"} for d in diags]
    findings = parse_ruff(json.dumps(absolute), root=root)
    assert len(findings) == len(diags)
    assert sorted(f.path or "" for f in findings) == sorted(str(d["filename"]) for d in diags)
    for f in findings:
        assert "\n" not in f.message
        assert f.line is not None
        assert f.line >= 1
        assert f.rule
    identities = {(f.rule, f.path, f.line, f.message) for f in findings}
    assert len({f.key for f in findings}) == len(identities)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=80), st.dictionaries(st.text(max_size=5), st.integers())))
def test_bad_ruff_output_is_refused_cleanly(data: object) -> None:
    text = data if isinstance(data, str) else json.dumps(data)
    try:
        findings = parse_ruff(text)
    except InvalidInputError:
        return
    assert findings == []  # only an empty JSON list gets through


def test_files_outside_the_root_are_not_findings() -> None:
    diag = {"code": "F401", "message": "m", "filename": "/elsewhere/x.py", "location": {"row": 1}}
    assert parse_ruff(json.dumps([diag]), root="/repo") == []
    assert relative_path("/repo/a/b.py", "/repo") == "a/b.py"
    assert relative_path("/repo/../b.py", "/repo") is None


_LOG_LINE = st.one_of(
    st.builds(
        lambda r, s: json.dumps({"reason": r, "source": s, "line": 1, "raw": "{}", "at": "t"}),
        st.sampled_from(["bad nps", "missing area"]),
        st.sampled_from(["events.jsonl", "bus"]),
    ),
    st.builds(
        lambda lv, m: json.dumps({"level": lv, "message": m}),
        st.sampled_from(["error", "info", "warning", "critical"]),
        st.sampled_from(["tick failed", "db slow"]),
    ),
    st.sampled_from(["ERROR worker crashed", "all good", "Traceback (most recent call last):", ""]),
)


def _is_error(line: str) -> bool:
    if line.startswith("{"):
        obj = json.loads(line)
        return "reason" in obj or obj.get("level") in ("error", "critical")
    return "ERROR" in line or line.startswith("Traceback")


@settings(max_examples=150, deadline=None)
@given(st.lists(_LOG_LINE, max_size=40))
def test_the_error_log_counts_every_error_line_once(lines: list[str]) -> None:
    """The counts add up to the error lines; each (rule, message) is one finding; most
    frequent first."""
    findings = parse_error_log("\n".join(lines), source="svc.log")
    assert sum(f.count for f in findings) == sum(1 for line in lines if _is_error(line))
    assert len({(f.rule, f.message) for f in findings}) == len(findings)
    counts = [f.count for f in findings]
    assert counts == sorted(counts, reverse=True)
