"""API keys, roles and principals: who may act, and as whom the control plane sees them.

The HTTP service authenticates requests with these (its FastAPI dependencies are in
:mod:`tailguard.service.auth`); the agents' runner, the MCP server and the CLI use them without
loading the service.

A key is shown once, when it is created (``tg_<key_id>_<secret>``); the database keeps only the
key id, a random salt and ``sha256(salt + secret)``. The secret has 256 bits of entropy, so one
salted hash is enough (a slow password hash protects low-entropy secrets, which these are not)
and :meth:`KeyStore.verify` costs one primary-key lookup and one constant-time comparison.

Roles are ordered: ``viewer`` < ``operator`` < ``approver`` < ``admin``; an endpoint asks for the
least role it needs with :func:`require_role`. The key's *name* is the person's identity: it is
the ``initiator_id`` of the runs they start and the ``decided_by`` of the gates they decide, so
several keys of one name (a rotation) are still one person and cannot approve their own runs.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa

from tailguard.clock import Clock, SystemClock, format_ts
from tailguard.errors import (
    ConflictError,
    InvalidInputError,
    LedgerError,
    NotFoundError,
    TailguardError,
)
from tailguard.identity import canonical_name
from tailguard.migrations import ensure_schema

metadata = sa.MetaData()

api_keys = sa.Table(
    "tailguard_api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float(precision=53), nullable=False),
    sa.Column("revoked_at", sa.Float(precision=53), nullable=True),
)

_KEY_RE = re.compile(r"^tg_([0-9a-f]{16})_([A-Za-z0-9_-]{20,128})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


class AuthenticationError(TailguardError):
    """No API key, or one that is unknown, malformed or revoked."""

    code = "unauthenticated"
    http_status = 401


class Role(enum.StrEnum):
    """What a key may do, in increasing order of power."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer up to 3 for admin."""
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """True when this role is at least ``needed``."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text``.

        Raises:
            InvalidInputError: not one of viewer, operator, approver, admin.
        """
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise InvalidInputError(f"unknown role {text!r} (use one of {names})") from None


_RANKS: dict[Role, int] = {role: i for i, role in enumerate(Role)}


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """The caller behind a verified key.

    Attributes:
        key_id: the key used (safe to log).
        name: the person or system the key belongs to; their identity in the ledger.
        role: what they may do.
    """

    key_id: str
    name: str
    role: Role

    @property
    def subject(self) -> str:
        """The identity recorded as initiator of runs and decider of gates."""
        return self.name


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiKey:
    """A stored key as listed (never with its secret)."""

    key_id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """True until the key is revoked."""
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role.value,
            "created_at": format_ts(self.created_at),
            "revoked_at": format_ts(self.revoked_at) if self.revoked_at else None,
            "active": self.active,
        }


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def _row_to_key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        role=Role(row.role),
        created_at=datetime.fromtimestamp(row.created_at, UTC),
        revoked_at=None if row.revoked_at is None else datetime.fromtimestamp(row.revoked_at, UTC),
    )


class KeyStore:
    """API keys in the ledger's database (table ``tailguard_api_keys``).

    It is also the control plane's :class:`~tailguard.control.Approvers`: a person may decide
    gates while they hold an active key of role ``approver`` or ``admin``.

    Args:
        engine: the ledger's engine (SQLite or PostgreSQL).
        clock: the time source for ``created_at`` / ``revoked_at``.
    """

    # A fixed salt/digest to compare against when a key id is unknown, so an unknown id costs
    # the same hash-and-compare as a known one.
    _DUMMY: ClassVar[tuple[str, str]] = ("00" * 16, "0" * 64)

    def __init__(self, engine: sa.Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self._read_options: dict[str, Any] = (
            {"tailguard_read_only": True} if engine.dialect.name == "sqlite" else {}
        )
        for attempt in range(5):
            try:
                ensure_schema(engine)  # tables come from the migrations
                break
            except sa.exc.DBAPIError as exc:  # another process created it at the same moment
                if attempt == 4:
                    raise LedgerError(f"cannot create the API key table: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn.execution_options(**self._read_options)
        except sa.exc.DBAPIError as exc:
            raise LedgerError(f"cannot read the API key table: {exc.orig or exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            raise LedgerError(f"cannot write the API key table: {exc.orig or exc}") from exc

    def create(self, name: str, role: Role | str) -> tuple[ApiKey, str]:
        """Create a key; returns it and the raw key, which is never shown again.

        Raises:
            InvalidInputError: a bad name or role.
        """
        given = name
        name = canonical_name(name or "")
        if not _NAME_RE.match(name):
            raise InvalidInputError(
                f"bad key name {given!r}: 1-128 of letters, digits and . _ @ -, "
                "starting with a letter or digit"
            )
        role = role if isinstance(role, Role) else Role.parse(role)
        with self._read() as conn:
            existing = conn.execute(sa.select(api_keys.c.name).distinct()).scalars().all()
        clash = [n for n in existing if n != name and canonical_name(n) == name]
        if clash:
            # A key stored before names were normalised: one person must keep one spelling.
            raise ConflictError(
                f"key name {given!r} collides with the existing name {clash[0]!r} "
                "(names are compared without case and Unicode compatibility forms)"
            )
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        now = self.clock.now()
        with self._write() as conn:
            conn.execute(
                sa.insert(api_keys).values(
                    key_id=key_id,
                    name=name,
                    role=role.value,
                    salt=salt,
                    digest=_digest(salt, secret),
                    created_at=now.timestamp(),
                    revoked_at=None,
                )
            )
        key = ApiKey(key_id=key_id, name=name, role=role, created_at=now, revoked_at=None)
        return key, f"tg_{key_id}_{secret}"

    def verify(self, raw: str | None) -> Principal | None:
        """The principal of an active key, or None for a missing, unknown or revoked key."""
        match = _KEY_RE.match((raw or "").strip())
        if match is None:
            return None
        key_id, secret = match.groups()
        with self._read() as conn:
            row = conn.execute(
                sa.select(
                    api_keys.c.name,
                    api_keys.c.role,
                    api_keys.c.salt,
                    api_keys.c.digest,
                    api_keys.c.revoked_at,
                ).where(api_keys.c.key_id == key_id)
            ).one_or_none()
        salt, digest = (row.salt, row.digest) if row is not None else self._DUMMY
        good = hmac.compare_digest(_digest(salt, secret), digest)
        if row is None or not good or row.revoked_at is not None:
            return None
        return Principal(key_id=key_id, name=row.name, role=Role(row.role))

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """Every key, oldest first (revoked ones too unless ``include_revoked`` is false)."""
        stmt = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if not include_revoked:
            stmt = stmt.where(api_keys.c.revoked_at.is_(None))
        with self._read() as conn:
            return [_row_to_key(row) for row in conn.execute(stmt).all()]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (it stops working at once); revoking twice is harmless.

        Raises:
            NotFoundError: no such key.
        """
        now = self.clock.now().timestamp()
        with self._write() as conn:
            conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"unknown API key {key_id!r}")
        return _row_to_key(row)

    def can_decide(self, approver_id: str, *, tool_name: str, risk_level: str) -> bool:
        """True when ``approver_id`` holds an active approver or admin key (any tool)."""
        del tool_name, risk_level
        roles = [Role.APPROVER.value, Role.ADMIN.value]
        with self._read() as conn:
            hit = conn.execute(
                sa.select(api_keys.c.key_id)
                .where(
                    api_keys.c.name == canonical_name(approver_id),
                    api_keys.c.role.in_(roles),
                    api_keys.c.revoked_at.is_(None),
                )
                .limit(1)
            ).first()
        return hit is not None
