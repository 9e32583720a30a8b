"""The database schema as an ordered list of migrations; ``PRAGMA user_version`` counts those applied.

Migration N (1-based) brings a database from version N-1 to N. Append new migrations; never edit one
that has shipped.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: resources and executions. Specs and statuses are deterministic protobuf bytes; times are
    # nanoseconds since the epoch.
    (
        """
        CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            spec BLOB NOT NULL,
            generation INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )
        """,
        """
        CREATE TABLE workflows (
            id TEXT PRIMARY KEY,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            spec BLOB NOT NULL,
            generation INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (namespace, name)
        )
        """,
        """
        CREATE TABLE executions (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('agent', 'workflow')),
            target_id TEXT NOT NULL,
            spec BLOB NOT NULL,
            status BLOB NOT NULL,
            phase INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )
        """,
    ),
    # 2: indexes for lookups by workflow name and filtered execution lists.
    (
        "CREATE INDEX workflows_by_name ON workflows (name)",
        "CREATE INDEX executions_by_kind ON executions (kind, id)",
        "CREATE INDEX executions_by_target ON executions (kind, target_id, id)",
        "CREATE INDEX executions_by_phase ON executions (kind, phase, id)",
    ),
    # 3: the client's request ID of a create, unique per kind, so that a retried create finds its execution.
    (
        "ALTER TABLE executions ADD COLUMN request_id TEXT",
        "CREATE UNIQUE INDEX executions_by_request ON executions (kind, request_id) WHERE request_id IS NOT NULL",
    ),
)

LATEST = len(MIGRATIONS)


class SchemaError(Exception):
    """The database has a schema this server cannot use."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The number of migrations applied to the database."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Apply the pending migrations up to ``target`` in one transaction; return the new version.

    ``conn`` must be in autocommit mode (``isolation_level=None``) so that this function owns the
    transaction.
    """
    if not 0 <= target <= LATEST:
        raise ValueError(f"no migration {target}; the latest is {LATEST}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)
        if current > LATEST:
            raise SchemaError(
                f"the database schema is version {current}, newer than this server supports ({LATEST}); "
                "upgrade stigmer or use another STIGMER_HOME"
            )
        for version in range(current + 1, target + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
        if target > current:
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(current, target)
