"""How the HTTP service authenticates a request and checks its role (FastAPI dependencies).

API keys, roles and principals themselves live in :mod:`tailguard.identity.keys` (the agents'
runner, the MCP server and the CLI use them without loading the service); they are re-exported
here for the service's modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tailguard.errors import PermissionDeniedError
from tailguard.identity.keys import (
    ApiKey,
    AuthenticationError,
    KeyStore,
    Principal,
    Role,
    api_keys,
    metadata,
)

__all__ = [
    "ApiKey",
    "AuthenticationError",
    "KeyStore",
    "Principal",
    "Role",
    "api_keys",
    "authenticate",
    "metadata",
    "require_role",
]


# Both schemes appear in the OpenAPI schema; either one authenticates a request.
bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The API key in an `X-API-Key` header."
)


def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    header_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The request's principal, from ``Authorization: Bearer`` or ``X-API-Key``.

    Raises:
        AuthenticationError: no key, or an unknown or revoked one.
    """
    raw = bearer.credentials if bearer is not None else header_key
    if not raw:
        raise AuthenticationError("an API key is required (Authorization: Bearer or X-API-Key)")
    keys: KeyStore = request.app.state.tailguard.keys
    seen = getattr(request.state, "verified_key", None)  # by the edge, moments ago
    principal = seen[1] if seen is not None and seen[0] == raw.strip() else keys.verify(raw)
    if principal is None:
        raise AuthenticationError("the API key is unknown or revoked")
    request.state.principal = principal
    return principal


def require_role(role: Role | str) -> Callable[..., Principal]:
    """A FastAPI dependency that authenticates and demands at least ``role``.

    >>> @router.get("/thing")
    ... def thing(who: Annotated[Principal, Depends(require_role("operator"))]) -> ...
    """
    needed = role if isinstance(role, Role) else Role.parse(role)

    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.role.allows(needed):
            raise PermissionDeniedError(
                f"this needs the {needed.value} role; key {principal.key_id} is "
                f"{principal.role.value}",
                details={"needed": needed.value, "role": principal.role.value},
            )
        return principal

    dependency.__name__ = f"require_{needed.value}"
    return dependency
