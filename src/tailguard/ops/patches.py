"""Unified diffs and the throwaway git worktrees the dev swarm applies them in.

:func:`parse_diff` checks a unified diff (the build step's patch) before anything touches a
repository: every file path is relative, inside the repository and outside ``.git``, every
hunk's line counts match its header. :func:`extract_diff` takes the diff out of a model's
answer (a fenced ``diff`` block, or the text from the first ``---``/``diff --git`` line).

:func:`worktree` adds a detached (or new-branch) ``git worktree`` of a commit in a fresh
temporary directory and removes it afterwards; :func:`run_in` runs a command there with a
timeout, its working directory the worktree and its whole process group killed on timeout.
Nothing here runs a command anywhere else: the git commands that manage worktrees and branches
run in the repository with fixed arguments (``git worktree``, ``git rev-parse``,
``git branch``), never a configured command.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from tailguard.errors import ConflictError, InvalidInputError

_HUNK: Final = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_FENCE: Final = re.compile(r"```(?:diff|patch|udiff)?[ \t]*\n(.*?)```", re.DOTALL)
#: Output kept from a command (its tail).
MAX_OUTPUT: Final = 8000
#: Branches a change proposal never lands on directly.
PROTECTED_BRANCHES: Final = frozenset({"main", "master", "trunk", "develop", "release"})
#: The prefix of every branch the swarm creates.
BRANCH_PREFIX: Final = "swarm/"


@dataclass(frozen=True, kw_only=True, slots=True)
class FilePatch:
    """One file's part of a diff (``None`` path: created or deleted)."""

    old_path: str | None
    new_path: str | None
    added: int
    removed: int

    @property
    def path(self) -> str:
        """The file's path (the new one, or the old one of a deleted file)."""
        return str(self.new_path or self.old_path)


@dataclass(frozen=True, kw_only=True, slots=True)
class Patch:
    """A checked unified diff."""

    text: str
    files: tuple[FilePatch, ...]

    @property
    def added(self) -> int:
        """Lines added over all files."""
        return sum(f.added for f in self.files)

    @property
    def removed(self) -> int:
        """Lines removed over all files."""
        return sum(f.removed for f in self.files)


def _path(raw: str, prefix: str) -> str | None:
    name = raw.split("\t", 1)[0].strip()
    if name == "/dev/null":
        return None
    if name.startswith(prefix):
        name = name[len(prefix) :]
    p = PurePosixPath(name)
    if not name or p.is_absolute() or "\\" in name:
        raise InvalidInputError(f"diff path {name!r} is not a relative path")
    if any(part in ("..", ".git", "") for part in name.split("/")):
        raise InvalidInputError(f"diff path {name!r} leaves the repository or touches .git")
    return p.as_posix()


def parse_diff(text: str) -> Patch:
    """Check a unified diff and list its files.

    Raises:
        InvalidInputError: no file in it, a bad header or path, or a hunk whose lines do not
            add up to its header.
    """
    lines = text.splitlines()
    files: list[FilePatch] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("--- "):
            if line.startswith(("+", "-", " ", "@@")) and files:
                raise InvalidInputError(f"diff line {i + 1}: outside a hunk: {line[:60]!r}")
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
            raise InvalidInputError(f"diff line {i + 1}: '---' without '+++'")
        old, new = _path(line[4:], "a/"), _path(lines[i + 1][4:], "b/")
        if old is None and new is None:
            raise InvalidInputError(f"diff line {i + 1}: both sides are /dev/null")
        i += 2
        added = removed = hunks = 0
        while i < len(lines) and lines[i].startswith("@@"):
            m = _HUNK.match(lines[i])
            if m is None:
                raise InvalidInputError(f"diff line {i + 1}: bad hunk header {lines[i][:60]!r}")
            want_old = int(m[2]) if m[2] is not None else 1
            want_new = int(m[4]) if m[4] is not None else 1
            i += 1
            got_old = got_new = 0
            while i < len(lines) and (got_old < want_old or got_new < want_new):
                body = lines[i]
                tag = body[:1]
                if tag == " " or body == "":
                    got_old, got_new = got_old + 1, got_new + 1
                elif tag == "-":
                    got_old, removed = got_old + 1, removed + 1
                elif tag == "+":
                    got_new, added = got_new + 1, added + 1
                elif tag != "\\":
                    break
                i += 1
            while i < len(lines) and lines[i].startswith("\\"):
                i += 1
            if (got_old, got_new) != (want_old, want_new):
                raise InvalidInputError(
                    f"diff line {i}: hunk has {got_old} old and {got_new} new lines, "
                    f"its header says {want_old} and {want_new}"
                )
            hunks += 1
        if hunks == 0:
            raise InvalidInputError(f"diff: no hunk for {new or old}")
        files.append(FilePatch(old_path=old, new_path=new, added=added, removed=removed))
    if not files:
        raise InvalidInputError("not a unified diff: no '---'/'+++' file header")
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths):
        raise InvalidInputError("diff: a file appears twice")
    body = text if text.endswith("\n") else text + "\n"
    return Patch(text=body, files=tuple(files))


