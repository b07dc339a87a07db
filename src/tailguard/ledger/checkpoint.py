"""Signed checkpoints of the chain head: an anchor outside the database.

The hash chain shows a record altered, inserted or removed in the middle, but someone who owns
the database can cut the tail and rewrite the head row, delete everything, or re-hash the whole
chain from any point: the result is a valid chain. A checkpoint closes that gap: the head
(``seq``, ``hash``) and the time, signed with an Ed25519 key kept outside the database, written
to a file (JSON Lines, one checkpoint a line, appended) that lives elsewhere. Verifying the
ledger against its checkpoints reports a ledger shorter than a checkpoint, or one whose record
at a checkpoint's seq has another hash (rewritten and re-hashed).

What a checkpoint cannot show: records appended after the last checkpoint and then changed
and re-hashed, or a ledger and checkpoint file both replaced by someone holding the key. Keep
the key and the checkpoint file away from the database's owners, and checkpoint often.

The signed message is the canonical JSON of ``{"at", "hash", "key_id", "seq", "v": 1}``
(``at`` RFC 3339 UTC), so anyone can check a checkpoint with any Ed25519 library.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from tailguard.clock import Clock, format_ts, parse_ts
from tailguard.errors import ChainBrokenError, InvalidInputError, NotFoundError
from tailguard.ledger._canonical import GENESIS_HASH, canonical_json
from tailguard.ledger.store import Ledger
from tailguard.ledger.verify import VerifyReport

_VERSION = 1


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True, slots=True)
class Checkpoint:
    """A signed statement "the ledger's record ``seq`` had hash ``hash`` at time ``at``".

    Attributes:
        seq: the head's seq (0: an empty ledger).
        hash: the head's hash (the genesis hash for an empty ledger).
        at: when it was signed.
        key_id: :func:`key_id_of` the signing key.
        public_key: the signing key's raw public bytes, base64 (check ``key_id`` against a
            key you trust: anyone can sign with a key of their own).
        signature: Ed25519 signature of :meth:`message`, base64.
    """

    seq: int
    hash: str
    at: datetime
    key_id: str
    public_key: str
    signature: str

    def message(self) -> bytes:
        """The signed bytes."""
        body = {
            "at": format_ts(self.at),
            "hash": self.hash,
            "key_id": self.key_id,
            "seq": self.seq,
            "v": _VERSION,
        }
        return canonical_json(body).encode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        """One line of a checkpoint file."""
        return {
            "v": _VERSION,
            "seq": self.seq,
            "hash": self.hash,
            "at": format_ts(self.at),
            "key_id": self.key_id,
            "public_key": self.public_key,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "checkpoint") -> Checkpoint:
        """Parse one line of a checkpoint file.

        Raises:
            InvalidInputError: a line that is not a version-1 checkpoint.
        """
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            raise InvalidInputError(f"{where}: not a version-{_VERSION} checkpoint")
        try:
            seq, digest, at = data["seq"], data["hash"], data["at"]
            key_id, public_key, signature = data["key_id"], data["public_key"], data["signature"]
        except KeyError as exc:
            raise InvalidInputError(f"{where}: missing {exc.args[0]!r}") from None
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInputError(f"{where}: seq must be an integer >= 0")
        texts = (digest, at, key_id, public_key, signature)
        if not all(isinstance(v, str) for v in texts):
            raise InvalidInputError(f"{where}: hash, at, key_id, public_key, signature are text")
        try:
            when = parse_ts(at)
        except ValueError:
            raise InvalidInputError(f"{where}: at {at!r} is not an RFC 3339 timestamp") from None
        return cls(
            seq=seq,
            hash=digest,
            at=when,
            key_id=key_id,
            public_key=public_key,
            signature=signature,
        )

    def signer(self) -> Ed25519PublicKey:
        """The public key the checkpoint names.

        Raises:
            InvalidInputError: not a 32-byte Ed25519 key, or not the one ``key_id`` names.
        """
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
        except ValueError:
            raise InvalidInputError(f"checkpoint at seq {self.seq}: bad public key") from None
        if key_id_of(key) != self.key_id:
            raise InvalidInputError(f"checkpoint at seq {self.seq}: key_id does not match")
        return key

    def signed_by(self, key: Ed25519PublicKey) -> bool:
        """True when the signature is ``key``'s over :meth:`message`."""
        try:
            key.verify(base64.b64decode(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True


class CheckpointKey:
    """The Ed25519 private key that signs checkpoints (kept outside the database)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id_of(self.public)

    @classmethod
    def generate(cls) -> CheckpointKey:
        """A new random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> CheckpointKey:
        """Read a PEM (PKCS#8, unencrypted) Ed25519 private key.

        Raises:
            NotFoundError: no such file.
            InvalidInputError: not an Ed25519 private key.
        """
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no key file {path}") from None
        except OSError as exc:
            raise InvalidInputError(f"cannot read key file {path}: {exc.strerror}") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise InvalidInputError(f"{path} is not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidInputError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def save(self, path: Path) -> None:
        """Write the key as PEM, readable by its owner only; never over an existing file.

        Raises:
            InvalidInputError: the file exists or cannot be written.
        """
        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise InvalidInputError(f"{path} exists; a key is never overwritten") from None
        except OSError as exc:
            raise InvalidInputError(f"cannot write {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)

    def sign(self, *, seq: int, hash: str, at: datetime) -> Checkpoint:
        """A checkpoint of head (``seq``, ``hash``) at ``at``."""
        unsigned = Checkpoint(
            seq=seq,
            hash=hash,
            at=at,
            key_id=self.key_id,
            public_key=_b64(_raw_public(self.public)),
            signature="",
        )
        signature = _b64(self._private.sign(unsigned.message()))
        return Checkpoint(
            seq=seq,
            hash=hash,
            at=at,
            key_id=self.key_id,
            public_key=unsigned.public_key,
            signature=signature,
        )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The public key in a PEM file holding an Ed25519 private or public key.

    Raises:
        NotFoundError: no such file.
        InvalidInputError: neither.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no key file {path}") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read key file {path}: {exc.strerror}") from None
    if b"PRIVATE KEY" in data:
        return CheckpointKey.load(path).public
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{path} is not a PEM Ed25519 key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInputError(f"{path} is not an Ed25519 key")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM text (to hand to whoever verifies)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Every checkpoint in a checkpoint file, in file order.

    Raises:
        NotFoundError: no such file.
        InvalidInputError: a line that is not a checkpoint (naming the line).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"no checkpoint file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read checkpoint file {path}: {exc}") from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except ValueError:
            raise InvalidInputError(f"{where}: not JSON") from None
        out.append(Checkpoint.from_dict(data, where=where))
    return out


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one checkpoint to a checkpoint file (created if missing), flushed to disk."""
    line = json.dumps(checkpoint.to_dict(), sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def write_checkpoint(ledger: Ledger, key: CheckpointKey, out: Path, *, clock: Clock) -> Checkpoint:
    """Verify the chain, sign its head and append the checkpoint to ``out``.

    Raises:
        ChainBrokenError: the chain does not verify (nothing is signed: a checkpoint vouches
            only for a chain that checked).
    """
    report = ledger.verify()
    if not report.ok:
        raise ChainBrokenError(
            f"not signing a broken chain: seq {report.first_bad_seq} ({report.problem}): "
            f"{report.message}",
            details=report.to_dict(),
        )
    checkpoint = key.sign(seq=report.head_seq, hash=report.head_hash, at=clock.now())
    append_checkpoint(out, checkpoint)
    return checkpoint


class Checkpointer:
    """Writes a checkpoint when the last one is older than ``every_s`` (for a process that
    runs for long: the service calls :meth:`maybe_write` from its background sweep)."""

    def __init__(
        self, ledger: Ledger, key: CheckpointKey, out: Path, *, clock: Clock, every_s: float
    ) -> None:
        self.ledger = ledger
        self.key = key
        self.out = Path(out)
        self.clock = clock
        self.every_s = every_s
        self._last: datetime | None = None
        if self.out.exists():
            existing = read_checkpoints(self.out)
            self._last = max((c.at for c in existing), default=None)

    def maybe_write(self) -> Checkpoint | None:
        """Write a checkpoint if one is due; the one written, or None."""
        now = self.clock.now()
        if self._last is not None and (now - self._last).total_seconds() < self.every_s:
            return None
        checkpoint = write_checkpoint(self.ledger, self.key, self.out, clock=self.clock)
        self._last = checkpoint.at
        return checkpoint


def verify_against(
    ledger: Ledger,
    checkpoints: Sequence[Checkpoint],
    *,
    trusted: Iterable[Ed25519PublicKey] | None = None,
    batch_size: int = 5000,
) -> VerifyReport:
    """Verify the chain, then check it holds every checkpoint.

    Each checkpoint must be signed by the key it names (and, with ``trusted``, that key must
    be one of them); the ledger must reach its seq, and its record at that seq must have its
    hash. The first failure is reported: ``bad_checkpoint``, ``shorter_than_checkpoint`` or
    ``diverges_from_checkpoint`` (after any problem of the chain itself).
    """
    report = ledger.verify(batch_size=batch_size)
    if not report.ok:
        return report
    trusted_ids = None if trusted is None else {key_id_of(k) for k in trusted}
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        try:
            signer = cp.signer()
        except InvalidInputError as exc:
            return _failed(report, "bad_checkpoint", cp.seq, exc.message)
        if not cp.signed_by(signer):
            return _failed(
                report, "bad_checkpoint", cp.seq, f"checkpoint at seq {cp.seq}: bad signature"
            )
        if trusted_ids is not None and cp.key_id not in trusted_ids:
            return _failed(
                report,
                "bad_checkpoint",
                cp.seq,
                f"checkpoint at seq {cp.seq} is signed by key {cp.key_id}, not a trusted key",
            )
        if cp.seq > report.head_seq:
            return _failed(
                report,
                "shorter_than_checkpoint",
                report.head_seq + 1,
                f"the ledger ends at seq {report.head_seq} but a checkpoint signed at "
                f"{format_ts(cp.at)} saw seq {cp.seq}: records were removed from the end",
            )
        actual = GENESIS_HASH if cp.seq == 0 else _hash_at(ledger, cp.seq)
        if actual != cp.hash:
            return _failed(
                report,
                "diverges_from_checkpoint",
                cp.seq,
                f"record seq {cp.seq} has hash {actual} but the checkpoint signed at "
                f"{format_ts(cp.at)} says {cp.hash}: the chain was rewritten up to there",
            )
    count = len(checkpoints)
    return VerifyReport(
        ok=True,
        records=report.records,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        message=f"{report.message}; {count} checkpoint(s) hold",
    )


def _hash_at(ledger: Ledger, seq: int) -> str | None:
    for record in ledger.records(since_seq=seq - 1, limit=1):
        return record.hash if record.seq == seq else None
    return None


def _failed(report: VerifyReport, problem: str, seq: int, message: str) -> VerifyReport:
    return VerifyReport(
        ok=False,
        records=report.records,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        first_bad_seq=seq,
        problem=problem,
        message=message,
    )
