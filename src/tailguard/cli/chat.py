"""CLI command: ``tailguard chat`` -- one turn of a role agent through the control plane."""

from __future__ import annotations

import getpass
from typing import Any

import typer

from tailguard.cli._common import (
    FORMAT_OPTION,
    OutputFormat,
    default_store_path,
    emit_json,
    fail,
)


def _print(reply: dict[str, Any]) -> None:
    typer.echo(f"[{reply['role']}] run {reply['run_id']} -> {reply['status']}")
    if reply.get("stand_in"):
        typer.echo(
            "  (scripted stand-in, not a language model: it follows written rules; "
            "--provider anthropic:MODEL or openai:MODEL for a real one)"
        )
    for call in reply["tool_calls"]:
        typer.echo(f"  tool {call['tool']}: {call['outcome']} - {call['summary'] or ''}")
    for gate in reply["gates"]:
        typer.echo(
            f"  APPROVAL REQUIRED {gate['gate_id']}: {gate['tool']} ({gate['risk_level']}) "
            f"{gate['arguments']}"
        )
    if reply["answer"]:
        typer.echo(reply["answer"])
    usage = reply["usage"]
    typer.echo(
        f"  tokens {usage['input_tokens']} in / {usage['output_tokens']} out, "
        f"${usage['cost_usd']:.4f}"
    )


def chat(
    domain: str = typer.Option(
        "recruiting",
        "--domain",
        help="operations (the field-service network: ops_manager, ops_analyst) or recruiting "
        "(the second reference domain: driver, recruiter, carrier, admin).",
    ),
    role: str = typer.Option(
        None,
        "--role",
        help="operations: ops_manager or ops_analyst; recruiting: driver, recruiter, carrier "
        "or admin.",
    ),
    message: str = typer.Option(None, "--message", "-m", help="What the user says."),
    provider: str = typer.Option(
        None,
        "--provider",
        help="anthropic:<model>, openai:<model> or scripted (default: $TAILGUARD_MODEL, "
        "else scripted).",
    ),
    db: str = typer.Option(
        None,
        "--db",
        envvar="TAILGUARD_DB",
        help="Store URL (sqlite:///path.db, a bare path, postgresql://...); for recruiting, "
        "seeded with the reference dataset on first use. Default: "
        "$XDG_DATA_HOME/tailguard/chat.db (~/.local/share/tailguard/chat.db).",
    ),
    pulse: str = typer.Option(
        None,
        "--pulse",
        envvar="TAILGUARD_PULSE",
        help="operations: the pulse store (sqlite:///pulse.db or redis://...).",
    ),
    user: str = typer.Option(None, "--user", help="Who speaks (default: the role's demo user)."),
    conversation: str = typer.Option(None, "--conversation", help="Continue this conversation id."),
    approve: str = typer.Option(None, "--approve", help="Approve this gate id, then resume."),
    reject: str = typer.Option(None, "--reject", help="Reject this gate id, then resume."),
    approver: str = typer.Option("admin", "--as", help="Who decides the gate."),
    reason: str = typer.Option(None, "--reason", help="Why the gate was decided so."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Send one message to a role agent (or decide a gate and resume its run)."""
    from tailguard.roles.providers import open_provider
    from tailguard.roles.recruiting.roles import role_spec
    from tailguard.roles.recruiting.script import RECRUITING_RULES
    from tailguard.roles.session import open_chat

    if approve and reject:
        fail("give --approve or --reject, not both")
    if domain not in ("operations", "recruiting"):
        fail(f"unknown domain {domain!r}: one of operations, recruiting")
    url = db or default_store_path()
    if domain == "operations":
        _operations(
            url,
            pulse,
            role,
            message,
            provider,
            user,
            conversation,
            approve,
            reject,
            approver,
            reason,
            fmt,
        )
        return
    chosen = open_provider(provider, scripted_rules=RECRUITING_RULES) if provider else None
    stack = open_chat(url, provider=chosen)
    try:
        if approve or reject:
            gate_id = approve or reject
            reply = stack.agent.decide(
                gate_id, "approve" if approve else "reject", approver, reason=reason
            )
        else:
            if not role or message is None:
                fail("--role and --message are required (or --approve/--reject GATE)")
            spec = role_spec(role)
            reply = stack.agent.send(
                role=role,
                user_id=user or spec.default_user,
                message=message,
                conversation_id=conversation,
            )
    finally:
        stack.close()
    payload = reply.to_dict()
    if fmt is OutputFormat.json:
        emit_json(payload)
    else:
        _print(payload)


def _operations(
    url: str,
    pulse: str | None,
    role: str | None,
    message: str | None,
    provider: str | None,
    user: str | None,
    conversation: str | None,
    approve: str | None,
    reject: str | None,
    approver: str,
    reason: str | None,
    fmt: OutputFormat,
) -> None:
    """One turn of the operations-manager agent (or a gate decided, then its run resumed)."""
    from tailguard.roles.fieldservice.script import OPS_RULES
    from tailguard.roles.fieldservice.session import open_ops_chat
    from tailguard.roles.providers import open_provider

    chosen = open_provider(provider, scripted_rules=OPS_RULES) if provider else None
    speaker = user or getpass.getuser()
    stack = open_ops_chat(
        url,
        pulse_url=pulse,
        provider=chosen,
        approvers=[approver if (approve or reject) else speaker],
    )
    try:
        if approve or reject:
            gate_id = str(approve or reject)
            reply = stack.agent.decide(
                gate_id, "approve" if approve else "reject", approver, reason=reason
            )
        else:
            if not role or message is None:
                fail("--role and --message are required (or --approve/--reject GATE)")
            reply = stack.agent.send(
                role=role, user_id=speaker, message=message, conversation_id=conversation
            )
    finally:
        stack.close()
    payload = reply.to_dict()
    if fmt is OutputFormat.json:
        emit_json(payload)
    else:
        _print(payload)


def register(app: typer.Typer) -> None:
    """Add ``chat`` to ``app``."""
    app.command("chat")(chat)
