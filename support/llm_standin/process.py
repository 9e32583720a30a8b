"""The stand-in as a subprocess of a tier: started on a free port, labelled with the run, ready when
``GET /api/version`` answers, killed (with its whole tree) at teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from support.llm_standin.control import StandinClient, StandinControlError
from support.llm_standin.rules import Rule, rules_to_json
from support.processes import RunId, label_env
from support.served_process import ServedProcess, announced_url, time_left
from support.waits import ProcessDiedError, eventually

REPO_ROOT = Path(__file__).resolve().parents[2]


class StandinStartError(Exception):
    """The stand-in process did not come up; the message carries its output."""


@dataclass
class StandinProcess(ServedProcess):
    """A running stand-in process: its URL (for ``OLLAMA_HOST``), control client and log."""

    name: ClassVar[str] = "llm-standin"
    describes: ClassVar[str] = "the LLM stand-in"
    url: str = ""
    control: StandinClient = field(init=False)

    def __post_init__(self) -> None:
        self.control = StandinClient(self.url)


def start_standin_process(
    log_path: Path,
    *,
    models: Sequence[str] = (),
    rules: Iterable[Rule] = (),
    port: int = 0,
    run_id: RunId | None = None,
    timeout: float = 60.0,
    python: str = sys.executable,
    extra_args: Sequence[str] = (),
) -> StandinProcess:
    """Start ``python -m support.llm_standin`` and return once it answers ``GET /api/version``.

    Its output goes to ``log_path``; ``rules`` are written next to it and loaded at start;
    ``extra_args`` are passed on to the command line (see ``--help``). Raises
    ``StandinStartError`` (with the output) when it exits or is not ready within ``timeout`` seconds;
    the process is killed in that case.
    """
    deadline = time.monotonic() + timeout
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", "support.llm_standin", "--port", str(port)]
    for model in models:
        command += ["--model", model]
    rules = list(rules)
    if rules:
        rules_path = log_path.with_name(f"{log_path.stem}.rules.json")
        rules_path.write_text(json.dumps(rules_to_json(rules), indent=2))
        command += ["--rules", str(rules_path)]
    command += extra_args
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    if run_id is not None:
        env = label_env(env, run_id)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    started = StandinProcess(proc, log_path)
    try:
        started.url = eventually(
            lambda: announced_url(log_path), timeout=time_left(deadline), alive=started.assert_alive
        )
        started.control = StandinClient(started.url, timeout=2.0)
        eventually(lambda: _answers(started.control), timeout=time_left(deadline), alive=started.assert_alive)
    except (AssertionError, ProcessDiedError) as exc:
        started.stop()
        raise StandinStartError(f"the LLM stand-in did not start ({' '.join(command)}): {exc}") from None
    started.control = StandinClient(started.url)
    return started


def _answers(control: StandinClient) -> None:
    try:
        control.version()
    except StandinControlError as exc:
        raise AssertionError(f"GET /api/version does not answer: {exc}") from None
