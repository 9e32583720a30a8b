"""Text and JSON views of agents, workflows and executions (``get`` / ``list`` / ``run -o json``)."""

from __future__ import annotations

import json
from typing import Any

from stigmer.api.v1.agent_pb2 import Agent
from stigmer.api.v1.workflow_pb2 import Workflow
from stigmer.cli.execution_view import (
    dispatch_reason,
    duration_text,
    error_text,
    message_line,
    phase_name,
    task_lines,
    tool_call_line,
)
from stigmer.cli.output import message_dict, table, timestamp_text, truncate
from stigmer.cli.redaction import declared_secrets, mask_document
from stigmer.cli.runtime_env import MASK
from stigmer.cli.targets import display_name

# --- JSON ---------------------------------------------------------------------------------


def resource_dict(resource: Any) -> dict[str, Any]:
    """The resource as ``json_values.message_to_dict`` shows it, with secret values masked: runtime
    values marked secret or declared secret by the agent / workflow, and defaults of secret env vars."""
    return mask_document(message_dict(resource), declared_secrets(resource))


# --- lists --------------------------------------------------------------------------------


def agents_table(agents: list[Agent]) -> str:
    rows = [(a.metadata.name, a.metadata.id, a.spec.model, timestamp_text(a.metadata.updated_at)) for a in agents]
    return table(("NAME", "ID", "MODEL", "UPDATED"), rows)


def workflows_table(workflows: list[Workflow]) -> str:
    rows = [
        (
            w.spec.namespace,
            w.metadata.name,
            w.spec.version,
            len(w.spec.tasks),
            w.metadata.id,
            timestamp_text(w.metadata.updated_at),
        )
        for w in workflows
    ]
    return table(("NAMESPACE", "NAME", "VERSION", "TASKS", "ID", "UPDATED"), rows)


def executions_table(executions: list[Any]) -> str:
    rows = [
        (
            e.metadata.id,
            execution_kind(e),
            execution_target(e),
            phase_name(e.status.phase),
            len(e.status.messages),
            timestamp_text(e.metadata.created_at),
        )
        for e in executions
    ]
    return table(("ID", "KIND", "TARGET", "PHASE", "MESSAGES", "CREATED"), rows)


def execution_kind(execution: Any) -> str:
    return "agent" if execution.DESCRIPTOR.name == "AgentExecution" else "workflow"


def execution_target(execution: Any) -> str:
    """The agent's name, or the workflow's ``namespace/name``."""
    spec = execution.spec
    if execution_kind(execution) == "agent":
        return spec.agent_name
    return f"{spec.workflow_namespace}/{spec.workflow_name}" if spec.workflow_namespace else spec.workflow_name


# --- details ------------------------------------------------------------------------------


def _fields(pairs: list[tuple[str, Any]]) -> list[str]:
    shown = [(label, value) for label, value in pairs if value not in (None, "", [], 0)]
    width = max(len(label) for label, _ in shown) + 2
    return [f"{(label + ':').ljust(width)}{value}" for label, value in shown]


def _metadata_pairs(kind: str, name: str, resource: Any) -> list[tuple[str, Any]]:
    meta = resource.metadata
    return [
        (kind, name),
        ("ID", meta.id),
        ("Generation", meta.generation),
        ("Created", timestamp_text(meta.created_at)),
        ("Updated", timestamp_text(meta.updated_at)),
    ]


def _env_text(env: Any) -> str:
    parts = []
    for var in env:
        flags = [flag for flag, on in (("secret", var.secret), ("required", var.required)) if on]
        parts.append(f"{var.name} ({', '.join(flags)})" if flags else var.name)
    return ", ".join(parts)


def _indented(text: str) -> list[str]:
    return [f"  {line}" for line in text.splitlines()] or ["  -"]


