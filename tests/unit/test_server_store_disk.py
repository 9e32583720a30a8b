"""The store on a disk that refuses writes: a clear error (not "unexpected error"), nothing half-written,
nothing acknowledged lost, and writes work again once the disk does."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest

from stigmer.api.v1.apply_pb2 import ApplyRequest
from stigmer.server import resources
from stigmer.server.apply import apply
from stigmer.server.errors import StorageFull, StorageUnavailable, grpc_code
from stigmer.server.store import Store
from support.faults import disk, leftovers
from support.faults.disk import ReadOnlyFile, mounted_home
from support.faults.ledger import Ledger
from tests.unit.messages import make_agent


def test_a_full_disk_fails_the_write_with_resource_exhausted_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = disk.mount_problem()
    if problem is not None:
        pytest.skip(disk.missing_message(disk.MOUNT_PERMISSION, problem))
    monkeypatch.setenv(leftovers.STATE_DIR_ENV, str(tmp_path / "notes"))
    with mounted_home(tmp_path / "home", size_mb=4) as small:
        store = Store.open(small.path / "stigmer.db")
        acknowledged = []
        for n in range(3):
            apply(store, ApplyRequest(agents=[make_agent(f"before-{n}")]))
            acknowledged.append(f"before-{n}")
        with small.full(ledger=Ledger()), pytest.raises(StorageFull) as caught:
            for n in range(2000):
                apply(store, ApplyRequest(agents=[make_agent(f"during-{n}", instructions="y" * 4000)]))
                acknowledged.append(f"during-{n}")
        assert grpc_code(caught.value) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert str(caught.value).startswith("disk full: cannot write the database ")
        assert "free space in" in str(caught.value)
        apply(store, ApplyRequest(agents=[make_agent("after")]))
        acknowledged.append("after")
        stored = {agent.metadata.name for agent in resources.list_agents(store, page_size=1000).agents}
        assert set(acknowledged) <= stored
        assert len(stored) == len(acknowledged), "the refused write left nothing behind"
        store.close()
        conn = sqlite3.connect(small.path / "stigmer.db")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()


def test_a_read_only_database_fails_the_write_with_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "stigmer.db"
    Store.open(path).close()
    read_only = Store(sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None), path)
    with pytest.raises(StorageUnavailable) as caught:
        apply(read_only, ApplyRequest(agents=[make_agent("refused")]))
    read_only.close()
    assert grpc_code(caught.value) == grpc.StatusCode.UNAVAILABLE
    assert str(caught.value).startswith(f"data directory is read-only: cannot write the database {path}")
    store = Store.open(path)
    assert resources.list_agents(store).agents == []
    store.close()


def test_other_database_errors_are_not_taken_for_disk_errors(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "stigmer.db")
    with pytest.raises(sqlite3.OperationalError, match="no such table"), store.transaction() as tx:
        tx._conn.execute("SELECT * FROM no_such_table")
    store.close()


def test_a_store_opened_on_a_read_only_database_serves_reads_and_refuses_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a stigmer-server restarted while its database is read-only does (ReadOnlyFile)."""
    problem = disk.mount_problem()
    if problem is not None:
        pytest.skip(disk.missing_message(disk.MOUNT_PERMISSION, problem))
    monkeypatch.setenv(leftovers.STATE_DIR_ENV, str(tmp_path / "notes"))
    path = tmp_path / "stigmer.db"
    store = Store.open(path)
    apply(store, ApplyRequest(agents=[make_agent("before")]))
    store.close()
    with ReadOnlyFile(path, ledger=Ledger()):
        store = Store.open(path)
        assert [a.metadata.name for a in resources.list_agents(store).agents] == ["before"]
        with pytest.raises(StorageUnavailable, match=r"^data directory is read-only: "):
            apply(store, ApplyRequest(agents=[make_agent("during")]))
        store.close()
    store = Store.open(path)
    apply(store, ApplyRequest(agents=[make_agent("after")]))
    assert sorted(a.metadata.name for a in resources.list_agents(store).agents) == ["after", "before"]
    store.close()
