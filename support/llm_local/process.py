"""The local model as a subprocess of a tier: ``python -m support.llm_local`` on a port from the OS,
labelled with the run, ready when its announced URL answers ``GET /api/tags`` with the model (llama.cpp
has loaded it by then), killed with its whole tree at teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from support.llm_local.front import JOURNAL_PATH
from support.llm_local.journal import ChatRecord
from support.llm_local.model_file import MODEL_NAME
from support.processes import RunId, label_env
from support.served_process import ServedProcess, announced_url, time_left
from support.waits import ProcessDiedError, eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0  # the model loads in 1-3 s; a loaded CI machine takes much longer


class LocalModelStartError(Exception):
    """The local model did not come up; the message carries its output."""


@dataclass
class LocalModelProcess(ServedProcess):
    """A running ``python -m support.llm_local``: its Ollama-API URL, how it runs, and its log."""

    name: ClassVar[str] = "llm-local"
    describes: ClassVar[str] = "the local model"
    threads: int
    constrain_tools: bool
    url: str = ""

    def chats(self) -> list[ChatRecord]:
        """Every chat the model served so far, with its reply (the front's journal)."""
        with urllib.request.urlopen(f"{self.url}{JOURNAL_PATH}", timeout=10.0) as response:
            return [ChatRecord.from_json(item) for item in json.loads(response.read())["chats"]]


def start_local_model(
    log_path: Path,
    *,
    threads: int = 1,
    constrain_tools: bool = True,
    run_id: RunId | None = None,
    timeout: float = START_TIMEOUT,
    python: str = sys.executable,
) -> LocalModelProcess:
    """Start the local model and return once it serves ``MODEL_NAME``.

    Raises ``LocalModelStartError`` (with its output) when it exits or is not ready within ``timeout``
    seconds; the process is killed in that case.
    """
    deadline = time.monotonic() + timeout
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "support.llm_local", "--port", "0", "--threads", str(threads)]
    if constrain_tools:
        command.append("--constrain-tools")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    if run_id is not None:
        env = label_env(env, run_id)
    print(f"starting the local model ({' '.join(command[1:])}); its log: {log_path}", file=sys.stderr, flush=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    started = LocalModelProcess(proc, log_path, threads, constrain_tools)
    try:
        started.url = eventually(
            lambda: announced_url(log_path), timeout=time_left(deadline), alive=started.assert_alive
        )
        eventually(lambda: _serves_model(started.url), timeout=time_left(deadline), alive=started.assert_alive)
    except (AssertionError, ProcessDiedError) as exc:
        started.stop()
        raise LocalModelStartError(f"the local model did not start ({' '.join(command)}): {exc}") from None
    return started


def _serves_model(url: str) -> None:
    try:
        with urllib.request.urlopen(f"{url}/api/tags", timeout=2.0) as response:
            names = [entry.get("name") for entry in json.loads(response.read()).get("models", [])]
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise AssertionError(f"GET {url}/api/tags does not answer: {exc}") from None
    assert MODEL_NAME in names, f"{url} serves {names}, not {MODEL_NAME}"
