"""Recovery times per fault for ``nox -s bench``: SIGKILL of each component of a full stack while a
workload runs, then the time until the component serves again and until the last acknowledged
execution is terminal (the drain). Median of ``runs`` kills per component; the drain's target is 15 s
after any single kill (issue 9).

The workload is the resilience tier's (``support.workload``): agent runs with a workspace tool call and
an MCP call, workflows with POSTs, a wait, ``for``, ``fork``, ``agent_call`` and ``run``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from support.bench_exec import COMPONENTS, START_TIMEOUT, Report, standin
from support.bench_metrics import Metric
from support.faults import Ledger
from support.faults.processes import Kill
from support.fixtures.http_api import HttpApi
from support.fixtures.mcp_process import start_mcp_http
from support.llm_standin import StandinClient
from support.processes import RunId
from support.stack import Stack, StackFactory
from support.waits import eventually
from support.workload import PROJECT, Workload, http_routes

DRAIN_TARGET = 15.0
JOBS = 8
RESTART_BOUND = 60.0
DRAIN_BOUND = 120.0


class RecoveryError(Exception):
    """A kill could not be measured (the component did not come back, the workload never started)."""


def kill_and_measure(stack: Stack, workload: Workload, component: str) -> tuple[float, float | None]:
    """Start ``JOBS`` jobs, SIGKILL ``component`` once they are under way; seconds until it serves again,
    and until every acknowledged execution is terminal (None: not within ``DRAIN_BOUND``)."""
    workload.start(JOBS, cli_every=JOBS + 1, workers=4)

    def under_way() -> None:
        seen = workload.standin.chats(user_contains=workload.prefix)
        assert len(seen) >= 3, f"the workload has not reached the model yet ({len(seen)} chats)"

    eventually(under_way, timeout=60, interval=0.2)
    kill = Kill(stack, component, ledger=Ledger())
    kill.start()
    killed = time.monotonic()
    try:
        kill.wait_restarted(RESTART_BOUND)
    except AssertionError as exc:
        raise RecoveryError(f"{component} did not serve again within {RESTART_BOUND:g}s: {exc}") from None
    finally:
        kill.stop()
    serving = time.monotonic() - killed
    drained = workload.wait_terminal(DRAIN_BOUND)
    return serving, None if drained is None else time.monotonic() - killed


def bench_recovery(factory: StackFactory, workdir: Path, run_id: RunId, runs: int, report: Report) -> None:
    """One full stack; ``runs`` SIGKILLs of each component under load; two rows per component."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request on stderr
    folder = workdir / "recovery"
    folder.mkdir(parents=True, exist_ok=True)
    with (
        standin(folder, run_id) as llm,
        HttpApi() as http,
        start_mcp_http(folder / "mcp.jsonl", folder / "mcp.log", tools=("search_docs",), run_id=run_id) as mcp,
    ):
        http.add(*http_routes())
        env = {
            "OLLAMA_HOST": llm.url,
            "STIGMER_LLM_MODEL": "llama3.2:1b",
            **http.env(),
            "DOCS_MCP_URL": mcp.url,
            "STIGMER_HEALTH_GRACE_SECONDS": "8",
            "STIGMER_RECONCILE_SECONDS": "3",
        }
        stack = factory.create("bench-recovery", COMPONENTS, env)
        stack.start_timeout = START_TIMEOUT
        try:
            stack.start()
            applied = stack.cli()("apply", "--config", PROJECT, timeout=120)
            if applied.exit_code != 0:
                raise RecoveryError(f"the workload project did not apply:\n{applied}")
            _measure_each(stack, llm.control, runs, report)
            stack.stop(check=False)
        finally:
            stack.teardown()


def _measure_each(stack: Stack, control: StandinClient, runs: int, report: Report) -> None:
    with stack.client() as api:
        for component in COMPONENTS:
            serving = report.add(f"recovery_{component}_serving", Metric(f"SIGKILL {component}: serving again", None))
            drain = report.add(
                f"recovery_{component}_drain",
                Metric(f"SIGKILL {component}: last acknowledged execution terminal", DRAIN_TARGET),
            )
            stuck = 0
            for _ in range(runs):
                workload = Workload(api, stack.cli(), control, prefix="rb", chunk_delay=0.3)
                up, drained = kill_and_measure(stack, workload, component)
                serving.samples.append(up)
                if drained is None:
                    stuck += 1
                    drained = DRAIN_BOUND
                drain.samples.append(drained)
            if stuck:
                drain.note = f"{stuck} of {runs} runs not drained within {DRAIN_BOUND:g}s (counted as the bound)"
