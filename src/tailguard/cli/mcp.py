"""CLI command: ``tailguard mcp`` -- the governed tools as an MCP server (stdio or HTTP)."""

from __future__ import annotations

import json

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail


def mcp(
    http: int = typer.Option(
        None,
        "--http",
        min=0,
        max=65535,
        help="Serve streamable HTTP on this port (path /mcp, API key required) instead of stdio.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind with --http."),
    role: str = typer.Option(
        None, "--role", help="Serve only this role's tools (driver, recruiter, carrier, admin)."
    ),
    db: str = typer.Option(
        "tailguard-chat.db",
        "--db",
        help="Store URL (sqlite:///path.db, a bare path, postgresql://...): ledger, control "
        "tables and the reference dataset (seeded on first use).",
    ),
    user: str = typer.Option(
        None,
        "--acting-user",
        help="The dataset user the recruiting tools act for (default: the role's demo user, "
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
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Serve the governed tools over the Model Context Protocol (stdio by default).

    Every call is a control-plane run of role 'mcp' in the ledger; calls needing approval
    answer with a gate id to follow up with the check_approval tool.
    """
    import anyio

    from tailguard.mcp import GovernedMcpServer, open_mcp

    if downstream and role:
        fail("--downstream serves the intervention tools, which no --role is offered")
    stack = open_mcp(db, role=role, acting_user=user, downstream_url=downstream)
    try:
        server = GovernedMcpServer(stack)
        if list_tools:
            tools = [
                t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in server.tools()
            ]
            if fmt is OutputFormat.json:
                emit_json({"tools": tools})
            else:
                for tool in tools:
                    policy = tool.get("_meta", {}).get("tailguard.dev/policy", {})
                    typer.echo(
                        f"{tool['name']:<32} {policy.get('risk_level', 'builtin'):<13} "
                        f"{json.dumps(tool.get('annotations', {}), sort_keys=True)}"
                    )
            return
        if http is None:
            anyio.run(server.serve_stdio)
            return
        try:
            from tailguard.service.auth import KeyStore
        except ImportError:  # pragma: no cover - the service package ships with tailguard
            fail("serving MCP over HTTP needs tailguard.service.auth for API keys")
        import uvicorn

        keys = KeyStore(stack.ledger.engine, clock=stack.control.clock)
        app = server.http_app(keys.verify, host=host)
        uvicorn.run(app, host=host, port=http, log_level="warning")
    finally:
        stack.close()


def register(app: typer.Typer) -> None:
    """Add ``mcp`` to ``app``."""
    app.command("mcp")(mcp)
