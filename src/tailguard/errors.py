"""The one exception tree of tailguard.

Every error a user can cause or meet derives from :class:`TailguardError` and carries a stable
``code``. The CLI maps any of them to exit code 2 with a one-line message; the HTTP layer maps
them to a JSON body ``{"code", "message", "details"}`` with the class's ``http_status``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class TailguardError(Exception):
    """Base of every tailguard error."""

    code: ClassVar[str] = "tailguard_error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 2
    """The CLI's exit code for this error (INTERFACES.md section 3: 2, bad usage or input)."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON body the service answers with."""
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInputError(TailguardError):
    """Input that breaks a contract: bad arguments, bad event, bad request body."""

    code = "invalid_input"
    http_status = 422


class UnreadableInputError(InvalidInputError):
    """An input file that cannot be read at all (truncated, corrupt): nothing in it was used.

    The CLI exits 1 (a check of the input failed) rather than 2, so a pipeline never takes an
    empty result for an empty input; the dead-letter file keeps the detail.
    """

    code = "unreadable_input"
    exit_code = 1


class ConfigFileError(InvalidInputError):
    """A configuration file (rules, policies, catalogue, recipes) that cannot be accepted.

    The message always names the file, the line (when known) and the reason.
    """

    code = "invalid_config_file"

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(
            f"{where}: {reason}", details={"file": path, "line": line, "reason": reason}
        )
        self.path = path
        self.line = line
        self.reason = reason


class NotFoundError(TailguardError):
    """A named thing (run, gate, tool, area) does not exist."""

    code = "not_found"
    http_status = 404


class ConflictError(TailguardError):
    """A write that conflicts with what is stored (duplicate id, gate already decided)."""

    code = "conflict"
    http_status = 409


class PermissionDeniedError(TailguardError):
    """The caller may not do this (wrong role, approving their own run, no approver)."""

    code = "permission_denied"
    http_status = 403


class PolicyError(TailguardError):
    """A tool or policy is missing or malformed; governed execution refuses it."""

    code = "policy_error"
    http_status = 400


class RateLimitedError(TailguardError):
    """A tool's per-user rate limit is used up for the current window."""

    code = "rate_limited"
    http_status = 429


class BudgetExceededError(TailguardError):
    """A run or user budget (tokens, cost, time, daily runs) would be exceeded."""

    code = "budget_exceeded"
    http_status = 429


class LedgerError(TailguardError):
    """The ledger could not be written or read."""

    code = "ledger_error"
    http_status = 503


class ChainBrokenError(LedgerError):
    """``ledger verify`` found a record altered, inserted or removed."""

    code = "chain_broken"
    http_status = 500


class BackendUnavailableError(TailguardError):
    """A real backend (PostgreSQL, Redis, NATS, a downstream agent) cannot be reached."""

    code = "backend_unavailable"
    http_status = 503
