"""Agents and their parts: skills, MCP servers and sub-agents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stigmer.api.v1 import agent_pb2, common_pb2
from stigmer.api.validation import Problem, ValidationError, agent_problems
from stigmer.sdk.checks import check, scoped
from stigmer.sdk.env import EnvVar
from stigmer.sdk.files import project_path
from stigmer.sdk.variables import Var, resolve, resolve_text

Text = str | Var[str]
Transport = Literal["stdio", "http", "docker"]


def _part_problems(prefix: str, spec: agent_pb2.AgentSpec) -> list[Problem]:
    """Problems of one part of an agent, found by checking a minimal agent that holds it."""
    probe = agent_pb2.Agent(
        metadata=common_pb2.Metadata(name="probe"),
        spec=agent_pb2.AgentSpec(instructions="probe", model="probe"),
    )
    probe.spec.MergeFrom(spec)
    return scoped(agent_problems(probe), prefix)


def _string_map(values: Mapping[str, Text], field_name: str, subject: str) -> dict[str, str]:
    resolved = resolve(values)
    if not isinstance(resolved, dict) or not all(isinstance(v, str) for v in resolved.values()):
        raise ValidationError([Problem(field_name, "expected a mapping of strings to strings")], subject)
    return resolved


def _strings(values: Sequence[Text], field_name: str, subject: str) -> list[str]:
    if isinstance(values, str):
        raise ValidationError([Problem(field_name, "expected a list of strings, got a string")], subject)
    return [resolve_text(v, field_name, subject) for v in values]


@dataclass(frozen=True, kw_only=True)
class Skill:
    """Knowledge an agent can draw on: a named Markdown document."""

    name: Text
    markdown: Text
    description: Text = ""

    def __post_init__(self) -> None:
        spec = agent_pb2.AgentSpec(skills=[self.to_proto()])
        check(_part_problems("spec.skills[0]", spec), f"skill {resolve(self.name)!r}")

    @classmethod
    def from_file(cls, path: str | Path, *, name: str | None = None, description: str = "") -> Skill:
        """A skill whose Markdown is a project file; its name defaults to the file name without suffix."""
        resolved = project_path(path)
        return cls(
            name=name if name is not None else resolved.stem,
            markdown=resolved.read_text(encoding="utf-8"),
            description=description,
        )

    def to_proto(self) -> agent_pb2.Skill:
        """The ``stigmer.api.v1.Skill`` message."""
        subject = f"skill {resolve(self.name)!r}"
        return agent_pb2.Skill(
            name=resolve_text(self.name, "name", subject),
            description=resolve_text(self.description, "description", subject),
            markdown=resolve_text(self.markdown, "markdown", subject),
        )


@dataclass(frozen=True, kw_only=True)
class McpServer:
    """An MCP server that gives an agent tools; build one with ``stdio``, ``http`` or ``docker``."""

    name: str
    transport: Transport
    command: str = ""
    args: Sequence[Text] = ()
    env: Mapping[str, Text] = field(default_factory=dict)
    url: Text = ""
    headers: Mapping[str, Text] = field(default_factory=dict)
    timeout_seconds: int = 0
    image: str = ""
    volumes: Sequence[str] = ()
    network: str = ""
    enabled_tools: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("args", "volumes", "enabled_tools"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "env", dict(self.env))
        object.__setattr__(self, "headers", dict(self.headers))
        subject = f"MCP server {self.name!r}"
        if self.transport not in ("stdio", "http", "docker"):
            raise ValidationError(
                [Problem("transport", f"{self.transport!r} is not one of stdio, http, docker")], subject
            )
        spec = agent_pb2.AgentSpec(mcp_servers=[self.to_proto()])
        check(_part_problems("spec.mcp_servers[0]", spec), subject)

    @classmethod
    def stdio(
        cls,
        name: str,
        *,
        command: str,
        args: Sequence[Text] = (),
        env: Mapping[str, Text] | None = None,
        enabled_tools: Sequence[str] = (),
    ) -> McpServer:
        """A server the agent runner starts as a subprocess and talks to over stdin/stdout."""
        return cls(name=name, transport="stdio", command=command, args=args, env=env or {}, enabled_tools=enabled_tools)

    @classmethod
    def http(
        cls,
        name: str,
        *,
        url: Text,
        headers: Mapping[str, Text] | None = None,
        timeout_seconds: int = 0,
        enabled_tools: Sequence[str] = (),
    ) -> McpServer:
        """A server reached over streamable HTTP at ``url``."""
        return cls(
            name=name,
            transport="http",
            url=url,
            headers=headers or {},
            timeout_seconds=timeout_seconds,
            enabled_tools=enabled_tools,
        )

    @classmethod
    def docker(
        cls,
        name: str,
        *,
        image: str,
        args: Sequence[Text] = (),
        env: Mapping[str, Text] | None = None,
        volumes: Sequence[str] = (),
        network: str = "",
        enabled_tools: Sequence[str] = (),
    ) -> McpServer:
        """A server run from a container image, talking over the container's stdin/stdout."""
        return cls(
            name=name,
            transport="docker",
            image=image,
            args=args,
            env=env or {},
            volumes=volumes,
            network=network,
            enabled_tools=enabled_tools,
        )

    def to_proto(self) -> agent_pb2.McpServer:
        """The ``stigmer.api.v1.McpServer`` message."""
        subject = f"MCP server {self.name!r}"
        message = agent_pb2.McpServer(
            name=self.name, enabled_tools=_strings(self.enabled_tools, "enabled_tools", subject)
        )
        if self.transport == "stdio":
            message.stdio.CopyFrom(
                agent_pb2.StdioServer(
                    command=self.command,
                    args=_strings(self.args, "args", subject),
                    env=_string_map(self.env, "env", subject),
                )
            )
        elif self.transport == "http":
            message.http.CopyFrom(
                agent_pb2.HttpServer(
                    url=resolve_text(self.url, "url", subject),
                    headers=_string_map(self.headers, "headers", subject),
                    timeout_seconds=self.timeout_seconds,
                )
            )
        elif self.transport == "docker":
            message.docker.CopyFrom(
                agent_pb2.DockerServer(
                    image=self.image,
                    args=_strings(self.args, "args", subject),
                    env=_string_map(self.env, "env", subject),
                    volumes=_strings(self.volumes, "volumes", subject),
                    network=self.network,
                )
            )
        return message


