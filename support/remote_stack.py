"""The CI proof of ``--target remote``: start a stack of its own, run tiers against it as a remote target,
stop it.

``python -m support.remote_stack [--root DIR] [TIER ...] [-- PYTEST ARGS]`` starts the LLM stand-in and
every component (``stigmer server start`` in a temporary ``STIGMER_HOME``, ports from the OS), runs each
tier's pytest (default: smoke, apply, full) with ``--target remote --server-addr ... --temporal-addr ...
--client-token-file ...``, then stops the stack and the stand-in and kills whatever of theirs is left,
always: after a failing tier, an error, Ctrl-C or SIGTERM. Every tier runs even after one fails; the
exit code is 0 only when all passed. The stack's logs are copied to ``<reports>/logs/remote-stack/``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from support.child_runs import KILL_AFTER_S, RunTimeoutError, exit_on_sigterm, run_child
from support.cli import resolve_binary
from support.llm import ALTERNATE_MODEL, DEFAULT_MODEL
from support.llm_standin.process import StandinProcess, start_standin_process
from support.prereqs import TIER_COMPONENTS
from support.processes import RunId
from support.stack import Stack, StackFactory
from support.tiers import TIERS

REMOTE_TIERS = ("smoke", "apply", "full")
# One server holds every module's data: tests that check "a rejected apply changed nothing" over the whole
# store must not run beside another module's applies, so the tiers run on one worker here.
SERIAL = ("-n", "0")
START_TIMEOUT = 120.0  # every component on a busy 2-core machine, Temporal's first start included
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Provisioned:
    """The stack a remote-target run points at, and the stand-in its agent-runner calls."""

    stack: Stack
    standin: StandinProcess

    def target_args(self) -> list[str]:
        return [
            "--target=remote",
            f"--server-addr={self.stack.address}",
            f"--temporal-addr={self.stack.temporal_address}",
            f"--client-token-file={self.stack.home / 'client.token'}",
        ]


@contextlib.contextmanager
def provisioned(root: Path, binary: Path, logs: Path | None = None) -> Iterator[Provisioned]:
    """A started stack of every component with the stand-in under ``root``; stopped (tree and all) on exit."""
    run_id = RunId.for_process()
    print(f"remote-stack: starting the LLM stand-in and a stack under {root}", flush=True)
    models = tuple(dict.fromkeys((DEFAULT_MODEL, ALTERNATE_MODEL)))
    standin = start_standin_process(root / "llm-standin.log", models=models, run_id=run_id)
    try:
        env = {"OLLAMA_HOST": standin.url, "STIGMER_LLM_MODEL": DEFAULT_MODEL}
        stack = StackFactory(root, binary, run_id).create("remote", TIER_COMPONENTS["full"], env)
        stack.start_timeout = START_TIMEOUT
        try:
            started = time.monotonic()
            stack.start()
            print(f"remote-stack: serving at {stack.address}, Temporal at {stack.temporal_address} "
                  f"({time.monotonic() - started:.1f} s)", flush=True)  # fmt: skip
            yield Provisioned(stack, standin)
        finally:
            if logs is not None:
                _keep_logs(stack, logs)
            print("remote-stack: stopping the stack", flush=True)
            stack.teardown()
    finally:
        standin.stop()


def _keep_logs(stack: Stack, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for component, path in stack.log_paths().items():
        shutil.copy(path, dest / f"{component}.log")


def run_tier(tier: str, target_args: Sequence[str], reports: Path, extra: Sequence[str]) -> int:
    """One tier's pytest against the remote target; its exit code."""
    spec = TIERS[tier]
    suite = f"remote-{tier}"
    args = spec.pytest_args_for(reports / f"junit-{suite}.xml", suite, [*SERIAL, *target_args, *extra])
    command = [sys.executable, "-m", "pytest", *args]
    print(f"\n=== remote-stack: {tier}: {' '.join(command)}", flush=True)
    try:
        return run_child(
            command, timeout=spec.timeout_s + KILL_AFTER_S, cwd=ROOT, env=_env(spec.env), stdin=subprocess.DEVNULL
        )
    except RunTimeoutError as exc:
        print(f"remote-stack: {tier}: {exc}", flush=True)
        return -signal.SIGKILL


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    extra = raw[raw.index("--") + 1 :] if "--" in raw else []
    own = raw[: raw.index("--")] if "--" in raw else raw
    parser = argparse.ArgumentParser(
        prog="python -m support.remote_stack",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    parser.add_argument(
        "tiers", nargs="*", metavar="TIER", help=f"tiers to run, in order: {', '.join(REMOTE_TIERS)} (default: all)"
    )
    parser.add_argument("--root", type=Path, default=None, help="folder for the stack (default: a new temp folder)")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports", help="JUnit files and the stack's logs")
    parser.add_argument("--stigmer-bin", default=None, help="the stigmer binary (default: beside python, else PATH)")
    args = parser.parse_args(own)
    unknown = [tier for tier in args.tiers if tier not in REMOTE_TIERS]
    if unknown:
        parser.error(f"{', '.join(unknown)}: not a tier that runs against a remote target ({', '.join(REMOTE_TIERS)})")
    tiers = args.tiers or list(REMOTE_TIERS)
    binary = resolve_binary(args.stigmer_bin)
    if binary is None:
        parser.error("no stigmer binary: install the project (`make .venv/.bootstrapped`) or pass --stigmer-bin")
    exit_on_sigterm()  # unwinds through the finally blocks: the stack is stopped
    args.reports.mkdir(parents=True, exist_ok=True)
    outcomes: list[tuple[str, int, float]] = []
    with contextlib.ExitStack() as cleanup:
        root = args.root or Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="stigmer-remote-")))
        remote = cleanup.enter_context(provisioned(root, binary, args.reports / "logs" / "remote-stack"))
        for tier in tiers:
            started = time.monotonic()
            code = run_tier(tier, remote.target_args(), args.reports, extra)
            outcomes.append((tier, code, time.monotonic() - started))
    print("\n=== remote-stack: the tiers against the remote target")
    for tier, code, seconds in outcomes:
        print(f"  {tier:<8} {'passed' if code == 0 else f'FAILED (exit {code})':<18} {seconds:7.0f} s")
    return 0 if outcomes and all(code == 0 for _, code, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
