"""CLI commands: ``tailguard tools list``, the governed tools' policy table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json


def _table(rows: list[dict[str, Any]]) -> str:
    headers = ["tool", "risk level", "approval", "rate limit", "rollback"]
    lines = [
        [
            row["tool"],
            row["risk_level"],
            "required" if row["requires_approval"] else "no",
            f"{row['rate_limit']}/min" if row["rate_limit"] is not None else "unlimited",
            row["rollback_strategy"] or "-",
        ]
        for row in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    return "\n".join(out)


def register(app: typer.Typer) -> None:
    """Add the ``tools`` command group to ``app``."""
    tools_app = typer.Typer(help="The governed tools and their policies.", no_args_is_help=True)

    @tools_app.command("list")
    def list_tools(
        policies: Path | None = typer.Option(
            None,
            "--policies",
            help="A YAML policy file; without it, the built-in reference policies.",
        ),
        output_format: OutputFormat = FORMAT_OPTION,
    ) -> None:
        """Print the policy table: tool, risk level, approval, rate limit, rollback."""
        from tailguard.control.policy import builtin_policies, load_policies, policy_table

        loaded = load_policies(policies) if policies is not None else builtin_policies()
        rows = policy_table(loaded)
        if output_format is OutputFormat.json:
            emit_json({"source": str(policies) if policies else "builtin", "tools": rows})
        else:
            typer.echo(_table(rows))

    app.add_typer(tools_app, name="tools")
