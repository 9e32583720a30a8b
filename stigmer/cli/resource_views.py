"""Text and JSON views of agents, workflows and executions (``get`` / ``list`` / ``run -o json``)."""

from __future__ import annotations

import json
from typing import Any

from stigmer.api.v1.agent_pb2 import Agent
from stigmer.api.v1.workflow_pb2 import Workflow
from stigmer.cli.execution_view import message_line, phase_name, task_line, tool_call_line
from stigmer.cli.output import message_dict, table, timestamp_text, truncate
from stigmer.cli.runtime_env import MASK

# --- JSON ---------------------------------------------------------------------------------


def resource_dict(resource: Any) -> dict[str, Any]:
    """``MessageToDict(preserving_proto_field_name=True)``, with secret runtime values masked."""
    data = message_dict(resource)
    for value in data.get("spec", {}).get("runtime_env", {}).values():
        if value.get("secret"):
            value["value"] = MASK
    return data


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
    spec = execution.spec
    return spec.agent_name if execution_kind(execution) == "agent" else spec.workflow_name


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
            *_metadata_pairs("Workflow", f"{spec.namespace}/{workflow.metadata.name}", workflow),
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


def describe_execution(execution: Any) -> str:
    spec, status = execution.spec, execution.status
    kind = execution_kind(execution)
    target_id = spec.agent_id if kind == "agent" else spec.workflow_id
    env = ", ".join(f"{key}={MASK if value.secret else value.value}" for key, value in sorted(spec.runtime_env.items()))
    lines = _fields(
        [
            ("Execution", execution.metadata.id),
            (kind.capitalize(), f"{execution_target(execution)} ({target_id})" if target_id else ""),
            ("Phase", phase_name(status.phase)),
            ("Created", timestamp_text(execution.metadata.created_at)),
            ("Started", timestamp_text(status.started_at)),
            ("Completed", timestamp_text(status.completed_at)),
            ("Message", truncate(spec.message, 200)),
            ("Runtime env", env),
            ("Error", status.error),
        ]
    )
    activity = [message_line(m) for m in status.messages]
    activity += [tool_call_line(c) for c in status.tool_calls]
    activity += [line for line in (task_line(t) for t in status.tasks) if line]
    if activity:
        lines += ["Activity:", *(f"  {line}" for line in activity)]
    if status.output_json:
        lines += ["Output:", *_indented(_pretty_json(status.output_json))]
    return "\n".join(lines)


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
