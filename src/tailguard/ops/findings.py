"""What the dev swarm's scouts read, parsed into findings.

Three sources, each with a parser that never raises on odd input it can skip and raises
:class:`~tailguard.errors.InvalidInputError` on input that is not what it claims to be:

* the linters' findings: ruff's JSON output (``ruff check --output-format json``), one finding
  per (file, rule, line) with the message; paths are made relative to the repository;
* the error log and the dead-letter file: JSON Lines (the dead-letter shape
  ``{"reason", "source", "line", "raw", "at"}`` or a structured log line with ``level`` and
  ``message``/``event``/``error``); plain text lines that say ``ERROR`` or ``Traceback``
  count too; other lines are not findings;
* the ledger's failed steps: ``step`` records whose latest status is ``error``, grouped by
  tool and summary.

A finding's ``key`` is a digest of what identifies it (not of when it was seen), so scouting
the same problem again files nothing new.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Final, Literal

from tailguard.errors import InvalidInputError

Source = Literal["ruff", "error_log", "ledger"]
#: Longest message kept per finding.
MAX_MESSAGE: Final = 400


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One problem a scout found.

    Attributes:
        source: ``ruff``, ``error_log`` or ``ledger``.
        rule: what kind of problem (a ruff code, a log source, a tool name).
        message: what is wrong, in one line.
        path: the repository file it is in (relative, POSIX), when known.
        line: its 1-based line, when known.
        count: how many times it was seen.
    """

    source: Source
    rule: str
    message: str
    path: str | None = None
    line: int | None = None
    count: int = 1
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A stable digest of the finding's identity (source, rule, path, line, message)."""
        text = "|".join(
            [self.source, self.rule, self.path or "", str(self.line or ""), self.message]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (with the key)."""
        return {
            "key": self.key,
            "source": self.source,
            "rule": self.rule,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "count": self.count,
            "detail": dict(self.detail),
        }


def _one_line(text: str) -> str:
    flat = " ".join(str(text).split())
    return flat[:MAX_MESSAGE]


def relative_path(filename: str, root: str) -> str | None:
    """``filename`` relative to ``root`` as a POSIX path, or None when it lies outside."""
    p, r = PurePosixPath(filename.replace("\\", "/")), PurePosixPath(root.replace("\\", "/"))
    if not p.is_absolute():
        rel = p
    else:
        try:
            rel = p.relative_to(r)
        except ValueError:
            return None
    if any(part in ("..", "") for part in rel.parts) or not rel.parts:
        return None
    return rel.as_posix()


def parse_ruff(text: str, *, root: str = "") -> list[Finding]:
    """Ruff's JSON output as findings, sorted by path, line and rule.

    Raises:
        InvalidInputError: the text is not ruff's JSON list of diagnostics.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"ruff output is not JSON: {exc.msg} at char {exc.pos}") from None
    if not isinstance(data, list):
        raise InvalidInputError("ruff output is not a JSON list of diagnostics")
    out: list[Finding] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            raise InvalidInputError(f"ruff diagnostic {i} has no filename")
        code = item.get("code")
        message = item.get("message")
        if not isinstance(message, str):
            raise InvalidInputError(f"ruff diagnostic {i} has no message")
        location = item.get("location") if isinstance(item.get("location"), dict) else {}
        row = location.get("row") if isinstance(location, dict) else None
        path = relative_path(item["filename"], root)
        if path is None:
            continue  # a file outside the repository is not the swarm's to patch
        fixable = isinstance(item.get("fix"), dict)
        out.append(
            Finding(
                source="ruff",
                rule=str(code) if code else "syntax-error",
                message=_one_line(message),
                path=path,
                line=row
                if isinstance(row, int) and not isinstance(row, bool) and row > 0
                else None,
                detail={"fixable": fixable, "url": item.get("url")},
            )
        )
    return sorted(out, key=lambda f: (f.path or "", f.line or 0, f.rule, f.message))


_LEVELS = frozenset({"error", "critical", "fatal", "exception"})


def _log_finding(obj: dict[str, Any], fallback: str) -> Finding | None:
    if "reason" in obj and "raw" in obj:  # the dead-letter shape
        return Finding(
            source="error_log",
            rule=_one_line(str(obj.get("source") or fallback))[:120] or fallback,
            message=_one_line(str(obj["reason"])),
        )
    level = str(obj.get("level") or obj.get("levelname") or "").lower()
    if level not in _LEVELS:
        return None
    message = obj.get("message") or obj.get("event") or obj.get("error") or obj.get("msg")
    if not message:
        return None
    return Finding(
        source="error_log",
        rule=_one_line(str(obj.get("logger") or obj.get("source") or fallback))[:120] or fallback,
        message=_one_line(str(message)),
    )


def parse_error_log(text: str, *, source: str = "log") -> list[Finding]:
    """The error log or dead-letter file as findings, one per distinct (rule, message) with
    its count, most frequent first (see the module docstring for what counts)."""
    seen: Counter[tuple[str, str]] = Counter()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        finding: Finding | None = None
        obj: Any = None
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
        if isinstance(obj, dict):
            finding = _log_finding(obj, source)
        elif "ERROR" in line or line.startswith("Traceback"):
            finding = Finding(source="error_log", rule=source, message=_one_line(line))
        if finding is not None and finding.message:
            seen[(finding.rule, finding.message)] += 1
    ordered = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        Finding(source="error_log", rule=rule, message=message, count=n)
        for (rule, message), n in ordered
    ]


def failed_steps(records: Any) -> list[Finding]:
    """The ledger's failed steps (``step`` records whose latest status is ``error``) as
    findings, one per (tool, summary) with its count.

    Args:
        records: the ledger's ``step`` records (:meth:`Ledger.records` with ``kind="step"``).
    """
    latest: dict[str, Any] = {}
    for record in records:
        latest[record.record_id] = record.fields
    seen: Counter[tuple[str, str]] = Counter()
    for fields in latest.values():
        if fields.get("status") != "error":
            continue
        seen[(str(fields.get("tool_name")), _one_line(str(fields.get("result_summary"))))] += 1
    ordered = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        Finding(source="ledger", rule=tool, message=f"{tool} failed: {summary}", count=n)
        for (tool, summary), n in ordered
    ]
