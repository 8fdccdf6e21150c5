"""The manager's SQLite store on the engine VM's disk.

The file sits on shared storage and the VM may be killed at any instant, so the
journal is a rollback journal with ``synchronous=FULL``: a committed row is on disk
before the call returns, and the next engine VM (on another host) reads it.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosted_engine.manager import migrations

DB_NAME = "manager.db"


@dataclass(frozen=True)
class HostRow:
    id: int
    name: str
    address: str
    port: int
    status: str  # the manager's own view: "up" or "maintenance"


class Database:
    """One connection guarded by a lock: the manager's writes are few and small."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=5.0
        )
        self._conn.execute("PRAGMA journal_mode=DELETE")
        self._conn.execute("PRAGMA synchronous=FULL")
        with self._lock:
            migrations.migrate(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """One statement in its own transaction; the number of rows it changed."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                changed = self._conn.execute(sql, args).rowcount
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return int(changed)

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, args).fetchall())

    def ping(self) -> None:
        self._read("SELECT 1")

    # settings
    def setting(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def session_secret(self) -> str:
        """The cookie-signing secret, made once and kept in the DB so that sessions
        survive a failover to another engine VM."""
        secret = self.setting("session_secret")
        if secret is None:
            self._write(
                "INSERT OR IGNORE INTO settings VALUES ('session_secret', ?)",
                (secrets.token_hex(32),),
            )
            secret = self.setting("session_secret")
        assert secret is not None
        return secret

    # users
    def user_hash(self, name: str) -> str | None:
        rows = self._read("SELECT password_hash FROM users WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    def add_user(self, name: str, password_hash: str) -> None:
        self._write("INSERT INTO users (name, password_hash) VALUES (?, ?)", (name, password_hash))

    def set_user_hash(self, name: str, password_hash: str) -> None:
        self._write("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))

    # hosts
    def upsert_host(self, host_id: int, name: str, address: str, port: int) -> None:
        self._write(
            "INSERT INTO hosts (id, name, address, port) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET name=excluded.name, address=excluded.address, "
            "port=excluded.port",
            (host_id, name, address, port),
        )

    def hosts(self) -> list[HostRow]:
        rows = self._read("SELECT id, name, address, port, status FROM hosts ORDER BY id")
        return [HostRow(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4])) for r in rows]

    def remove_host(self, host_id: int) -> bool:
        """The host leaves the registry (its hosted engine undeployed); False: it was not
        there."""
        return self._write("DELETE FROM hosts WHERE id = ?", (host_id,)) > 0

    def set_host_status(self, host_id: int, status: str) -> None:
        self._write("UPDATE hosts SET status = ? WHERE id = ?", (status, host_id))

    # events and audit
    def add_event(self, kind: str, who: str, text: str) -> None:
        self._write(
            "INSERT INTO events (time, kind, who, text) VALUES (?, ?, ?, ?)",
            (time.time(), kind, who, text),
        )

    def events(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT id, time, kind, who, text FROM events ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [{"id": r[0], "time": r[1], "kind": r[2], "who": r[3], "text": r[4]} for r in rows]

    def audit(self, who: str, action: str, target: str, outcome: str) -> None:
        self._write(
            "INSERT INTO audit (time, who, action, target, outcome) VALUES (?, ?, ?, ?, ?)",
            (time.time(), who, action, target, outcome),
        )

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT time, who, action, target, outcome FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        keys = ("time", "who", "action", "target", "outcome")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def open_database(data_dir: Path) -> Database:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Database(data_dir / DB_NAME)
