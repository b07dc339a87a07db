"""The compendium's directory: departments, their folders, content hashes and safe writes.

Layout (the control-plane document's Phase 3, with the planning-area operations added)::

    <root>/
      recruiter/ carrier/ driver/ admin/ dev/          the role departments
      ops-<intervention kind>/                         one per intervention kind
      cluster-<area type>/                             one per area cluster
        INDEX.md
        playbooks/  patterns/  postmortems/  metrics/   Markdown files
        archive/                                       frozen versions of sharded files

A file changes only through :meth:`Compendium.apply`: under an exclusive lock on that file
(``fcntl.flock`` on ``<root>/.locks/``, so threads and processes on one machine are covered),
the file's current SHA-256 must equal the hash the writer read (compare-and-set), the new
content goes to a temporary file that replaces the old one atomically, and the ledger record
of the change is written before the lock is released (:mod:`tailguard.compendium.tools`). Two
curators at once therefore never interleave inside a file: the slower one sees a changed hash,
reads again and recomputes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Final

from tailguard.errors import ConflictError, InvalidInputError

ROLE_DEPARTMENTS: Final = ("recruiter", "carrier", "driver", "admin", "dev")
FOLDERS: Final = ("playbooks", "patterns", "postmortems", "metrics")
INDEX: Final = "INDEX.md"
ARCHIVE: Final = "archive"
_LOCKS = ".locks"
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


def content_hash(text: str | None) -> str | None:
    """SHA-256 hex of the UTF-8 text; None for a file that does not exist."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (lower case, ``-`` between words)."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:80] or "section"


def ops_department(kind: str) -> str:
    """The department of one intervention kind."""
    return f"ops-{slug(kind)}"


def cluster_department(cluster: str) -> str:
    """The department of one area cluster (area type)."""
    return f"cluster-{slug(cluster)}"


def default_dir(db_url: str) -> Path:
    """Where the compendium lives by default: beside a SQLite ledger, else ``./compendium``."""
    text = db_url
    for prefix in ("sqlite+pysqlite:///", "sqlite:///"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    else:
        if "://" in text:
            return Path("compendium").resolve()
    return (Path(text).expanduser().resolve().parent / "compendium").resolve()


def check_rel(rel: str) -> str:
    """A compendium path as stored: relative, POSIX, ``.md``, no ``..`` nor hidden parts.

    Raises:
        InvalidInputError: the path could escape the root or is not a Markdown file.
    """
    path = PurePosixPath(rel)
    if path.is_absolute() or not path.parts or path.suffix != ".md":
        raise InvalidInputError(f"a compendium path is a relative .md path, not {rel!r}")
    if any(not _PART.match(part) for part in path.parts):
        raise InvalidInputError(f"compendium path {rel!r} has an unsafe part")
    return str(path)


class Compendium:
    """One compendium directory (created on first write).

    Args:
        root: the directory.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    # ------------------------------------------------------------------ reads

    def path(self, rel: str) -> Path:
        """The absolute path of a compendium file."""
        return self.root / check_rel(rel)

    def read(self, rel: str) -> str | None:
        """The file's text, or None when it does not exist."""
        try:
            return self.path(rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def hash_of(self, rel: str) -> str | None:
        """The SHA-256 of the file as it is now (None: absent)."""
        return content_hash(self.read(rel))

    def files(self, department: str | None = None) -> list[str]:
        """Every Markdown file (relative paths, sorted), optionally of one department."""
        base = self.root / department if department else self.root
        if not base.is_dir():
            return []
        out = []
        for path in base.rglob("*.md"):
            rel = path.relative_to(self.root).as_posix()
            if rel.startswith(_LOCKS) or any(p.startswith(".") for p in rel.split("/")):
                continue
            out.append(rel)
        return sorted(out)

    def departments(self) -> list[str]:
        """The department folders present (sorted)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    # ----------------------------------------------------------------- writes

    @contextmanager
    def lock(self, rel: str) -> Iterator[None]:
        """An exclusive lock on one file across threads and processes of this machine."""
        locks = self.root / _LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        ignore = locks / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        name = hashlib.sha256(check_rel(rel).encode()).hexdigest()[:32] + ".lock"
        fd = os.open(locks / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def replace(self, rel: str, content: str | None, expected: str | None) -> str | None:
        """Put ``content`` at ``rel`` (None deletes it) if the file still hashes to ``expected``.

        Call it holding :meth:`lock`. Returns the hash before.

        Raises:
            ConflictError: the file changed since the writer read it.
        """
        target = self.path(rel)
        before = self.hash_of(rel)
        if before != expected:
            raise ConflictError(
                f"{rel} changed since it was read (hash {str(before)[:12]}, "
                f"expected {str(expected)[:12]})"
            )
        if content is None:
            target.unlink(missing_ok=True)
            return before
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{id(content)}.tmp")
        tmp.write_text(content, encoding="utf-8")
        os.replace(tmp, target)
        return before

    # -------------------------------------------------------------------- git

    def is_git(self) -> bool:
        """Whether the directory is inside a git work tree."""
        if not self.root.is_dir():
            return False
        try:
            done = subprocess.run(
                ["git", "-C", str(self.root), "rev-parse", "--is-inside-work-tree"],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0 and done.stdout.strip() == "true"

    def git_commit(self, message: str) -> str | None:
        """Commit the compendium's changes when the directory is a git work tree.

        Returns the new commit id, or None (not a git repository, or nothing changed).
        """
        if not self.is_git():
            return None
        base = ["git", "-C", str(self.root)]
        subprocess.run([*base, "add", "-A", "--", "."], check=True, capture_output=True)
        staged = subprocess.run(
            [*base, "diff", "--cached", "--quiet", "--", "."], check=False, capture_output=True
        )
        if staged.returncode == 0:
            return None
        subprocess.run(
            [
                *base,
                "-c",
                "user.name=tailguard curator",
                "-c",
                "user.email=curator@tailguard.invalid",
                "commit",
                "-q",
                "-m",
                message,
                "--",
                ".",
            ],
            check=True,
            capture_output=True,
        )
        head = subprocess.run(
            [*base, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        )
        return head.stdout.strip()
