"""The SQLite store: schema migrations, transactions, durability settings."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from stigmer.api import ids
from stigmer.api.v1.agent_pb2 import Agent
from stigmer.api.v1.common_pb2 import Metadata
from stigmer.server import migrations
from stigmer.server.migrations import SchemaError
from stigmer.server.store import Store
from tests.unit.messages import make_agent


def stored_agent(name: str) -> Agent:
    """An agent as the store holds it: `make_agent` plus an ID, a generation and timestamps."""
    now = Timestamp(seconds=1_700_000_000)
    agent = make_agent(name)
    agent.metadata.MergeFrom(Metadata(id=ids.new_id(ids.AGENT), generation=1, created_at=now, updated_at=now))
    return agent


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "home" / "stigmer.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store.open(db_path)
    yield opened
    opened.close()


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_open_creates_the_database_in_wal_mode_at_the_latest_schema(store: Store, db_path: Path) -> None:
    assert db_path.is_file()
    assert store.schema_version == migrations.LATEST
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_database_at_an_older_version_is_migrated_and_keeps_its_data(db_path: Path) -> None:
    old = Store.open(db_path, schema_version=1)
    agent = stored_agent("code-reviewer")
    with old.transaction() as tx:
        tx.save_agent(agent)
    old.close()
    assert user_version(db_path) == 1

    migrated = Store.open(db_path)
    try:
        assert migrated.schema_version == migrations.LATEST
        with migrated.transaction() as tx:
            assert tx.agent_by_slug("code-reviewer") == agent
    finally:
        migrated.close()
    with sqlite3.connect(db_path) as conn:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"workflows_by_name", "executions_by_target"} <= indexes


def test_a_failing_migration_leaves_the_database_at_its_old_version(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store.open(db_path).close()
    broken = (*migrations.MIGRATIONS, ("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"))
    monkeypatch.setattr(migrations, "MIGRATIONS", broken)
    monkeypatch.setattr(migrations, "LATEST", len(broken))
    with pytest.raises(sqlite3.OperationalError):
        Store.open(db_path, schema_version=len(broken))
    assert user_version(db_path) == len(broken) - 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchone() is None


def test_a_database_from_a_newer_server_is_refused(db_path: Path) -> None:
    Store.open(db_path).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    newer = rf"schema is version 99, newer than this server supports \({migrations.LATEST}\)"
    with pytest.raises(SchemaError, match=newer):
        Store.open(db_path)


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.transaction() as tx:
        tx.save_agent(stored_agent("code-reviewer"))
        raise RuntimeError("boom")
    with store.transaction() as tx:
        assert tx.agent_by_slug("code-reviewer") is None


def test_committed_changes_survive_reopening(db_path: Path) -> None:
    first = Store.open(db_path)
    agent = stored_agent("code-reviewer")
    with first.transaction() as tx:
        tx.save_agent(agent)
    # no close(): as after a crash, only what was committed counts
    second = Store.open(db_path)
    try:
        with second.transaction() as tx:
            assert tx.agent(agent.metadata.id) == agent
    finally:
        second.close()
        first.close()


def test_after_commit_callbacks_run_only_after_a_commit(store: Store) -> None:
    calls: list[str] = []
    with store.transaction() as tx:
        tx.after_commit(lambda: calls.append("committed"))
        assert calls == []
    assert calls == ["committed"]
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.after_commit(lambda: calls.append("rolled back"))
        raise RuntimeError
    assert calls == ["committed"]


def test_transactions_do_not_nest(store: Store) -> None:
    with store.transaction(), pytest.raises(RuntimeError, match="do not nest"), store.transaction():
        pass


def test_threads_share_the_store(store: Store) -> None:
    def write(worker: int) -> None:
        for n in range(25):
            with store.transaction() as tx:
                tx.save_agent(stored_agent(f"agent-{worker}-{n}"))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with store.transaction() as tx:
        assert len(tx.list_agents("", 1000)) == 200


def test_a_closed_store_refuses_work(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"), store.transaction():
        pass