def describe_agent(agent: Agent) -> str:
    spec = agent.spec
    servers = ", ".join(f"{s.name} ({s.WhichOneof('transport')})" for s in spec.mcp_servers)
    subs = ", ".join(f"{s.agent_ref} (ref)" if s.agent_ref else s.name for s in spec.sub_agents)
    lines = _fields(
        [
            *_metadata_pairs("Agent", agent.metadata.name, agent),
            ("Model", spec.model),
            ("Description", spec.description),
            ("Icon URL", spec.icon_url),
            ("Skills", ", ".join(s.name for s in spec.skills)),
            ("MCP servers", servers),
            ("Sub-agents", subs),
            ("Env", _env_text(spec.env)),
        ]
    )
    return "\n".join([*lines, "Instructions:", *_indented(spec.instructions)])


def describe_workflow(workflow: Workflow) -> str:
    spec = workflow.spec
    lines = _fields(
        [
            *_metadata_pairs("Workflow", display_name(workflow), workflow),
            ("Version", spec.version),
            ("Description", spec.description),
            ("Env", _env_text(spec.env)),
        ]
    )
    lines.append("Tasks:")
    for index, task in enumerate(spec.tasks, start=1):
        flow = f" → {task.then}" if task.then else ""
        condition = f" if {task.condition}" if task.condition else ""
        lines.append(f"  {index}. {task.name} ({task.kind}){condition}{flow}")
    return "\n".join(lines)


def _dispatch_text(status: Any) -> str:
    dispatch = status.dispatch
    if not status.HasField("dispatch"):
        return ""
    if dispatch.waiting:
        reason = f": {dispatch_reason(dispatch.reason)}" if dispatch.reason else ""
        attempts = f" ({dispatch.attempts} attempt(s))" if dispatch.attempts else ""
        return f"waiting for the engine{reason}{attempts}"
    queue = f" on task queue {dispatch.task_queue}" if dispatch.task_queue else ""
    when = f" at {timestamp_text(dispatch.dispatched_at)}" if dispatch.HasField("dispatched_at") else ""
    return f"dispatched{queue}{when}"


def _error_details(status: Any) -> str:
    info = status.error_info
    if not status.HasField("error_info"):
        return ""
    parts = [
        f"type {info.type}" if info.type else "",
        f"status {info.status}" if info.status else "",
        f"at task {info.instance}" if info.instance else "",
    ]
    return ", ".join(part for part in parts if part)


def describe_execution(execution: Any) -> str:
    """The text of ``get execution``: what ran, its phase and dispatch, its activity, tasks and output."""
    spec, status = execution.spec, execution.status
    kind = execution_kind(execution)
    target_id = spec.agent_id if kind == "agent" else spec.workflow_id
    secret_names = declared_secrets(execution)
    env = ", ".join(
        f"{key}={MASK if value.secret or key in secret_names else value.value}"
        for key, value in sorted(spec.runtime_env.items())
    )
    failed = status.error or status.HasField("error_info")
    lines = _fields(
        [
            ("Execution", execution.metadata.id),
            (kind.capitalize(), f"{execution_target(execution)} ({target_id})" if target_id else ""),
            ("Phase", phase_name(status.phase) + (" (cancel requested)" if status.cancel_requested else "")),
            ("Dispatch", _dispatch_text(status)),
            ("Created", timestamp_text(execution.metadata.created_at)),
            ("Started", timestamp_text(status.started_at)),
            ("Completed", timestamp_text(status.completed_at)),
            ("Duration", duration_text(execution) if status.HasField("completed_at") else ""),
            ("Message", truncate(spec.message, 200)),
            ("Runtime env", env),
            ("Error", error_text(status) if failed else ""),
            ("Error info", _error_details(status)),
        ]
    )
    activity = [message_line(m) for m in status.messages]
    activity += [tool_call_line(c) for c in status.tool_calls]
    if activity:
        lines += ["Activity:", *(f"  {line}" for line in activity)]
    tasks = [line for task in status.tasks for line in task_lines(task)]
    if tasks:
        lines += ["Tasks:", *(f"  {line}" for line in tasks)]
    if status.output_json:
        lines += ["Output:", *_indented(_pretty_json(status.output_json))]
    return "\n".join(lines)


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
