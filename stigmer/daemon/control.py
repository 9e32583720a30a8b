"""Requests to the running supervisor: hold one component down, or start it again (``server stop|start -c``).

The channel is a folder of files, ``$STIGMER_HOME/run/requests/`` (0700, files 0600):

1. The CLI writes ``<id>.json`` = ``{"id", "action": "stop"|"start", "component", "timeout"}``, atomically
   (a temporary file, then a rename), so the supervisor never reads half a request.
2. The supervisor looks into the folder at every round of its monitor loop (every 0.1 s; no signal is
   needed), takes each request (reads it, then deletes it), and answers with ``<id>.reply`` =
   ``{"ok": bool, "message": str, "kind": "error"|"timeout"|""}``, also atomically. A stop is answered
   once the component's tree is gone; a start once the component is ready (or has died, with its last
   log lines, or missed ``timeout``).
3. The CLI polls for the reply until its own deadline (the request's timeout plus a margin), failing
   early when the supervisor dies; then it removes what is left of both files.

Files rather than a unix socket: a socket's path is limited to 108 bytes, which a deep STIGMER_HOME
exceeds; files need no listener thread, and a crashed supervisor leaves nothing half-open. The daemon
lock (``server start`` / ``stop``) serialises requests with a whole-stack stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from stigmer.config import Settings
from stigmer.daemon.errors import DaemonError, StartTimeoutError
from stigmer.daemon.homedir import make_private_dir

STOP = "stop"
START = "start"
ACTIONS = (STOP, START)
REPLY_POLL_INTERVAL = 0.05
REPLY_MARGIN = 10.0  # beyond the request's own timeout: the supervisor's round, a slow stop or start


@dataclass(frozen=True)
class Request:
    """One request to the supervisor."""

    id: str
    action: str
    component: str
    timeout: float


@dataclass(frozen=True)
class Reply:
    """The supervisor's answer; ``kind`` is "timeout" when a start missed its deadline."""

    ok: bool
    message: str
    kind: str = ""


def _write_atomic(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    tmp.replace(path)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


# --- the CLI's side --------------------------------------------------------------------------


def send(settings: Settings, action: str, component: str, timeout: float, alive: Callable[[], bool]) -> Reply:
    """Ask the supervisor to ``action`` ``component`` and wait for its reply.

    ``alive`` says whether the supervisor still runs; :class:`DaemonError` when it stopped before it
    answered, :class:`StartTimeoutError` when no reply came within ``timeout`` plus a margin.
    """
    folder = settings.requests_dir
    make_private_dir(folder)
    request = Request(id=uuid.uuid4().hex, action=action, component=component, timeout=timeout)
    request_path, reply_path = folder / f"{request.id}.json", folder / f"{request.id}.reply"
    _write_atomic(request_path, asdict(request))
    deadline = time.monotonic() + timeout + REPLY_MARGIN
    try:
        while True:
            reply = _read_reply(reply_path)
            if reply is not None:
                return reply
            if not alive():
                raise DaemonError(f"the supervisor stopped before it answered ({action} {component})")
            if time.monotonic() >= deadline:
                raise StartTimeoutError(
                    f"the supervisor did not answer within {timeout + REPLY_MARGIN:g}s ({action} {component}); "
                    "see: stigmer server logs -c supervisor"
                )
            time.sleep(REPLY_POLL_INTERVAL)  # polling a file, bounded by the deadline
    finally:
        _remove(request_path)
        _remove(reply_path)


def _read_reply(path: Path) -> Reply | None:
    try:
        data = json.loads(path.read_text())
        return Reply(ok=bool(data["ok"]), message=str(data["message"]), kind=str(data.get("kind", "")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Reply(ok=False, message=f"unreadable reply from the supervisor ({path}): {exc}", kind="error")


# --- the supervisor's side -------------------------------------------------------------------


def take(settings: Settings) -> list[Request]:
    """The requests waiting in the folder, oldest first; each is removed (a malformed one is dropped)."""
    try:
        paths = sorted(settings.requests_dir.glob("*.json"), key=_mtime)
    except OSError:
        return []
    requests = []
    for path in paths:
        try:
            data = json.loads(path.read_text())
            request = Request(
                id=str(data["id"]),
                action=str(data["action"]),
                component=str(data["component"]),
                timeout=float(data["timeout"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            _remove(path)
            continue
        _remove(path)
        if request.id == path.stem:
            requests.append(request)
    return requests


def answer(settings: Settings, request: Request, reply: Reply) -> None:
    """Write the reply to ``request`` (the CLI may be gone: then it is removed with the folder)."""
    with contextlib.suppress(OSError):
        _write_atomic(settings.requests_dir / f"{request.id}.reply", asdict(reply))


def clear(settings: Settings) -> None:
    """Remove the folder and what is in it (the supervisor, when it stops)."""
    folder = settings.requests_dir
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            _remove(path)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
