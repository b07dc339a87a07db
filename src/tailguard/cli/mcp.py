"""CLI command: ``tailguard mcp`` -- the governed tools as an MCP server (stdio or HTTP)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from tailguard.cli._common import (
    FORMAT_OPTION,
    OutputFormat,
    default_store_path,
    emit_json,
    fail,
)


def _print_listing(tools: list[dict[str, Any]], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        emit_json({"tools": tools})
        return
    for tool in tools:
        policy = tool.get("_meta", {}).get("tailguard.dev/policy", {})
        typer.echo(
            f"{tool['name']:<32} {policy.get('risk_level', 'builtin'):<13} "
            f"{json.dumps(tool.get('annotations', {}), sort_keys=True)}"
        )


def _absolute(db: str) -> str:
    """``db`` with a relative SQLite path made absolute (URLs of servers unchanged)."""
    if "://" not in db:
        return str(Path(db).expanduser().resolve())
    if db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
        rest = db[len("sqlite:///") :]
        if rest and rest != ":memory:":
            return f"sqlite:///{Path(rest).expanduser().resolve()}"
    return db


def _config_snippet(args: list[str]) -> dict[str, Any]:
    """The client configuration: this interpreter's ``tailguard``, absolute paths only."""
    exe = shutil.which("tailguard") or str(Path(sys.argv[0]).resolve())
    return {"mcpServers": {"tailguard": {"command": str(Path(exe).resolve()), "args": args}}}


def mcp(
    http: int = typer.Option(
        None,
        "--http",
        min=0,
        max=65535,
        help="Serve streamable HTTP on this port (path /mcp, API key required) instead of stdio.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind with --http."),
    domain: str = typer.Option(
        "recruiting",
        "--domain",
        help="Which reference domain to serve: operations (the field-service network: pulse, "
        "tails, scorecards, interventions and outcomes, OKRs, approvals) or recruiting.",
    ),
    role: str = typer.Option(
        None,
        "--role",
        help="Serve only this role's tools (operations: ops_manager, ops_analyst; recruiting: "
        "driver, recruiter, carrier, admin).",
    ),
    db: str = typer.Option(
        None,
        "--db",
        envvar="TAILGUARD_DB",
        help="Store URL (sqlite:///path.db, a bare path, postgresql://...): ledger, control "
        "tables and, for recruiting, the reference dataset (seeded on first use). Default: "
        "$XDG_DATA_HOME/tailguard/chat.db (~/.local/share/tailguard/chat.db).",
    ),
    pulse: str = typer.Option(
        None,
        "--pulse",
        envvar="TAILGUARD_PULSE",
        help="Operations: the pulse store (sqlite:///pulse.db or redis://...).",
    ),
    approver: list[str] = typer.Option(
        [],
        "--approver",
        help="Operations: a person who may decide gates (repeatable; holders of approver or "
        "admin API keys may too).",
    ),
    user: str = typer.Option(
        None,
        "--acting-user",
        help="Recruiting: the dataset user the tools act for (default: the role's demo user, "
        "or the admin without --role).",
    ),
    downstream: str = typer.Option(
        None,
        "--downstream",
        help="Also serve the intervention catalogue's tools, handing their jobs to the REST "
        "downstream agent at this URL (not with --role).",
    ),
    list_tools: bool = typer.Option(
        False, "--list", help="Print the tool listing (with annotations and policy) and exit."
    ),
    print_config: bool = typer.Option(
        False,
        "--print-config",
        help="Print the MCP client configuration for these options (absolute paths) and exit.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Serve the governed tools over the Model Context Protocol (stdio by default).

    Every call is a control-plane run of role 'mcp' in the ledger; calls needing approval
    answer with a gate id to follow up with the check_approval tool.
    """
    from tailguard.mcp.domains import OPERATIONS, check_domain

    check_domain(domain)
    if downstream and role:
        fail("--downstream serves the intervention tools, which no --role is offered")
    if domain == OPERATIONS and user:
        fail("--acting-user is for the recruiting domain")
    if list_tools and not (domain != OPERATIONS and user):
        # No database, no SDK: the listing from the registry alone (an acting user is checked
        # against the dataset, so that case opens the store below).
        from tailguard.mcp.listing import tool_listing

        _print_listing(tool_listing(domain=domain, role=role, downstream_url=downstream), fmt)
        return
    url = _absolute(db) if db else default_store_path()
    if print_config:
        args = ["mcp", "--domain", domain, "--db", url]
        if role:
            args += ["--role", role]
        if pulse:
            args += ["--pulse", _absolute(pulse)]
        for name in approver:
            args += ["--approver", name]
        emit_json(_config_snippet(args))
        return
    import anyio

    from tailguard.mcp.server import GovernedMcpServer, open_mcp

    if domain == OPERATIONS:
        from tailguard.mcp.domains import open_ops_mcp

        stack = open_ops_mcp(
            url,
            pulse_url=_absolute(pulse) if pulse else None,
            role=role,
            approver_ids=approver,
            downstream_url=downstream,
        )
    else:
        stack = open_mcp(url, role=role, acting_user=user, downstream_url=downstream)
    try:
        server = GovernedMcpServer(stack)
        if list_tools:
            _print_listing(
                [
                    t.model_dump(by_alias=True, exclude_none=True, mode="json")
                    for t in server.tools()
                ],
                fmt,
            )
            return
        if http is None:
            anyio.run(server.serve_stdio)
            return
        import uvicorn

        from tailguard.identity.keys import KeyStore

        keys = KeyStore(stack.ledger.engine, clock=stack.control.clock)
        app = server.http_app(keys.verify, host=host)
        uvicorn.run(app, host=host, port=http, log_level="warning")
    finally:
        stack.close()


def register(app: typer.Typer) -> None:
    """Add ``mcp`` to ``app``."""
    app.command("mcp")(mcp)
