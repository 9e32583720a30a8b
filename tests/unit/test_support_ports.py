"""support.ports: free ports come from the OS, can be bound, and are claimed so no other live process
gets them while a stack of this one is down."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from support.ports import CLAIMS_ENV, LOOPBACK, claim, free_port, free_ports
from support.processes import RunId


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind((LOOPBACK, port))
    assert 1024 <= port <= 65535


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5


def test_free_ports_rejects_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        free_ports(0)


@pytest.fixture
def claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A claims folder of the test's own (no other process's claims)."""
    folder = tmp_path / "claims"
    monkeypatch.setenv(CLAIMS_ENV, str(folder))
    return folder


def test_free_ports_are_claimed_for_this_process(claims: Path) -> None:
    ports = free_ports(3)
    me = RunId.for_process().run
    assert {path.name for path in claims.iterdir() if not path.name.startswith(".")} == {str(p) for p in ports}
    assert all(RunId.parse((claims / str(port)).read_text()) == me for port in ports)
    assert not any(claim(port) for port in ports), "a port was handed out twice to one process"


def test_a_port_claimed_by_another_live_process_is_not_given_out(claims: Path) -> None:
    other = RunId.for_process(os.getppid())
    claims.mkdir()
    (claims / "40001").write_text(str(other))
    assert not claim(40001)
    assert RunId.parse((claims / "40001").read_text()) == other


def test_the_claim_of_a_process_that_is_gone_is_taken_over(claims: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claims.mkdir()
    (claims / "40002").write_text(str(RunId(int(gone.stdout), 1)))
    assert claim(40002)
    assert RunId.parse((claims / "40002").read_text()) == RunId.for_process().run


def test_a_process_releases_its_claims_when_it_exits(claims: Path) -> None:
    script = "from support.ports import free_ports; print(free_ports(2))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip().startswith("[")
    assert [path.name for path in claims.iterdir() if not path.name.startswith(".")] == []
