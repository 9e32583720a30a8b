"""Free TCP ports, chosen by the operating system and claimed for the process that asked.

The OS only knows a port is taken while something is bound to it. A stack that is stopped between two
tests (or a server the supervisor restarts) leaves its port unbound for a while, and another pytest
process on the machine (an xdist worker beside this one, another session) could be handed it. So every
port given out is also claimed: a file ``<claims dir>/<port>`` naming the run ID of the claiming process.
A port claimed by a live process is never given out again; a claim of a process that is gone is taken
over; a process's claims are released when it exits. The claims folder is machine-wide like the ports
(``$STIGMER_E2E_PORT_CLAIMS``, default ``/tmp/stigmer-e2e-ports``).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from support.processes import RunId

LOOPBACK = "127.0.0.1"
CLAIMS_ENV = "STIGMER_E2E_PORT_CLAIMS"
DEFAULT_CLAIMS_DIR = Path("/tmp/stigmer-e2e-ports")
# ports the OS offers that another live process claimed are skipped; give up after this many in a row
MAX_SKIPPED = 200

_claimed: dict[int, set[int]] = {}  # pid -> ports it claimed (a forked child starts with none)


def claims_dir() -> Path:
    """Where the claims live (machine-wide: every pytest process on the machine shares it)."""
    return Path(os.environ.get(CLAIMS_ENV) or DEFAULT_CLAIMS_DIR)


def free_port(host: str = LOOPBACK) -> int:
    """A port on ``host`` that nothing listens on right now and no other live process claimed."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct free ports, claimed for this process (all sockets stay bound until every port is
    chosen, so the OS does not offer one twice)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    ports: list[int] = []
    skipped = 0
    with ExitStack() as stack:
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            if claim(port):
                ports.append(port)
                continue
            skipped += 1
            if skipped > MAX_SKIPPED:
                raise RuntimeError(
                    f"the OS offered {skipped} ports in a row that other live processes claimed in {claims_dir()}: "
                    f"remove stale claims there, or point {CLAIMS_ENV} at an empty folder"
                )
    return ports


def claim(port: int) -> bool:
    """Claim ``port`` for this process; False when this or another live process claimed it already."""
    me = _my_run()
    path = claims_dir() / str(port)
    with _claims_lock():
        owner = _owner(path)
        if owner is not None and (owner == me or owner.owner_alive()):
            return False
        tmp = path.with_name(f".{port}.{os.getpid()}")
        tmp.write_text(str(me))
        tmp.replace(path)
    mine = _claimed.setdefault(os.getpid(), set())
    if not mine:
        atexit.register(release_claims)
    mine.add(port)
    return True


def release_claims() -> list[int]:
    """Remove this process's claims (registered to run at exit); the ports released."""
    me = _my_run()
    released = []
    with _claims_lock():
        for port in sorted(_claimed.pop(os.getpid(), set())):
            path = claims_dir() / str(port)
            if _owner(path) == me:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                released.append(port)
    return released


def _my_run() -> RunId:
    return RunId.for_process().run


def _owner(path: Path) -> RunId | None:
    try:
        return RunId.parse(path.read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _claims_lock() -> Iterator[None]:
    """The folder's lock: a claim's check and write are one step for every process on the machine."""
    folder = claims_dir()
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):
            folder.chmod(0o1777)  # machine-wide, like /tmp: any user's runs claim ports here
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
