"""What a workload run left, counted: the facts a resilience scenario asserts on.

``tally`` reads a ``Workload``'s operations and the final ``Observation`` (and Temporal's own view of
the executions) and counts, Jepsen-style:

- ok: acknowledged jobs whose execution and every child ended COMPLETED;
- failed / cancelled: acknowledged jobs that ended so (with the reason);
- lost: acknowledged but missing from the store, or not terminal within the bound (stuck);
- duplicated: a second execution for one create, a second ``agent_call`` or ``run`` child, one
  logical POST delivered under two Idempotency-Keys, an MCP or workspace tool call executed twice;
- redelivered: the same Idempotency-Key delivered twice (at-least-once: reported, not a failure);
- unexpected: an execution or a POST of this workload that no operation asked for;
- indeterminate: creates the client got no answer to;
- disagreements: the store and Temporal disagree (a terminal execution whose workflow still runs, a
  COMPLETED one whose workflow failed, two workflow runs for one execution);
- restarted: agent executions whose model saw the first turn twice after it had progressed (an
  agent re-run from scratch).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from support.executions import TERMINAL
from support.workload import POSTS, Observation, Operation, Workload, execution_phase

COUNTS = ("ok", "failed", "cancelled", "lost", "duplicated", "redelivered", "unexpected", "indeterminate")
# Temporal's closed statuses each store phase may pair with. A workflow that reports its execution
# FAILED or CANCELLED may itself complete normally (it ended the execution, then returned); a COMPLETED
# execution's workflow must have completed.
AGREES = {
    "COMPLETED": {"COMPLETED"},
    "FAILED": {"COMPLETED", "FAILED", "TERMINATED", "TIMED_OUT"},
    "CANCELLED": {"COMPLETED", "CANCELED", "TERMINATED"},
}


@dataclass
class Tally:
    """The counts, and one line of detail per problem found."""

    counts: Counter[str] = field(default_factory=Counter)
    disagreements: int = 0
    restarted: int = 0
    details: list[str] = field(default_factory=list)

    def add(self, what: str, detail: str = "") -> None:
        self.counts[what] += 1
        if detail:
            self.details.append(f"{what}: {detail}")

    def disagree(self, detail: str) -> None:
        self.disagreements += 1
        self.details.append(f"disagreement: {detail}")

    def to_json(self) -> dict[str, Any]:
        return {
            **{name: self.counts[name] for name in COUNTS},
            "disagreements": self.disagreements,
            "restarted": self.restarted,
            "details": self.details,
        }

    def clean(self) -> bool:
        """Nothing lost, duplicated, unexpected, and store and Temporal agree."""
        return not (self.counts["lost"] or self.counts["duplicated"] or self.counts["unexpected"] or self.disagreements)

    def summary(self) -> str:
        shown = " ".join(f"{name}={self.counts[name]}" for name in COUNTS)
        return f"{shown} disagreements={self.disagreements} restarted={self.restarted}"


def tally(workload: Workload, observation: Observation, temporal: Mapping[str, list[str]] | None = None) -> Tally:
    """Count what happened to every operation of ``workload`` (see the module docstring).

    ``temporal`` maps workflow IDs to the statuses of their runs (``temporal_runs``); None skips the
    store/Temporal cross-check.
    """
    result = Tally()
    ops = workload.operations
    ours = {op.token: op for op in ops}
    for op in ops:
        _tally_operation(result, op, observation)
    roots = [e for e in observation.executions.values() if not e.get("spec", {}).get("parent_execution_id")]
    by_token: dict[str, list[str]] = defaultdict(list)
    for execution in roots:
        token = _token_of(execution, workload.prefix)
        if token is not None:
            by_token[token].append(execution["metadata"]["id"])
    for token, ids in by_token.items():
        if token not in ours:
            result.add("unexpected", f"executions {ids} for token {token}, which no operation created")
        elif len(ids) > 1:
            result.add("duplicated", f"{len(ids)} executions for the one create of {token}: {ids}")
    _tally_posts(result, observation, set(ours))
    _tally_mcp(result, observation)
    _tally_restarts(result, observation)
    if temporal is not None:
        _cross_check(result, workload, observation, temporal)
    return result


def _token_of(execution: Mapping[str, Any], prefix: str) -> str | None:
    spec = execution.get("spec", {})
    text = json.dumps(spec.get("input") or spec.get("input_json") or "") + str(spec.get("message", ""))
    for word in text.replace('"', " ").split():
        if word.startswith(f"{prefix}-"):
            return word.strip(",}{\\")
    return None


def _tally_operation(result: Tally, op: Operation, observation: Observation) -> None:
    if op.indeterminate is not None:
        result.add("indeterminate", f"{op.kind} {op.token}: {op.indeterminate}")
        return
    if op.execution_id is None:
        return  # rejected: the client was told nothing was created
    tree = observation.tree(op.execution_id)
    if not tree:
        result.add("lost", f"{op.kind} {op.token}: acknowledged {op.execution_id} is not in the store")
        return
    stuck = [f"{e['metadata']['id']} {execution_phase(e)}" for e in tree if execution_phase(e) not in TERMINAL]
    if stuck:
        result.add("lost", f"{op.kind} {op.token}: not terminal within the bound: {stuck}")
        return
    root = tree[0]
    if op.kind == "workflow":
        children = observation.children(op.execution_id)
        agents = [c for c in children if c["metadata"]["id"].startswith("aex-")]
        flows = [c for c in children if c["metadata"]["id"].startswith("wex-")]
        if len(agents) > 1 or len(flows) > 1:
            ids = [c["metadata"]["id"] for c in children]
            result.add(
                "duplicated",
                f"workflow {op.token} started {len(agents)} agent and {len(flows)} workflow children: {ids}",
            )
    for execution in tree:
        writes = [c for c in execution.get("status", {}).get("tool_calls", []) if c.get("name") == "write_file"]
        if len(writes) > 1:
            result.add("duplicated", f"{execution['metadata']['id']} ran write_file {len(writes)} times")
    current = execution_phase(root)
    if current == "COMPLETED" and all(execution_phase(e) == "COMPLETED" for e in tree):
        result.add("ok")
    elif current == "CANCELLED":
        result.add("cancelled", f"{op.kind} {op.token}")
    else:
        reason = root.get("status", {}).get("error", "") or [execution_phase(e) for e in tree]
        result.add("failed", f"{op.kind} {op.token} {op.execution_id} {current}: {reason}")


def _tally_posts(result: Tally, observation: Observation, tokens: set[str]) -> None:
    keys: dict[tuple[str, str, str], list[str | None]] = defaultdict(list)
    for post in observation.posts:
        body = post.body if isinstance(post.body, dict) else {}
        token = str(body.get("token", ""))
        if token not in tokens or post.path not in POSTS:
            result.add("unexpected", f"POST {post.path} {post.body!r} that no job makes")
            continue
        keys[(post.path, token, str(body.get("n", "")))].append(post.header("Idempotency-Key"))
    for (path, token, n), seen in keys.items():
        distinct = set(seen)
        if len(distinct) > 1 or None in distinct:
            result.add("duplicated", f"POST {path} of {token} {n} under keys {sorted(map(str, distinct))}")
        elif len(seen) > 1:
            result.add("redelivered", f"POST {path} of {token} {n} delivered {len(seen)} times with one key")


def _tally_mcp(result: Tally, observation: Observation) -> None:
    for (tool, query), count in Counter((name, str(args.get("query"))) for name, args in observation.mcp_calls).items():
        if count > 1:
            result.add("duplicated", f"MCP {tool}({query}) executed {count} times")


def _tally_restarts(result: Tally, observation: Observation) -> None:
    # a first turn is repeated legitimately while it never got an answer (an LLM error is retried); once the
    # model's tool calls came back for an execution, seeing its first turn again means it started over
    progressed: set[str] = set()
    restarted: Counter[str] = Counter()
    for chat in observation.chats:
        user = chat.last_user_message
        if chat.messages and chat.messages[-1].get("role") == "user":
            if user in progressed:
                restarted[user] += 1
        else:
            progressed.add(user)
    for user, count in restarted.items():
        result.restarted += 1
        result.details.append(f"restarted: the first turn of {user!r} came again {count} time(s) after progress")


def _cross_check(
    result: Tally, workload: Workload, observation: Observation, temporal: Mapping[str, list[str]]
) -> None:
    for op in workload.acknowledged:
        assert op.execution_id is not None
        for execution in observation.tree(op.execution_id):
            exec_id, current = execution["metadata"]["id"], execution_phase(execution)
            runs = temporal.get(exec_id, [])
            if len(runs) > 1:
                result.add("duplicated", f"{exec_id} has {len(runs)} Temporal workflow runs: {runs}")
            if current not in TERMINAL:
                if runs and runs[-1] != "RUNNING":
                    result.disagree(f"{exec_id} is {current} in the store, its workflow is {runs[-1]} in Temporal")
                continue
            if not runs:
                dispatched = execution.get("status", {}).get("dispatch", {}).get("dispatched_at")
                if dispatched:
                    result.disagree(f"{exec_id} is {current} and was dispatched, but Temporal has no workflow")
                continue
            if runs[-1] not in AGREES[current]:
                result.disagree(f"{exec_id} is {current} in the store, its workflow is {runs[-1]} in Temporal")


def temporal_runs(address: str, ids: Iterable[str], timeout: float = 30.0) -> dict[str, list[str]]:
    """Workflow ID -> the statuses (``COMPLETED``, ``RUNNING`` ...) of its runs, oldest first."""
    wanted = set(ids)

    async def read() -> dict[str, list[str]]:
        from temporalio.client import Client

        client = await asyncio.wait_for(Client.connect(address), timeout)
        found: dict[str, list[tuple[Any, str]]] = defaultdict(list)
        async for wf in client.list_workflows():
            if wf.id in wanted:
                status = wf.status.name if wf.status is not None else "UNKNOWN"
                found[wf.id].append((wf.start_time, status))
        return {key: [status for _, status in sorted(runs, key=lambda r: r[0])] for key, runs in found.items()}

    return asyncio.run(asyncio.wait_for(read(), timeout * 2))