def extract_diff(answer: str) -> str | None:
    """The unified diff in a model's answer, or None when there is none."""
    for block in _FENCE.findall(answer):
        if "\n+++ " in block or block.startswith("--- "):
            return str(block)
    lines = answer.splitlines(keepends=True)
    for n, line in enumerate(lines):
        if line.startswith(("diff --git ", "--- ")):
            return "".join(lines[n:])
    return None


# ------------------------------------------------------------------- git


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandResult:
    """How a command in a worktree ended."""

    argv: tuple[str, ...]
    returncode: int | None
    timed_out: bool
    output: str

    @property
    def passed(self) -> bool:
        """It finished in time with exit code 0."""
        return not self.timed_out and self.returncode == 0


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    """Run one git command in ``repo``; its stdout.

    Raises:
        ConflictError: git failed (with its message).
    """
    proc = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise ConflictError(f"git {args[0]}: {message[-1] if message else proc.returncode}")
    return proc.stdout


def resolve(repo: Path, ref: str) -> str:
    """The commit ``ref`` names in ``repo``.

    Raises:
        InvalidInputError: not a git repository, or no such ref.
    """
    if not (repo / ".git").exists():
        raise InvalidInputError(f"{repo} is not a git repository")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except ConflictError:
        raise InvalidInputError(f"{repo}: no commit {ref!r}") from None


@contextlib.contextmanager
def worktree(repo: Path, commit: str, *, branch: str | None = None) -> Iterator[Path]:
    """A temporary worktree of ``repo`` at ``commit`` (on a new ``branch`` when given),
    removed on exit (the branch stays)."""
    tmp = Path(tempfile.mkdtemp(prefix="tailguard-swarm-"))
    path = tmp / "wt"
    args = ["-b", branch] if branch else ["--detach"]
    git(repo, "worktree", "add", "--quiet", *args, str(path), commit)
    try:
        yield path
    finally:
        with contextlib.suppress(ConflictError, OSError, subprocess.SubprocessError):
            git(repo, "worktree", "remove", "--force", str(path))
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(ConflictError, OSError, subprocess.SubprocessError):
            git(repo, "worktree", "prune")


def apply(path: Path, patch: Patch) -> None:
    """Apply ``patch`` in the worktree ``path`` (checked first: all or nothing).

    Raises:
        ConflictError: it does not apply.
    """
    git(path, "apply", "--check", "-", stdin=patch.text)
    git(path, "apply", "-", stdin=patch.text)


#: The variables a command in a worktree inherits (no credentials, no PYTHONPATH).
KEPT_ENV: Final = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")


def run_in(path: Path, argv: Sequence[str], *, timeout_s: float) -> CommandResult:
    """Run ``argv`` with the worktree ``path`` as its working directory, killing its process
    group when ``timeout_s`` passes.

    The command gets a minimal environment: :data:`KEPT_ENV` from this process, ``HOME`` and
    ``TMPDIR`` in fresh directories beside the worktree (removed with it), nothing else (no
    API keys, no database URL).
    """
    home, tmp = path.parent / "home", path.parent / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
    env.update(PWD=str(path), HOME=str(home), TMPDIR=str(tmp), GIT_TERMINAL_PROMPT="0")
    proc = subprocess.Popen(
        list(argv),
        cwd=path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env=env,
    )
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return CommandResult(
        argv=tuple(argv),
        returncode=None if timed_out else proc.returncode,
        timed_out=timed_out,
        output=(out or "")[-MAX_OUTPUT:],
    )


def covering_tests(path: Path, changed: Sequence[str]) -> list[str]:
    """The test files of the worktree that cover the changed files: a changed test file
    itself, and ``test_<name>.py`` / ``<name>_test.py`` anywhere under ``tests/`` for a
    changed ``<name>.py``."""
    found: set[str] = set()
    tests_dir = path / "tests"
    for rel in changed:
        p = PurePosixPath(rel)
        if p.suffix != ".py":
            continue
        if p.name.startswith("test_") or p.name.endswith("_test.py"):
            if (path / rel).exists():
                found.add(rel)
            continue
        if tests_dir.is_dir():
            for name in (f"test_{p.stem}.py", f"{p.stem}_test.py"):
                for hit in tests_dir.rglob(name):
                    found.add(hit.relative_to(path).as_posix())
    return sorted(found)


def marker(proposal_id: str) -> str:
    """The line a proposal's commit message carries (how a commit is recognised as its)."""
    return f"tailguard-proposal: {proposal_id}"


def check_branch(repo: Path, branch: str, *, base: str) -> None:
    """Refuse a branch a proposal may not land on: a protected name, the base, the branch the
    repository has checked out, or one outside :data:`BRANCH_PREFIX`.

    Raises:
        InvalidInputError: with the reason.
    """
    if not branch.startswith(BRANCH_PREFIX) or branch in PROTECTED_BRANCHES or branch == base:
        raise InvalidInputError(
            f"a proposal lands only on a {BRANCH_PREFIX}* branch, not {branch!r}"
        )
    try:
        git(repo, "check-ref-format", "--branch", branch)
    except ConflictError:
        raise InvalidInputError(f"{branch!r} is not a valid branch name") from None
    with contextlib.suppress(ConflictError):
        current = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD").strip()
        if current == branch:
            raise InvalidInputError(f"{branch!r} is the branch {repo} has checked out")
