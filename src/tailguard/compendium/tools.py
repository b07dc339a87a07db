"""The compendium's governed tools and the writer session that sends every change through them.

* ``compendium_write`` (execute_low): replace, create or delete one file, compare-and-set on
  the content hash the writer read; writes a ``compendium_change`` ledger record with the
  path and the hashes before and after (and the run and step), so ``tailguard compendium
  verify`` can replay the history against the files.
* ``search_compendium`` (read): the cards that best match a query, most relevant first.

:class:`CompendiumWriter` is one governed run of a writer (the curator, the sharder): each
:meth:`~CompendiumWriter.write` reads the file, lets the caller compute the new text from it,
and executes ``compendium_write``; on a hash conflict (another writer got there first) it reads
again and recomputes, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tailguard.clock import Clock, format_ts
from tailguard.compendium.readers import search
from tailguard.compendium.tree import Compendium, check_rel, content_hash
from tailguard.control import ControlPlane, Policy, RiskLevel, Run, StepOutcome, Tool, ToolContext
from tailguard.errors import ConflictError, LedgerError
from tailguard.ledger import Ledger

WRITE_TOOL: Final = "compendium_write"
SEARCH_TOOL: Final = "search_compendium"
CHANGE_KIND: Final = "compendium_change"
_HASH = {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"}

SEARCH_DESCRIPTION: Final = (
    "Search the knowledge compendium's pattern cards (what worked, what failed, with its "
    "measured effect); most relevant first."
)
SEARCH_PARAMETERS: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 400},
        "department": {"type": "string", "maxLength": 120},
        "limit": {"type": "integer", "minimum": 1, "maximum": 20},
    },
    "required": ["query"],
    "additionalProperties": False,
}

WRITE_POLICY = Policy(
    risk_level=RiskLevel.EXECUTE_LOW,
    success_metric="compendium verify passes and the file's cards parse",
    audit_fields=("path", "expected_hash", "reason"),
)
SEARCH_POLICY = Policy(
    risk_level=RiskLevel.READ,
    rate_limit=60,
    success_metric="result_returned",
    idempotent=True,
)


def compendium_tools(*, compendium: Compendium, ledger: Ledger, clock: Clock) -> list[Tool]:
    """The write and search tools bound to one compendium directory and ledger."""

    def write(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        rel = check_rel(str(args["path"]))
        content = args.get("content")
        with compendium.lock(rel):
            old = compendium.read(rel)
            before = compendium.replace(rel, content, args.get("expected_hash"))
            after = content_hash(content)
            try:
                record = ledger.append(
                    CHANGE_KIND,
                    {
                        "compendium_change_id": ctx.step_id,
                        "path": rel,
                        "hash_before": before,
                        "hash_after": after,
                        "reason": str(args.get("reason") or ""),
                        "cards": list(args.get("cards") or []),
                        "changed_at": format_ts(clock.now()),
                        "run_id": ctx.run_id,
                        "step_id": ctx.step_id,
                    },
                )
            except LedgerError:
                # No evidence, no change: put the file back as it was.
                compendium.replace(rel, old, after)
                raise
        return {"path": rel, "hash_before": before, "hash_after": after, "seq": record.seq}

    def find(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        del ctx
        hits = search(
            compendium,
            str(args["query"]),
            department=args.get("department"),
            limit=int(args.get("limit", 5)),
        )
        return {"cards": [hit.to_dict() for hit in hits]}

    return [
        Tool(
            name=WRITE_TOOL,
            description="Create, replace or delete one compendium file (compare-and-set on its hash).",
            parameters={
                "type": "object",
                "properties": {
                    "path": {"type": "string", "minLength": 4, "maxLength": 400},
                    "content": {"type": ["string", "null"], "maxLength": 4_000_000},
                    "expected_hash": _HASH,
                    "reason": {"type": "string", "maxLength": 400},
                    "cards": {
                        "type": "array",
                        "maxItems": 5000,
                        "items": {
                            "type": "object",
                            "properties": {
                                "card_id": {"type": "string"},
                                "change": {"enum": ["written", "updated", "retired"]},
                                "status": {"type": "string"},
                                "effect": {"type": "string"},
                                "evidence": {"type": "array", "items": {"type": "string"}},
                            },
                            "required": ["card_id", "change", "status", "effect"],
                        },
                    },
                },
                "required": ["path", "content", "expected_hash"],
                "additionalProperties": False,
            },
            handler=write,
            policy=WRITE_POLICY,
        ),
        Tool(
            name=SEARCH_TOOL,
            description=SEARCH_DESCRIPTION,
            parameters=SEARCH_PARAMETERS,
            handler=find,
            policy=SEARCH_POLICY,
        ),
    ]


def register_tools(control: ControlPlane, compendium: Compendium, ledger: Ledger) -> None:
    """Add the compendium tools to ``control``'s registry (once)."""
    for tool in compendium_tools(compendium=compendium, ledger=ledger, clock=control.clock):
        if tool.name not in control.registry:
            control.registry.register(tool)


@dataclass
class CompendiumWriter:
    """One governed run of a compendium writer (see the module docstring).

    Args:
        control: a control plane whose registry holds the compendium tools
            (:func:`register_tools` is called for you).
        compendium: the directory.
        role: the run's role (``curator``, ``sharder``).
        initiator_id: on whose behalf.
        goal: the run's goal text.
        attempts: reads and recomputes on a hash conflict before giving up.
    """

    control: ControlPlane
    compendium: Compendium
    role: str = "curator"
    initiator_id: str = "curator"
    goal: str = "curate the compendium"
    attempts: int = 8
    run: Run | None = None
    changed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        ledger = self.control.ledger
        assert isinstance(ledger, Ledger)
        register_tools(self.control, self.compendium, ledger)

    def _run(self) -> Run:
        if self.run is None:
            self.run = self.control.start_run(self.role, self.initiator_id, self.goal)
        return self.run

    def write(
        self,
        rel: str,
        render: Callable[[str | None], str | None],
        reason: str,
        cards: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> str:
        """Set ``rel`` to ``render(current text)``; returns created, updated, deleted, unchanged.

        ``render`` is called again with the newer text when another writer changed the file in
        between, so it must be a pure function of the text it gets. ``cards`` (called after
        ``render``) lists the cards the change wrote, updated or retired, for the ledger.

        Raises:
            ConflictError: the file kept changing for ``attempts`` tries.
            LedgerError: the control plane refused or failed the write (reason given).
        """
        for _ in range(self.attempts):
            current = self.compendium.read(rel)
            new = render(current)
            if new == current:
                return "unchanged"
            args: dict[str, Any] = {
                "path": rel,
                "content": new,
                "expected_hash": content_hash(current),
                "reason": reason[:400],
            }
            if cards is not None:
                args["cards"] = cards()
            result = self.control.execute(self._run(), WRITE_TOOL, args)
            if result.outcome is StepOutcome.EXECUTED:
                self.changed.append(rel)
                return "deleted" if new is None else ("created" if current is None else "updated")
            if "ConflictError" not in (result.reason or ""):
                self.failed.append(rel)
                raise LedgerError(f"cannot write {rel}: {result.reason or result.outcome.value}")
        raise ConflictError(f"{rel} kept changing under another writer; gave up")

    def finish(self, message: str) -> str | None:
        """Close the run and commit to git when the directory is a repository."""
        if self.run is not None:
            self.control.finish_run(self.run, "failed" if self.failed else "completed")
            self.run = None
        return self.compendium.git_commit(message) if self.changed else None
