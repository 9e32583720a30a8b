"""SQLite persistence: the only module that speaks SQL.

One connection in WAL mode with ``synchronous=FULL``, guarded by a lock so the gRPC thread pool can
share it. Every read and write happens inside ``Store.transaction()``, which commits before it
returns: once a request has been answered, its changes survive a crash of the process.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from stigmer.api import json_values
from stigmer.api.v1.agent_pb2 import Agent
from stigmer.api.v1.execution_pb2 import AgentExecution, ExecutionStatus, WorkflowExecution
from stigmer.api.v1.workflow_pb2 import Workflow
from stigmer.server import migrations

BUSY_TIMEOUT_MS = 5000
# The database holds secret runtime values: only the owner may read it (and its -wal and -shm files).
DB_FILE_MODE = 0o600

AGENT_KIND = "agent"
WORKFLOW_KIND = "workflow"
EXECUTION_TYPES: dict[str, type[AgentExecution] | type[WorkflowExecution]] = {
    AGENT_KIND: AgentExecution,
    WORKFLOW_KIND: WorkflowExecution,
}

Execution = AgentExecution | WorkflowExecution


@dataclass(frozen=True)
class ExecutionRecord:
    """A stored execution with its kind ("agent" or "workflow") and its revision (1 at creation)."""

    kind: str
    execution: Execution
    revision: int


def _serialize(message: Any) -> bytes:
    return message.SerializeToString(deterministic=True)


def _nanos(ts: Timestamp) -> int:
    return ts.ToNanoseconds()


def _set_metadata(message: Any, row: sqlite3.Row, name: str) -> None:
    meta = message.metadata
    meta.id = row["id"]
    meta.name = name
    meta.generation = row["generation"]
    meta.created_at.FromNanoseconds(row["created_at"])
    meta.updated_at.FromNanoseconds(row["updated_at"])


def _agent(row: sqlite3.Row | None) -> Agent | None:
    if row is None:
        return None
    agent = Agent()
    _set_metadata(agent, row, row["slug"])
    agent.spec.ParseFromString(row["spec"])
    return agent


def _workflow(row: sqlite3.Row | None) -> Workflow | None:
    if row is None:
        return None
    workflow = Workflow()
    _set_metadata(workflow, row, row["name"])
    workflow.spec.ParseFromString(row["spec"])
    _upgrade_task_configs(workflow.spec.tasks)
    return workflow


def _upgrade_task_configs(tasks: Any) -> None:
    """Tasks stored before ``config_json`` existed keep their config in the Struct field: move it."""
    for task in tasks:
        if task.HasField("legacy_config") and not task.config_json:
            task.config_json = json_values.dumps(json_format.MessageToDict(task.legacy_config))
            task.ClearField("legacy_config")


def _execution(row: sqlite3.Row | None) -> ExecutionRecord | None:
    if row is None:
        return None
    execution = EXECUTION_TYPES[row["kind"]]()
    execution.metadata.id = row["id"]
    execution.metadata.generation = 1
    execution.metadata.created_at.FromNanoseconds(row["created_at"])
    execution.metadata.updated_at.FromNanoseconds(row["updated_at"])
    execution.spec.ParseFromString(row["spec"])
    execution.status.ParseFromString(row["status"])
    return ExecutionRecord(kind=row["kind"], execution=execution, revision=row["revision"])


def _target_id(execution: Execution) -> str:
    return execution.spec.agent_id if isinstance(execution, AgentExecution) else execution.spec.workflow_id


class Transaction:
    """Reads and writes inside one SQLite transaction; obtained from ``Store.transaction()``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._after_commit: list[Callable[[], None]] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed, before the store lock is released."""
        self._after_commit.append(callback)

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return self._conn.execute(sql, args).fetchone()

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return self._conn.execute(sql, args).fetchall()

    def _count(self, sql: str, *args: Any) -> int:
        return int(self._conn.execute(sql, args).fetchone()[0])

    # --- agents -------------------------------------------------------------------------

    def agent(self, agent_id: str) -> Agent | None:
        return _agent(self._one("SELECT * FROM agents WHERE id = ?", agent_id))

    def agent_by_slug(self, slug: str) -> Agent | None:
        return _agent(self._one("SELECT * FROM agents WHERE slug = ?", slug))

    def save_agent(self, agent: Agent) -> None:
        """Insert the agent or replace the stored one with the same ID."""
        meta = agent.metadata
        self._conn.execute(
            """
            INSERT INTO agents (id, slug, spec, generation, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, spec = excluded.spec,
                generation = excluded.generation, updated_at = excluded.updated_at
            """,
            (
                meta.id,
                meta.name,
                _serialize(agent.spec),
                meta.generation,
                _nanos(meta.created_at),
                _nanos(meta.updated_at),
            ),
        )

    def delete_agent(self, agent_id: str) -> bool:
        return self._conn.execute("DELETE FROM agents WHERE id = ?", (agent_id,)).rowcount > 0

    def list_agents(self, after: str, limit: int) -> list[Agent]:
        """Agents in ID (creation) order, starting after the ID ``after``."""
        rows = self._all("SELECT * FROM agents WHERE id > ? ORDER BY id LIMIT ?", after, limit)
        return [a for a in map(_agent, rows) if a is not None]

    def count_agents(self, after: str = "") -> int:
        """How many agents have an ID after ``after``."""
        return self._count("SELECT COUNT(*) FROM agents WHERE id > ?", after)

    def all_agents(self) -> list[Agent]:
        return [a for a in map(_agent, self._all("SELECT * FROM agents ORDER BY id")) if a is not None]

    # --- workflows ----------------------------------------------------------------------

    def workflow(self, workflow_id: str) -> Workflow | None:
        return _workflow(self._one("SELECT * FROM workflows WHERE id = ?", workflow_id))

    def workflow_by_key(self, namespace: str, name: str) -> Workflow | None:
        return _workflow(self._one("SELECT * FROM workflows WHERE namespace = ? AND name = ?", namespace, name))

    def workflows_named(self, name: str) -> list[Workflow]:
        """Every workflow with this name, whatever its namespace."""
        rows = self._all("SELECT * FROM workflows WHERE name = ? ORDER BY namespace", name)
        return [w for w in map(_workflow, rows) if w is not None]

    def save_workflow(self, workflow: Workflow) -> None:
        """Insert the workflow or replace the stored one with the same ID."""
        meta = workflow.metadata
        self._conn.execute(
            """
            INSERT INTO workflows (id, namespace, name, spec, generation, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, name = excluded.name,
                spec = excluded.spec, generation = excluded.generation, updated_at = excluded.updated_at
            """,
            (
                meta.id,
                workflow.spec.namespace,
                meta.name,
                _serialize(workflow.spec),
                meta.generation,
                _nanos(meta.created_at),
                _nanos(meta.updated_at),
            ),
        )

    def delete_workflow(self, workflow_id: str) -> bool:
        return self._conn.execute("DELETE FROM workflows WHERE id = ?", (workflow_id,)).rowcount > 0

    def list_workflows(self, after: str, limit: int) -> list[Workflow]:
        """Workflows in ID (creation) order, starting after the ID ``after``."""
        rows = self._all("SELECT * FROM workflows WHERE id > ? ORDER BY id LIMIT ?", after, limit)
        return [w for w in map(_workflow, rows) if w is not None]

    def count_workflows(self, after: str = "") -> int:
        """How many workflows have an ID after ``after``."""
        return self._count("SELECT COUNT(*) FROM workflows WHERE id > ?", after)

    def all_workflows(self) -> list[Workflow]:
        return [w for w in map(_workflow, self._all("SELECT * FROM workflows ORDER BY id")) if w is not None]

    # --- executions ---------------------------------------------------------------------

    def execution(self, execution_id: str) -> ExecutionRecord | None:
        return _execution(self._one("SELECT * FROM executions WHERE id = ?", execution_id))

    def execution_by_request(self, kind: str, request_id: str) -> ExecutionRecord | None:
        """The execution of this kind that the create with this client request ID stored."""
        return _execution(self._one("SELECT * FROM executions WHERE kind = ? AND request_id = ?", kind, request_id))

    def executions_in_phase(self, phase: int) -> list[ExecutionRecord]:
        """Every execution of either kind in this phase, oldest first."""
        rows = self._all("SELECT * FROM executions WHERE phase = ? ORDER BY created_at, id", phase)
        return [r for r in map(_execution, rows) if r is not None]

    def executions_in_phases(self, *phases: int) -> list[ExecutionRecord]:
        """Every execution of either kind in one of these phases, oldest first."""
        marks = ", ".join("?" for _ in phases)
        rows = self._all(f"SELECT * FROM executions WHERE phase IN ({marks}) ORDER BY created_at, id", *phases)
        return [r for r in map(_execution, rows) if r is not None]

    def insert_execution(self, kind: str, execution: Execution) -> ExecutionRecord:
        """Store a new execution at revision 1."""
        meta = execution.metadata
        self._conn.execute(
            """
            INSERT INTO executions
                (id, kind, target_id, spec, status, phase, revision, created_at, updated_at, request_id)
            VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
            """,
            (
                meta.id,
                kind,
                _target_id(execution),
                _serialize(execution.spec),
                _serialize(execution.status),
                execution.status.phase,
                _nanos(meta.created_at),
                _nanos(meta.updated_at),
                execution.spec.request_id or None,
            ),
        )
        return ExecutionRecord(kind=kind, execution=execution, revision=1)

    def update_execution_status(self, execution_id: str, status: ExecutionStatus, updated_at: Timestamp) -> int:
        """Replace the status of an execution and count one more revision; return the new revision."""
        row = self._one(
            "UPDATE executions SET status = ?, phase = ?, revision = revision + 1, updated_at = ? "
            "WHERE id = ? RETURNING revision",
            _serialize(status),
            status.phase,
            _nanos(updated_at),
            execution_id,
        )
        if row is None:
            raise KeyError(execution_id)
        return int(row["revision"])

    def delete_execution(self, execution_id: str) -> bool:
        return self._conn.execute("DELETE FROM executions WHERE id = ?", (execution_id,)).rowcount > 0

    def list_executions(
        self, kind: str, after: str, limit: int, *, target_id: str = "", phase: int = 0
    ) -> list[ExecutionRecord]:
        """Executions of one kind in ID (creation) order after ``after``, optionally filtered."""
        where, args = _execution_filter(kind, after, target_id, phase)
        rows = self._all(f"SELECT * FROM executions WHERE {where} ORDER BY id LIMIT ?", *args, limit)
        return [r for r in map(_execution, rows) if r is not None]

    def count_executions(self, kind: str, after: str = "", *, target_id: str = "", phase: int = 0) -> int:
        """How many executions ``list_executions`` would return after ``after`` without a limit."""
        where, args = _execution_filter(kind, after, target_id, phase)
        return self._count(f"SELECT COUNT(*) FROM executions WHERE {where}", *args)


def _execution_filter(kind: str, after: str, target_id: str, phase: int) -> tuple[str, list[Any]]:
    where = "kind = ? AND id > ?"
    args: list[Any] = [kind, after]
    if target_id:
        where += " AND target_id = ?"
        args.append(target_id)
    if phase:
        where += " AND phase = ?"
        args.append(phase)
    return where, args


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite gives -wal and -shm its mode)."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, DB_FILE_MODE))


class Store:
    """The server's database; open it with ``Store.open(path)``."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, schema_version: int = migrations.LATEST) -> Store:
        """Open (creating when needed) the database at ``path`` and migrate it to ``schema_version``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise migrations.SchemaError(f"{path}: cannot use WAL journal mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = FULL")
            migrations.migrate(conn, schema_version)
            for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                if companion.exists():
                    companion.chmod(DB_FILE_MODE)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return migrations.schema_version(self._connection())

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the store is closed")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction, committed when the block ends and rolled back when it raises."""
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:
                raise RuntimeError("transactions do not nest")
            conn.execute("BEGIN IMMEDIATE")
            tx = Transaction(conn)
            try:
                yield tx
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            for callback in tx._after_commit:
                callback()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