def _names(items: Sequence[str | Skill | McpServer]) -> tuple[str, ...]:
    return tuple(item if isinstance(item, str) else str(resolve(item.name)) for item in items)


@dataclass(frozen=True, kw_only=True)
class SubAgent:
    """A helper the agent can delegate to: declared inline, or ``SubAgent.ref(...)`` to a stored agent.

    ``skills`` and ``mcp_servers`` name (or are) skills and MCP servers of the parent agent.
    """

    name: Text
    instructions: Text = ""
    model: Text = ""
    description: Text = ""
    skills: Sequence[str | Skill] = ()
    mcp_servers: Sequence[str | McpServer] = ()
    agent_ref: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", _names(self.skills))
        object.__setattr__(self, "mcp_servers", _names(self.mcp_servers))
        problems = _part_problems("spec.sub_agents[0]", agent_pb2.AgentSpec(sub_agents=[self.to_proto()]))
        # references to the parent's skills and servers are checked with the parent
        problems = [p for p in problems if p.field not in ("skill_refs", "mcp_server_refs")]
        check(problems, f"sub-agent {resolve(self.name)!r}")

    @classmethod
    def ref(cls, agent: Agent | str) -> SubAgent:
        """A sub-agent that is another stored agent, by its slug (or an ``Agent`` of the project)."""
        slug = agent.slug if isinstance(agent, Agent) else agent
        return cls(name=slug, agent_ref=slug)

    def to_proto(self) -> agent_pb2.SubAgent:
        """The ``stigmer.api.v1.SubAgent`` message."""
        subject = f"sub-agent {resolve(self.name)!r}"
        return agent_pb2.SubAgent(
            name=resolve_text(self.name, "name", subject),
            description=resolve_text(self.description, "description", subject),
            instructions=resolve_text(self.instructions, "instructions", subject),
            model=resolve_text(self.model, "model", subject),
            skill_refs=_names(self.skills),
            mcp_server_refs=_names(self.mcp_servers),
            agent_ref=self.agent_ref,
        )


@dataclass(frozen=True, kw_only=True)
class Agent:
    """An AI agent: instructions and a model, plus optional skills, MCP servers, sub-agents and env.

    The constructor validates the whole agent and raises ``ValidationError`` naming the bad field.
    Add it to the project with ``ctx.add(agent)``.
    """

    name: Text
    instructions: Text = ""
    model: Text = ""
    description: Text = ""
    icon_url: Text = ""
    skills: Sequence[Skill] = ()
    mcp_servers: Sequence[McpServer] = ()
    sub_agents: Sequence[SubAgent] = ()
    env: Sequence[EnvVar] = ()

    def __post_init__(self) -> None:
        for name, kind in (("skills", Skill), ("mcp_servers", McpServer), ("sub_agents", SubAgent), ("env", EnvVar)):
            items = tuple(getattr(self, name))
            wrong = [i for i, item in enumerate(items) if not isinstance(item, kind)]
            if wrong:
                raise ValidationError(
                    [Problem(f"{name}[{wrong[0]}]", f"expected a {kind.__name__}")], f"agent {resolve(self.name)!r}"
                )
            object.__setattr__(self, name, items)
        self.validate()

    @property
    def slug(self) -> str:
        """The agent's name (its slug), with a context value resolved."""
        return resolve_text(self.name, "name", "agent")

    def validate(self) -> None:
        """Check the agent against the shared rules (``ValidationError`` naming the field)."""
        message = self.to_proto()
        check(agent_problems(message), f"agent {message.metadata.name!r}")

    def to_proto(self) -> agent_pb2.Agent:
        """The ``stigmer.api.v1.Agent`` message (metadata.name set, no ID), context values resolved."""
        subject = f"agent {resolve(self.name)!r}"
        return agent_pb2.Agent(
            metadata=common_pb2.Metadata(name=resolve_text(self.name, "metadata.name", subject)),
            spec=agent_pb2.AgentSpec(
                description=resolve_text(self.description, "spec.description", subject),
                icon_url=resolve_text(self.icon_url, "spec.icon_url", subject),
                instructions=resolve_text(self.instructions, "spec.instructions", subject),
                model=resolve_text(self.model, "spec.model", subject),
                skills=[s.to_proto() for s in self.skills],
                mcp_servers=[m.to_proto() for m in self.mcp_servers],
                sub_agents=[s.to_proto() for s in self.sub_agents],
                env=[e.to_proto() for e in self.env],
            ),
        )
