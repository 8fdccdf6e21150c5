"""The manager's schema as an ordered list of migrations.

The database lives on the engine VM's disk and outlives any one manager version: a
newer manager started after a failover must upgrade an older file in place, so each
step is applied once, in order, and recorded in ``schema_version``.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # v1: the first schema
    """
    CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,
                        role TEXT NOT NULL DEFAULT 'admin');
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE hosts (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                        address TEXT NOT NULL, port INTEGER NOT NULL,
                        status TEXT NOT NULL DEFAULT 'up');
    CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL,
                         kind TEXT NOT NULL, who TEXT NOT NULL, text TEXT NOT NULL);
    """,
    # v2: the audit log, and events looked up newest first
    """
    CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL,
                        who TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
                        outcome TEXT NOT NULL);
    CREATE INDEX events_time ON events (time);
    """,
]

LATEST = len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: sqlite3.Connection, upto: int = LATEST) -> int:
    """Apply the missing steps up to ``upto``, each in its own transaction; returns the
    version reached. A file newer than this manager is refused, not downgraded."""
    version = current_version(conn)
    if version > LATEST:
        raise RuntimeError(f"database schema v{version} is newer than this manager's v{LATEST}")
    for number in range(version + 1, upto + 1):
        script = MIGRATIONS[number - 1]
        conn.executescript(
            "BEGIN;\n" + script + f"\nINSERT INTO schema_version VALUES ({number});\nCOMMIT;"
        )
    return max(version, upto)
