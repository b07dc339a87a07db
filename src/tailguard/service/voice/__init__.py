"""``POST /v1/voice/tool-calls``: the tool webhook of a hosted voice platform (Vapi's format).

Vapi sends a server message ``{"message": {"type": "tool-calls", "toolCallList": [...],
"call": {...}, "assistant": {...}, "artifact": {"messages": [...]}}}`` and expects
``{"results": [{"toolCallId", "result"}]}``. Here:

* the shared secret (``X-Vapi-Secret``, or ``Authorization: Bearer``) is checked in constant
  time before the body is even parsed; a missing configuration refuses every delivery;
* the assistant (by id, then name) maps to a recruiting role and the dataset user its calls act
  for (:class:`VoiceConfig`); an unmapped assistant is refused;
* each call is claimed in the durable table ``voice_tool_calls`` keyed by (call id, tool call
  id): a retried delivery gets the stored answer and runs nothing again;
* each call is one governed run of the mapped role (:class:`tailguard.mcp.Gateway`); a call that
  needs approval answers with a short sentence to be spoken, and ``check_approval`` with the
  gate id follows it up, as over MCP;
* the voice call is a conversation of the role agents' store (``voice_calls`` links call id,
  assistant and conversation): new transcript fragments of each delivery and every tool call
  and result are appended, linked to their runs.
"""

from __future__ import annotations

import hmac
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from tailguard.service.auth import AuthenticationError
from tailguard.service.chat import chat_stack_of
from tailguard.service.errors import ERROR_RESPONSES
from tailguard.service.voice.calls import (
    ASSISTANTS_ENV,
    SECRET_ENV,
    VoiceAssistant,
    VoiceConfig,
    VoiceService,
    spoken,
    voice_calls,
    voice_tool_calls,
)
from tailguard.service.voice.envelope import (
    ToolCallResult,
    ToolCallsResponse,
    VapiEnvelope,
    check_calls,
    parse_envelope,
)

__all__ = [
    "ASSISTANTS_ENV",
    "SECRET_ENV",
    "ToolCallResult",
    "ToolCallsResponse",
    "VapiEnvelope",
    "VoiceAssistant",
    "VoiceConfig",
    "VoiceService",
    "check_calls",
    "check_secret",
    "parse_envelope",
    "router",
    "secret_ok",
    "spoken",
    "tool_calls",
    "verified_config",
    "voice_calls",
    "voice_config",
    "voice_service",
    "voice_service_of",
    "voice_tool_calls",
]

router = APIRouter(prefix="/v1/voice", tags=["voice"], responses=ERROR_RESPONSES)

_SERVICE_KEY = "voice_service"
_CONFIG_KEY = "voice_config"
_LOCK = threading.Lock()


def voice_config(request: Request) -> VoiceConfig:
    """The app's voice configuration (``extras['voice_config']``, else the environment)."""
    extras = request.app.state.tailguard.extras
    config = extras.get(_CONFIG_KEY)
    if config is None:
        config = extras[_CONFIG_KEY] = VoiceConfig.from_env()
    assert isinstance(config, VoiceConfig)
    return config


def voice_service(request: Request) -> VoiceService:
    """The request's app's :class:`VoiceService` (a FastAPI dependency)."""
    return voice_service_of(request.app)


def voice_service_of(app: Any) -> VoiceService:
    """The app's :class:`VoiceService`, on the shared chat stack (created on first use)."""
    extras = app.state.tailguard.extras
    service = extras.get(_SERVICE_KEY)
    if service is None:
        stack = chat_stack_of(app)
        with _LOCK:
            service = extras.get(_SERVICE_KEY)
            if service is None:
                service = extras[_SERVICE_KEY] = VoiceService(
                    stack, clock=app.state.tailguard.settings.clock
                )
    assert isinstance(service, VoiceService)
    return service


def check_secret(request: Request, config: VoiceConfig) -> None:
    """Refuse a delivery whose shared secret is missing or wrong (constant-time compare).

    Raises:
        AuthenticationError: no secret configured, none sent, or a wrong one.
    """
    sent = request.headers.get("x-vapi-secret") or ""
    auth = request.headers.get("authorization") or ""
    if not sent and auth.lower().startswith("bearer "):
        sent = auth[7:].strip()
    if not config.secret:
        raise AuthenticationError("the voice webhook has no shared secret configured")
    if not hmac.compare_digest(sent.encode(), config.secret.encode()):
        raise AuthenticationError("wrong or missing X-Vapi-Secret")


def secret_ok(request: Request) -> bool:
    """Whether a delivery carries the webhook's shared secret (headers only: the service's
    edge checks it before reading the body, :mod:`tailguard.service.guard`)."""
    try:
        check_secret(request, voice_config(request))
    except AuthenticationError:
        return False
    return True


def verified_config(
    request: Request, config: Annotated[VoiceConfig, Depends(voice_config)]
) -> VoiceConfig:
    """The voice configuration, once the delivery's shared secret checks (a dependency).

    FastAPI solves it before it validates the body, so a caller without the secret learns
    nothing about the body's shape.
    """
    check_secret(request, config)
    return config


@router.post(
    "/tool-calls",
    summary="Vapi tool-calls webhook: run each call through the control plane",
)
async def tool_calls(
    request: Request,
    config: Annotated[VoiceConfig, Depends(verified_config)],
    envelope: VapiEnvelope,
) -> ToolCallsResponse:
    """Answer a ``tool-calls`` delivery with one result per call (retries answer the same)."""
    check_calls(envelope)
    service = await run_in_threadpool(voice_service, request)
    return await run_in_threadpool(service.handle, envelope, config)
