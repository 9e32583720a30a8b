"""Synthesis: run a project's ``main(ctx)``, validate its resources and hand them to the CLI.

Output contract (read by ``stigmer apply``): when ``STIGMER_SYNTH_DIR`` is set, that folder gets
``agents/<name>.json`` and ``workflows/<namespace>--<name>.json`` (``MessageToJson`` with proto field
names) and, last, ``manifest.json``. A ``ValidationError`` is printed to stderr as
``validation error: <text>`` and the process exits with code 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToJson

from stigmer.api.v1 import agent_pb2, workflow_pb2
from stigmer.api.validation import Problem, ValidationError, slug_problems, validate_agent, validate_workflow
from stigmer.sdk.agent import Agent
from stigmer.sdk.context import Context
from stigmer.sdk.workflow import Workflow

SYNTH_DIR_ENV = "STIGMER_SYNTH_DIR"
MANIFEST = "manifest.json"

Main = Callable[[Context], Any]


@dataclass(frozen=True)
class Synthesis:
    """The validated messages of a project."""

    agents: tuple[agent_pb2.Agent, ...]
    workflows: tuple[workflow_pb2.Workflow, ...]

    def manifest(self) -> dict[str, Any]:
        """The ``manifest.json`` document."""
        from stigmer import __version__

        return {
            "sdk_version": __version__,
            "agents": [a.metadata.name for a in self.agents],
            "workflows": [f"{w.spec.namespace}/{w.metadata.name}" for w in self.workflows],
        }


def _is_slug(value: str) -> bool:
    return not slug_problems("", value)


def _is_workflow_ref(value: str) -> bool:
    return all(_is_slug(part) for part in value.split("/", 1))


def _unadded(ctx: Context, workflow: Workflow) -> list[Problem]:
    """Agents and workflows that tasks of ``workflow`` use by object but the project never added."""
    agents = {a.slug for a in ctx.agents}
    workflows = {w.ref for w in ctx.workflows}
    problems: list[Problem] = []
    for task in workflow.walk():
        for used in task.uses:
            if isinstance(used, Agent) and used.slug not in agents:
                what = f"calls agent {used.slug!r}"
            elif isinstance(used, Workflow) and used.ref not in workflows:
                what = f"runs workflow {used.ref!r}"
            else:
                continue
            problems.append(Problem("spec.tasks", f"task {task.name!r} {what}, which is not added (ctx.add)"))
    return problems


def collect(ctx: Context) -> Synthesis:
    """Validate every resource of ``ctx`` and return its messages.

    ``agent_call`` references resolve against the project's agents; slugs of agents outside the
    project are checked for shape only (the server resolves them at apply). Same for ``run``.
    """
    agent_names = {a.slug for a in ctx.agents}
    agents = []
    for agent in ctx.agents:
        message = agent.to_proto()
        validate_agent(message, agent_exists=lambda ref: ref in agent_names or _is_slug(ref))
        agents.append(message)
    workflow_refs = {w.ref for w in ctx.workflows} | {w.slug for w in ctx.workflows}
    workflows = []
    for workflow in ctx.workflows:
        proto = workflow.to_proto()
        problems = _unadded(ctx, workflow)
        if problems:
            raise ValidationError(problems, f"workflow {proto.metadata.name!r}")
        validate_workflow(
            proto,
            agent_exists=lambda ref: ref in agent_names or _is_slug(ref),
            workflow_exists=lambda ref: ref in workflow_refs or _is_workflow_ref(ref),
        )
        workflows.append(proto)
    return Synthesis(agents=tuple(agents), workflows=tuple(workflows))


def build(main: Main) -> Synthesis:
    """Run ``main`` with a fresh ``Context`` and return the validated result (``ValidationError`` if not)."""
    ctx = Context()
    main(ctx)
    return collect(ctx)


def _to_json(message: Any) -> str:
    return MessageToJson(message, preserving_proto_field_name=True) + "\n"


def write_output(synthesis: Synthesis, directory: Path) -> None:
    """Write the synthesis files into ``directory``; ``manifest.json`` comes last, atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    for agent in synthesis.agents:
        path = directory / "agents" / f"{agent.metadata.name}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(_to_json(agent), encoding="utf-8")
    for workflow in synthesis.workflows:
        path = directory / "workflows" / f"{workflow.spec.namespace}--{workflow.metadata.name}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(_to_json(workflow), encoding="utf-8")
    partial = directory / (MANIFEST + ".partial")
    partial.write_text(json.dumps(synthesis.manifest(), indent=2) + "\n", encoding="utf-8")
    partial.replace(directory / MANIFEST)


def summary_lines(synthesis: Synthesis) -> list[str]:
    """One line per resource, for a run without ``STIGMER_SYNTH_DIR``."""
    lines = []
    for agent in synthesis.agents:
        spec = agent.spec
        parts = [f"model {spec.model}"]
        for items, what in (
            (spec.skills, "skill(s)"),
            (spec.mcp_servers, "MCP server(s)"),
            (spec.sub_agents, "sub-agent(s)"),
        ):
            if items:
                parts.append(f"{len(items)} {what}")
        lines.append(f"agent {agent.metadata.name}: {', '.join(parts)}")
    for workflow in synthesis.workflows:
        w = workflow.spec
        lines.append(f"workflow {w.namespace}/{workflow.metadata.name} {w.version}: {len(w.tasks)} task(s)")
    return lines


def synthesize(main: Main) -> Synthesis:
    """Run a project's entry point: ``if __name__ == "__main__": stigmer.synthesize(main)``.

    Writes the synthesis output into ``$STIGMER_SYNTH_DIR`` when it is set, otherwise prints a
    summary line per resource. On a ``ValidationError`` prints ``validation error: ...`` to stderr
    and exits with code 1.
    """
    try:
        synthesis = build(main)
    except ValidationError as exc:
        print(f"validation error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    target = os.environ.get(SYNTH_DIR_ENV)
    if target:
        write_output(synthesis, Path(target))
    else:
        for line in summary_lines(synthesis):
            print(line)
    return synthesis
