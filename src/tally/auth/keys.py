"""API keys: shown once, stored as a SHA-256 hash in a small SQLite file beside the data.

Keys live outside the analytics database so `tally keys ...` works while the server holds the
database open, and a revocation takes effect on the next request (every check reads the store).
A key is 32 random bytes, so a plain SHA-256 is enough: there is nothing to brute-force.
A revocation may be dated in the future: that is how a rotated key keeps working for a grace
period while its clients move to the new token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tally.auth.principal import ROLES, Principal

PREFIX = "tly"
TOUCH_EVERY_S = 60.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  scopes TEXT NOT NULL,
  all_tenants INTEGER NOT NULL,
  teams TEXT NOT NULL,
  subject TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  revoked_at TEXT,
  last_used_at TEXT
)
"""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _now() -> str:
    return _stamp(datetime.now(UTC))


def _passed(stamp: str | None) -> bool:
    return stamp is not None and datetime.fromisoformat(stamp) <= datetime.now(UTC)


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    role: str
    scopes: dict[str, list[str]]
    all_tenants: bool
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    teams: list[str] = field(default_factory=list)
    subject: str | None = None


class KeyStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()
        self._touched: dict[str, float] = {}
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(SCHEMA)

    def create(
        self,
        role: str,
        scopes: dict[str, tuple[str, ...]],
        all_tenants: bool = False,
        name: str = "",
        teams: tuple[str, ...] = (),
        expires_at: datetime | None = None,
        subject: str | None = None,
    ) -> tuple[str, str]:
        """Return (key id, token); the token is not stored and cannot be shown again."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not scopes and not all_tenants:
            raise ValueError("a key needs at least one scope (COLUMN=VALUE), or * for all tenants")
        key_id = secrets.token_hex(6)
        token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        with self._lock:
            self._conn.execute(
                "INSERT INTO api_keys (id, hash, name, role, scopes, all_tenants, teams, "
                "subject, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    _hash(token),
                    name or key_id,
                    role,
                    json.dumps({k: list(v) for k, v in scopes.items()}),
                    int(all_tenants),
                    json.dumps(list(teams)),
                    subject,
                    _now(),
                    _stamp(expires_at) if expires_at else None,
                ),
            )
        return key_id, token

    def authenticate(self, token: str) -> Principal | None:
        if not token.startswith(f"{PREFIX}_"):
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT id, role, scopes, all_tenants, teams, subject, expires_at, revoked_at "
                "FROM api_keys WHERE hash = ?",
                (_hash(token),),
            ).fetchone()
        if row is None:
            return None
        key_id, role, scopes, all_tenants, teams, subject, expires_at, revoked_at = row
        if _passed(revoked_at) or _passed(expires_at):
            return None
        self._touch(key_id)
        return Principal(
            subject=subject or f"key:{key_id}",
            role=role,
            scopes={k: tuple(v) for k, v in json.loads(scopes).items()},
            all_tenants=bool(all_tenants),
            teams=tuple(json.loads(teams)),
        )

    def _touch(self, key_id: str) -> None:
        """Record use, at most once a minute per key, so auth is not a write per request."""
        now = time.monotonic()
        if now - self._touched.get(key_id, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
            return
        self._touched[key_id] = now
        with self._lock:
            self._conn.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?", (_now(), key_id)
            )

    def revoke(self, key_id: str, grace: timedelta | None = None) -> bool:
        """Revoke now, or after `grace`; False when there is no such key still in use."""
        now = _now()
        when = _stamp(datetime.now(UTC) + grace) if grace else now
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? "
                "AND (revoked_at IS NULL OR revoked_at > ?)",
                (when, key_id, now),
            )
        return cursor.rowcount == 1

    def rotate(
        self,
        key_id: str,
        grace: timedelta | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[str, str]:
        """A new key with the old one's role, scopes, teams, subject and name; the old one is
        revoked now or after `grace`. Without `expires_at`, the new key lives as long as the old
        one was meant to (from now)."""
        old = next((k for k in self.list() if k.id == key_id), None)
        if old is None or _passed(old.revoked_at) or _passed(old.expires_at):
            raise ValueError(f"no active key {key_id!r}")
        if expires_at is None and old.expires_at is not None:
            lifetime = datetime.fromisoformat(old.expires_at) - datetime.fromisoformat(
                old.created_at
            )
            expires_at = datetime.now(UTC) + lifetime
        new_id, token = self.create(
            old.role,
            {k: tuple(v) for k, v in old.scopes.items()},
            old.all_tenants,
            old.name,
            tuple(old.teams),
            expires_at,
            old.subject,
        )
        self.revoke(key_id, grace)
        return new_id, token

    def list(self) -> list[KeyInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, name, role, scopes, all_tenants, created_at, expires_at, revoked_at, "
                "last_used_at, teams, subject FROM api_keys ORDER BY created_at, id"
            ).fetchall()
        return [
            KeyInfo(
                *(r[0], r[1], r[2], json.loads(r[3]), bool(r[4]), r[5], r[6], r[7], r[8]),
                teams=json.loads(r[9]),
                subject=r[10],
            )
            for r in rows
        ]

    def close(self) -> None:
        self._conn.close()
