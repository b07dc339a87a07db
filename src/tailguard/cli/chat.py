"""CLI command: ``tailguard chat`` -- one turn of a role agent through the control plane."""

from __future__ import annotations

from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail


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
    role: str = typer.Option(None, "--role", help="driver, recruiter, carrier or admin."),
    message: str = typer.Option(None, "--message", "-m", help="What the user says."),
    provider: str = typer.Option(
        None,
        "--provider",
        help="anthropic:<model>, openai:<model> or scripted (default: $TAILGUARD_MODEL, "
        "else scripted).",
    ),
    db: str = typer.Option(
        "tailguard-chat.db",
        "--db",
        help="Store URL (sqlite:///path.db, a bare path, postgresql://...); seeded with the "
        "reference dataset on first use.",
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
    chosen = open_provider(provider, scripted_rules=RECRUITING_RULES) if provider else None
    stack = open_chat(db, provider=chosen)
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


def register(app: typer.Typer) -> None:
    """Add ``chat`` to ``app``."""
    app.command("chat")(chat)
